import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { Logger } from '../observability/logger.js';
import { AppError, ERROR_CODES, UNEXPECTED_ERROR_MESSAGE } from '../security/errors.js';

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

/** Lists the errors an error wraps, outermost first. */
function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth += 1) {
    chain.push(current);
    current = current instanceof GraphQLError ? current.originalError : undefined;
  }
  return chain;
}

/**
 * Errors about the client's document or variables (syntax, unknown fields, wrong variable types, query
 * limits), which graphql-js and the HTTP layer raise before execution. They have no path, and whatever
 * they wrap is again such an error, so their text describes only what the client sent.
 */
function isClientRequestError(chain: unknown[]): chain is GraphQLError[] {
  return chain.every((link) => link instanceof GraphQLError && !link.path && link.extensions.code !== 'INTERNAL_SERVER_ERROR');
}

/** graphql-js appends ` Did you mean "x"?` (or `… the enum value "X"?`) to some validation messages. */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

/** Removes graphql-js's "Did you mean" hints from an error message. */
export function stripSuggestions(message: string): string {
  return message.replace(SUGGESTION, '');
}

export interface ErrorMaskerOptions {
  logger: Logger;
  /** Removes "Did you mean" hints, which reveal field and type names when introspection is off. */
  hideSuggestions: boolean;
  /** Called once for each error a client receives, with its code; metrics count errors by code here. */
  onMasked?: (code: string) => void;
}

export type MaskError = (error: unknown, requestId?: string) => GraphQLError;

/**
 * Creates the single function that turns errors into what a client receives. Catalogued errors keep
 * their code and safe message. Errors in the client's own document or variables keep their message
 * with code BAD_USER_INPUT. Everything else becomes "Unexpected error." with a request id, and is
 * logged once with that id, however many times and wrappers it passes through.
 */
export function createErrorMasker(options: ErrorMaskerOptions): MaskError {
  const { logger } = options;
  const masked = new WeakMap<object, GraphQLError>();
  const produced = new WeakSet<GraphQLError>();
  const logged = new WeakMap<object, string>();

  return function maskError(error: unknown, requestId?: string): GraphQLError {
    if (error instanceof GraphQLError && produced.has(error)) return error;
    if (typeof error === 'object' && error !== null) {
      const earlier = masked.get(error);
      if (earlier) return earlier;
    }

    const chain = errorChain(error);
    // Transports wrap errors that were already masked (graphql-ws does so for a failed stream).
    const alreadyMasked = chain.find((link): link is GraphQLError => link instanceof GraphQLError && produced.has(link));
    const appError = chain.find((link): link is AppError => link instanceof AppError);

    let result: GraphQLError;
    if (alreadyMasked) {
      result = alreadyMasked;
    } else if (appError) {
      result = appErrorToGraphQL(appError, error instanceof GraphQLError ? error : undefined);
    } else if (isClientRequestError(chain)) {
      const outer = chain[0] as GraphQLError;
      const message = options.hideSuggestions ? stripSuggestions(outer.message) : outer.message;
      // Yoga puts a parser's own error under originalError, which may quote internals, so it is dropped.
      const { http, originalError: _originalError, ...extensions } = outer.extensions;
      // A catalogue code set by our own plugins stays; library codes such as GRAPHQL_PARSE_FAILED become
      // BAD_USER_INPUT.
      const code = typeof outer.extensions.code === 'string' && outer.extensions.code in ERROR_CODES ? outer.extensions.code : 'BAD_USER_INPUT';
      result = new GraphQLError(message, {
        nodes: outer.nodes,
        source: outer.source,
        positions: outer.positions,
        // Without a status of our own, Yoga picks it from the Accept header, as the GraphQL-over-HTTP spec
        // asks (200 for application/json, 400 for application/graphql-response+json).
        extensions: { ...extensions, code, ...(http ? { http } : {}) },
      });
    } else {
      const original = chain.at(-1);
      const key = typeof original === 'object' && original !== null ? original : undefined;
      let id = key ? logged.get(key) : undefined;
      if (!id) {
        id = requestId ?? randomUUID();
        logger.error({ event: 'graphql.unexpected_error', requestId: id, err: original }, 'Unexpected error');
        if (key) logged.set(key, id);
      }
      result = new GraphQLError(UNEXPECTED_ERROR_MESSAGE, {
        path: error instanceof GraphQLError ? error.path : undefined,
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: id, http: { status: 500 } },
      });
    }

    produced.add(result);
    if (typeof error === 'object' && error !== null) masked.set(error, result);
    if (!alreadyMasked) options.onMasked?.(String(result.extensions.code));
    return result;
  };
}
