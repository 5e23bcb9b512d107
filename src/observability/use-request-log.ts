import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Maximum length of a client-chosen operation name in a log line, in characters. */
const MAX_OPERATION_NAME_CHARS = 100;

/** Cuts a client-chosen operation name to a length fit for a log line. */
export function capOperationName(name: string): string {
  return name.length > MAX_OPERATION_NAME_CHARS ? `${name.slice(0, MAX_OPERATION_NAME_CHARS)}…` : name;
}

/** Fields of an HTTP request that the GraphQL layer fills in for the request's log line. */
export interface RequestLogFields {
  /** The authenticated caller's user id. */
  userId?: string;
  operationType?: string;
  operationName?: string;
}

/**
 * Copies the caller and the operation's type and name into the request's `requestLog` server-context
 * field, when there is one. That field is an object shared by reference, because the Node adapter
 * passes Yoga a copy of the server context, so fields set on the copy never reach the request handler.
 * It must come after useHttpAuthentication, which sets the caller in onParams.
 */
export function useRequestLog(): Plugin {
  const record = (context: unknown, document: Parameters<typeof getOperationAST>[0], operationName: string | null | undefined) => {
    const fields = (context as { requestLog?: RequestLogFields } | undefined)?.requestLog;
    if (!fields) return;
    const operation = getOperationAST(document, operationName);
    fields.operationType = operation?.operation ?? 'unknown';
    const name = operation?.name?.value;
    if (name) fields.operationName = capOperationName(name);
  };
  return {
    onParams({ params, context }) {
      const server = context as { requestLog?: RequestLogFields; caller?: { userId: string } };
      if (!server.requestLog) return;
      server.requestLog.userId = server.caller?.userId;
      // Replaced by the name of the operation that runs, once the document is valid.
      if (typeof params.operationName === 'string' && params.operationName) server.requestLog.operationName = capOperationName(params.operationName);
    },
    onExecute({ args }) {
      record(args.contextValue, args.document, args.operationName);
    },
    onSubscribe({ args }) {
      record(args.contextValue, args.document, args.operationName);
    },
  };
}
