import type { IncomingMessage, Server } from 'node:http';
import type { ServerOptions } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import type { Authenticator } from '../auth/authenticator.js';
import type { Caller } from '../auth/caller.js';
import type { Logger } from '../observability/logger.js';
import { newRequestId, withRequestId } from '../observability/request-id.js';
import type { ClientIpResolver } from '../security/client-ip.js';
import { isAppError } from '../security/errors.js';
import type { Yoga } from './yoga.js';

/** Close code for a connection_init without valid credentials, as graphql-ws defines it. */
const CLOSE_UNAUTHORIZED = 4401;
/**
 * Close code for a client address with too many failed authentication attempts. graphql-ws 6 names it
 * TooManyInitialisationRequests, and its client does not reconnect after it.
 */
const CLOSE_TOO_MANY_REQUESTS = 4429;

type SocketExtra = {
  socket: WebSocket;
  request: IncomingMessage;
  caller?: Caller;
};

type OperationResult = ReturnType<NonNullable<ServerOptions['execute']>>;

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

export interface WebSocketOptions {
  server: Server;
  yoga: Yoga;
  authenticator: Authenticator;
  logger: Logger;
  resolveClientIp: ClientIpResolver;
}

/**
 * Serves graphql-ws on the HTTP server's `/graphql` path. The credential comes in the connection_init
 * payload as `{ "authorization": "Bearer ..." }`; without a valid one the socket is closed with 4401
 * before any operation runs, or with 4429 when the client address has too many failed attempts.
 * Operations then run through the same Yoga plugins as HTTP.
 */
export function attachWebSocketServer(options: WebSocketOptions) {
  const { yoga, authenticator, logger } = options;
  const wss = new WebSocketServer({ server: options.server, path: '/graphql' });

  const disposable = useServer<Record<string, unknown> | undefined, SocketExtra>(
    {
      execute: (args) => {
        const context = args.contextValue as { requestId?: string };
        return withRequestId(context.requestId ?? newRequestId(), () => (args.rootValue as EnvelopedRoot).execute(args));
      },
      subscribe: (args) => {
        const context = args.contextValue as { requestId?: string };
        return withRequestId(context.requestId ?? newRequestId(), () => (args.rootValue as EnvelopedRoot).subscribe(args));
      },
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.authorization;
        try {
          ctx.extra.caller = await authenticator.authenticate(typeof authorization === 'string' ? authorization : undefined, options.resolveClientIp(ctx.extra.request));
          return true;
        } catch (error) {
          if (isAppError(error) && error.code === 'RATE_LIMITED') ctx.extra.socket.close(CLOSE_TOO_MANY_REQUESTS, 'Too many failed authentication attempts');
          else ctx.extra.socket.close(CLOSE_UNAUTHORIZED, 'Unauthorized');
          return false;
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        const caller = ctx.extra.caller;
        if (!caller) return [];
        const requestId = newRequestId();
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          request: undefined,
          params: payload,
          websocket: { caller, requestId },
        });
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } as EnvelopedRoot,
        };
      },
    },
    wss,
  );

  wss.on('error', (error) => logger.error({ event: 'websocket.error', err: error }, 'WebSocket server error'));

  return {
    async close() {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
