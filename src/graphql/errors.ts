import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { Logger } from '../observability/logger.js';
import { AppError, UNEXPECTED_ERROR_MESSAGE } from '../security/errors.js';

declare module 'graphql' {
  interface GraphQLErrorExtensions {
    code?: string;
    requestId?: string;
    retryAfter?: number;
  }
}

/** Builds the GraphQL error a client sees for a catalogued error. */
export function appErrorToGraphQL(error: AppError, source?: GraphQLError): GraphQLError {
  const headers: Record<string, string> = {};
  if (typeof error.extensions.retryAfter === 'number') headers['retry-after'] = String(error.extensions.retryAfter);
  return new GraphQLError(error.message, {
    nodes: source?.nodes,
    source: source?.source,
    positions: source?.positions,
    path: source?.path,
    extensions: {
      ...error.extensions,
      code: error.code,
      http: { status: error.httpStatus, ...(Object.keys(headers).length > 0 ? { headers } : {}) },
    },
  });
}

/**
 * Errors about the client's document or variables (syntax, unknown fields, wrong variable types), which
 * graphql-js raises before execution: they have no path and wrap no other error, and are safe to show.
 */
function isDocumentError(error: unknown): error is GraphQLError {
  return error instanceof GraphQLError && !error.path && !error.originalError;
}

function findAppError(error: unknown): AppError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    if (current instanceof AppError) return current;
    current = current instanceof GraphQLError ? current.originalError : undefined;
  }
  return undefined;
}

/**
 * The single place where errors become what a client sees. Catalogued errors keep their code and safe
 * message; GraphQL document errors keep their message with code BAD_USER_INPUT; everything else becomes
 * "Unexpected error." with a request id, and is logged once with that id.
 */
export function createErrorMasker(logger: Logger, currentRequestId: () => string | undefined, onMasked: (code: string) => void = () => {}) {
  const seen = new WeakMap<object, GraphQLError>();

  return function maskError(error: unknown): GraphQLError {
    if (typeof error === 'object' && error !== null) {
      const earlier = seen.get(error);
      if (earlier) return earlier;
    }

    let masked: GraphQLError;
    const appError = findAppError(error);
    if (appError) {
      masked = appErrorToGraphQL(appError, error instanceof GraphQLError ? error : undefined);
    } else if (isDocumentError(error)) {
      masked = new GraphQLError(error.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        extensions: { ...error.extensions, code: 'BAD_USER_INPUT', http: { status: error.extensions.http?.status ?? 400, ...(error.extensions.http?.headers ? { headers: error.extensions.http.headers } : {}) } },
      });
    } else {
      const requestId = currentRequestId() ?? randomUUID();
      const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
      logger.error({ event: 'graphql.unexpected_error', requestId, err: original }, 'Unexpected error');
      masked = new GraphQLError(UNEXPECTED_ERROR_MESSAGE, {
        path: error instanceof GraphQLError ? error.path : undefined,
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId, http: { status: 500 } },
      });
    }

    if (typeof error === 'object' && error !== null) seen.set(error, masked);
    onMasked(String(masked.extensions.code));
    return masked;
  };
}
