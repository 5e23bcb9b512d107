import type { IncomingMessage, Server } from 'node:http';
import { CloseCode, handleProtocols, makeServer, MessageType, type Context, type ServerOptions } from 'graphql-ws';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { getOperationAST, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Authenticator } from '../auth/authenticator.js';
import type { Caller } from '../auth/caller.js';
import type { CredentialEnd, CredentialLifetime } from '../auth/credential-lifetime.js';
import type { Logger } from '../observability/logger.js';
import { newRequestId } from '../observability/request-id.js';
import { capOperationName } from '../observability/use-request-log.js';
import type { ClientIpResolver } from '../security/client-ip.js';
import { AppError } from '../security/errors.js';
import type { MaskError } from './errors.js';
import { credentialEndedError } from './use-subscription-guard.js';
import type { Yoga } from './yoga.js';
import { OpenCounts } from '../security/open-counts.js';

/** Interval of the keep-alive ping. A socket that sends no pong within another interval is dropped. */
const KEEP_ALIVE_MS = 12_000;

/** How long a socket whose credential ended waits for its streams to send their last result. */
const CREDENTIAL_END_GRACE_MS = 1_000;

/** Message types a client may send in the graphql-transport-ws protocol. */
const CLIENT_MESSAGE_TYPES = new Set<string>([MessageType.ConnectionInit, MessageType.Ping, MessageType.Pong, MessageType.Subscribe, MessageType.Complete]);

type SocketExtra = {
  socket: WebSocket;
  request: IncomingMessage;
  /** Set once the connection_init payload authenticated. */
  caller?: Caller;
  /** Set when the credential expired or was revoked while the socket was open. */
  ended?: CredentialEnd;
  stopWatching?: () => void;
  /** Operations started on this socket, by graphql-ws operation id, for their end log line. */
  operations?: Map<string, { requestId: string; startedAt: number }>;
  /** Gives back this socket's place in its user's connection limit when it closes. */
  releaseConnection?: () => void;
};

type SocketContext = Context<Record<string, unknown> | undefined, SocketExtra>;

type OperationResult = ReturnType<NonNullable<ServerOptions['execute']>>;

interface EnvelopedRoot {
  requestId: string;
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

export interface WebSocketOptions {
  server: Server;
  yoga: Yoga;
  authenticator: Authenticator;
  lifetime: CredentialLifetime;
  logger: Logger;
  maskError: MaskError;
  /** Browser origins allowed to open a socket; requests without an Origin header (non-browsers) pass. */
  allowedOrigins: readonly string[];
  maxPayloadBytes: number;
  /** Operations one socket may run at once. */
  maxSubscriptions: number;
  /** Authenticated sockets one user may have open at once on this instance. */
  maxConnectionsPerUser: number;
  connectionInitTimeoutMs: number;
  /** Finds the client's address for counting failed authentication attempts. */
  resolveClientIp: ClientIpResolver;
  /** Counts an operation against the caller's limit; throws RATE_LIMITED over it. */
  countOperation: (userId: string) => Promise<void>;
}

/**
 * Formats an error for a graphql-ws client. `extensions.http` contains the HTTP status for Yoga and means
 * nothing on a socket, so it is left out, as Yoga leaves it out of HTTP bodies.
 */
function toClientError(error: GraphQLError): GraphQLFormattedError {
  const json = error.toJSON();
  if (!json.extensions || !('http' in json.extensions)) return json;
  const { http: _http, ...extensions } = json.extensions;
  return { ...json, extensions };
}

function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (!host || !URL.canParse(origin)) return false;
  return new URL(origin).host === host.toLowerCase();
}

/** Looks at a raw frame only to tell protocol violations from server failures. */
function isClientMessage(data: string): boolean {
  try {
    const message = JSON.parse(data) as { type?: unknown };
    return typeof message.type === 'string' && CLIENT_MESSAGE_TYPES.has(message.type);
  } catch {
    return false;
  }
}

/**
 * Serves graphql-ws on the HTTP server's `/graphql` path with this project's own adapter around
 * graphql-ws's protocol core, so that no callback error reaches a client or the console. Every failure
 * is logged once through pino with a request id, and the client receives only a catalogued error or a
 * close code with a fixed reason.
 *
 * - The credential comes in the connection_init payload as `{ "authorization": "Bearer ..." }`. An
 *   invalid one closes the socket with 4401; a socket that sends no connection_init in time is closed
 *   with 4408.
 * - When the credential expires or is revoked, each running subscription ends with UNAUTHENTICATED,
 *   and then the socket closes with 4403, after which graphql-ws clients reconnect with fresh params.
 * - Operations run through the same Yoga plugins (limits, scopes, masking) as HTTP.
 */
export function attachWebSocketServer(options: WebSocketOptions) {
  const { yoga, authenticator, lifetime, logger, maskError } = options;
  const allowedOrigins = new Set(options.allowedOrigins);
  const connectionsByUser = new OpenCounts();

  const wss = new WebSocketServer({
    server: options.server,
    path: '/graphql',
    maxPayload: options.maxPayloadBytes,
    handleProtocols: (protocols) => handleProtocols(protocols),
    // Browsers let any page open a WebSocket to any host, so the Origin header is checked here the way
    // CORS checks it for HTTP. Pages served by this server itself (GraphiQL) are same-origin.
    verifyClient: (info, callback) => {
      if (info.origin && !allowedOrigins.has(info.origin) && !isSameOrigin(info.origin, info.req.headers.host)) {
        logger.info({ event: 'websocket.origin_rejected', origin: info.origin.slice(0, 200) }, 'WebSocket from a disallowed origin rejected');
        callback(false, 403, 'Forbidden');
        return;
      }
      callback(true);
    },
  });

  const closeWithUnexpectedError = (socket: WebSocket, error: unknown, event: string) => {
    const requestId = newRequestId();
    maskError(error, requestId);
    logger.debug({ event, requestId }, 'Closing WebSocket after an unexpected error');
    socket.close(CloseCode.InternalServerError, `Unexpected error. Request id: ${requestId}`);
  };

  const endSocket = async (ctx: SocketContext, reason: CredentialEnd) => {
    const { socket, caller } = ctx.extra;
    ctx.extra.ended = reason;
    logger.info({ event: 'websocket.credential_ended', reason, userId: caller?.userId }, 'Closing WebSocket: its credential ended');
    // The subscriptions end themselves with UNAUTHENTICATED; their last messages go out before the close.
    const deadline = Date.now() + CREDENTIAL_END_GRACE_MS;
    while (Object.keys(ctx.subscriptions).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    socket.close(CloseCode.Forbidden, reason === 'expired' ? 'Token expired' : 'Credential revoked');
  };

  const runOperation = async (args: ExecutionArgs, kind: 'execute' | 'subscribe'): Promise<Awaited<OperationResult>> => {
    const root = args.rootValue as EnvelopedRoot;
    try {
      return await root[kind](args);
    } catch (error) {
      return { errors: [maskError(error, root.requestId)] } satisfies ExecutionResult;
    }
  };

  const logOperationStart = (
    ctx: SocketContext,
    id: string,
    requestId: string,
    userId: string,
    document: DocumentNode,
    operationName: string | null | undefined,
  ) => {
    if (!logger.isLevelEnabled('debug')) return;
    ctx.extra.operations ??= new Map();
    ctx.extra.operations.set(id, { requestId, startedAt: performance.now() });
    const operation = getOperationAST(document, operationName);
    logger.debug(
      {
        event: 'websocket.operation_started',
        requestId,
        userId,
        operationType: operation?.operation ?? 'unknown',
        operationName: operation?.name ? capOperationName(operation.name.value) : undefined,
        clientIp: options.resolveClientIp(ctx.extra.request),
      },
      'WebSocket operation started',
    );
  };

  const protocol = makeServer<Record<string, unknown> | undefined, SocketExtra>({
    connectionInitWaitTimeout: options.connectionInitTimeoutMs,
    execute: (args) => runOperation(args, 'execute'),
    subscribe: (args) => runOperation(args, 'subscribe'),
    onConnect: async (ctx) => {
      const authorization = ctx.connectionParams?.authorization;
      let caller: Caller;
      try {
        caller = await authenticator.authenticate(typeof authorization === 'string' ? authorization : undefined, options.resolveClientIp(ctx.extra.request));
      } catch (error) {
        // graphql-ws clients do not reconnect after 4429, so a guessing client stops instead of retrying.
        if (error instanceof AppError && error.code === 'RATE_LIMITED')
          ctx.extra.socket.close(CloseCode.TooManyInitialisationRequests, 'Too many failed authentication attempts');
        else if (error instanceof AppError) ctx.extra.socket.close(CloseCode.Unauthorized, 'Unauthorized');
        else closeWithUnexpectedError(ctx.extra.socket, error, 'websocket.connect_failed');
        return false;
      }
      // Each open socket costs memory however quiet it is, so one user cannot open them without bound.
      const release = connectionsByUser.take(caller.userId, options.maxConnectionsPerUser);
      if (!release) {
        logger.info(
          { event: 'websocket.too_many_connections', userId: caller.userId, limit: options.maxConnectionsPerUser },
          'WebSocket rejected: the user has too many open connections',
        );
        ctx.extra.socket.close(CloseCode.TooManyInitialisationRequests, 'Too many open connections for this user');
        return false;
      }
      ctx.extra.releaseConnection = release;
      ctx.extra.caller = caller;
      ctx.extra.stopWatching = lifetime.watch(caller, (reason) => void endSocket(ctx, reason));
      logger.debug({ event: 'websocket.connected', userId: caller.userId, credential: caller.credential.kind }, 'WebSocket authenticated');
      return true;
    },
    onSubscribe: async (ctx, id, payload) => {
      const caller = ctx.extra.caller;
      if (!caller) return [maskError(AppError.unauthenticated())];
      if (ctx.extra.ended || lifetime.hasEnded(caller)) return [maskError(credentialEndedError(ctx.extra.ended ?? 'expired'))];
      // graphql-ws registers the new operation before this hook runs, so it is already counted.
      if (Object.keys(ctx.subscriptions).length > options.maxSubscriptions) {
        return [maskError(AppError.tooManyOperations(options.maxSubscriptions))];
      }

      const requestId = newRequestId();
      // Counted before parsing, so invalid documents cost their sender like any other operation. A valid
      // operation over the limit still gets its error as a result, as on HTTP, not as a protocol error.
      let limited: GraphQLError | undefined;
      try {
        await options.countOperation(caller.userId);
      } catch (error) {
        limited = maskError(error, requestId);
      }
      try {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          request: undefined,
          params: payload,
          websocket: { caller, requestId },
        });
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [limited ?? maskError(error, requestId)];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return limited ? [limited] : errors.map((error: Error) => maskError(error, requestId));
        if (limited) {
          const reject = async (): Promise<ExecutionResult> => ({ errors: [limited] });
          return { schema, document, rootValue: { requestId, execute: reject, subscribe: reject } satisfies EnvelopedRoot };
        }
        logOperationStart(ctx, id, requestId, caller.userId, document, payload.operationName);
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { requestId, execute, subscribe } satisfies EnvelopedRoot,
        };
      } catch (error) {
        return [maskError(error, requestId)];
      }
    },
    onNext: (_ctx, _id, _payload, args, result) => {
      if (!result.errors) return undefined;
      const requestId = (args.rootValue as EnvelopedRoot | undefined)?.requestId;
      return { ...result, errors: result.errors.map((error) => toClientError(maskError(error, requestId))) };
    },
    onError: (_ctx, _id, _payload, errors) => errors.map((error) => toClientError(maskError(error))),
    onComplete: (ctx, id) => {
      const operation = ctx.extra.operations?.get(id);
      if (!operation) return;
      ctx.extra.operations?.delete(id);
      logger.debug(
        {
          event: 'websocket.operation_ended',
          requestId: operation.requestId,
          userId: ctx.extra.caller?.userId,
          durationMs: Math.round(performance.now() - operation.startedAt),
        },
        'WebSocket operation ended',
      );
    },
    onClose: (ctx) => {
      ctx.extra.stopWatching?.();
      ctx.extra.releaseConnection?.();
    },
  });

  wss.on('connection', (socket, request) => {
    socket.on('error', (error: Error & { code?: string }) => {
      // ws reports oversized and malformed frames here and closes the socket itself (1009, 1002).
      logger.info({ event: 'websocket.protocol_error', code: error.code }, 'WebSocket closed after a protocol error');
    });

    let pongTimer: NodeJS.Timeout | undefined;
    const pingTimer = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongTimer = setTimeout(() => socket.terminate(), KEEP_ALIVE_MS);
      socket.once('pong', () => clearTimeout(pongTimer));
      socket.ping();
    }, KEEP_ALIVE_MS);

    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data: RawData) => {
            const text = String(data);
            if (!isClientMessage(text)) {
              socket.close(CloseCode.BadRequest, 'Invalid message received');
              return;
            }
            handle(text).catch((error: unknown) => closeWithUnexpectedError(socket, error, 'websocket.message_failed'));
          }),
      },
      { socket, request },
    );

    socket.once('close', (code, reason) => {
      clearInterval(pingTimer);
      clearTimeout(pongTimer);
      closed(code, String(reason)).catch((error: unknown) => maskError(error));
    });
  });

  // ws repeats the HTTP server's errors here. One raised before the server listens is reported by listen().
  wss.on('error', (error) => {
    if (options.server.listening) logger.error({ event: 'websocket.error', err: error }, 'WebSocket server error');
  });

  return {
    async close() {
      for (const client of wss.clients) client.close(1001, 'Going away');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
