import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { GraphQLSchema } from 'graphql';
import type { Caller } from '../auth/caller.js';
import type { CredentialLifetime } from '../auth/credential-lifetime.js';
import type { Logger } from '../observability/logger.js';
import { cleanErrorMessage } from '../observability/safe-error.js';
import { newRequestId } from '../observability/request-id.js';
import type { RequestLogFields } from '../observability/use-request-log.js';
import type { ClientIpResolver } from '../security/client-ip.js';
import type { GraphQLContext, Services } from './context.js';
import { corsForAllowedOrigins, useCsrfPrevention, usePostOnlySubscriptions, useSecurityHeaders } from '../security/http-guards.js';
import { useQueryLimits, type QueryLimitOptions } from '../security/query-limits.js';
import type { MaskError } from './errors.js';
import { createLoaders } from './loaders.js';
import { useDocumentErrorCodes } from './use-document-error-codes.js';
import { type AuthenticatedServerContext, useHttpAuthentication } from './use-http-authentication.js';
import { useRequestErrorMasking } from './use-request-error-masking.js';
import { useRequestParseErrors } from './use-request-parse-errors.js';
import { useSubscriptionGuard } from './use-subscription-guard.js';

/** Fields the WebSocket adapter adds to the initial context of each operation. */
export interface WebSocketContextExtra {
  /** Set once the connection_init payload authenticated. */
  caller: Caller;
  requestId: string;
}

export interface YogaOptions {
  schema: GraphQLSchema;
  services: Services;
  logger: Logger;
  graphiql: boolean;
  allowedOrigins: string[];
  /** Finds the client's address for counting failed authentication attempts. */
  resolveClientIp: ClientIpResolver;
  /** Plugins that run after the built-in ones, such as rate limits, metrics and the operations endpoints. */
  plugins?: (Plugin | Plugin<GraphQLContext>)[];
  /** The single error masker, shared with the WebSocket layer. */
  maskError: MaskError;
  lifetime: CredentialLifetime;
  queryLimits: QueryLimitOptions;
  maxBodyBytes: number;
}

/** Fields the HTTP server and the WebSocket adapter pass to Yoga with each request. */
export type ServerContext = Record<string, unknown> &
  AuthenticatedServerContext & {
    websocket?: WebSocketContextExtra;
    /** Set once the request was counted against the caller's operation limit. */
    operationCounted?: boolean;
    /** Filled in with the operation's type and name for the HTTP request's log line. */
    requestLog?: RequestLogFields;
  };

export type Yoga = YogaServerInstance<ServerContext, GraphQLContext>;

/** Echoes the request id in a response header, so a client can quote it when reporting a problem. */
function useRequestIdHeader(): Plugin {
  return {
    onResponse({ response, serverContext }) {
      const requestId = (serverContext as ServerContext | undefined)?.requestId;
      if (requestId) response.headers.set('x-request-id', requestId);
    },
  };
}

/** Yoga's own log arguments as one line; errors appear by type only, and other text is cleaned. */
function describeLogArguments(args: unknown[]): string {
  return args.map((arg) => (arg instanceof Error ? arg.name : cleanErrorMessage(String(arg)))).join(' ');
}

export function createYogaServer(options: YogaOptions): Yoga {
  const { services, logger, maskError } = options;

  return createYoga<ServerContext, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    batching: false,
    multipart: false,
    maxRequestBodySize: options.maxBodyBytes,
    // GraphiQL runs subscriptions over SSE, because its graphql-ws client cannot send the Headers tab in
    // the connection_init payload, while SSE requests carry the Authorization header like queries.
    // POST for every operation, subscriptions included, because chatStream is refused over GET.
    graphiql: options.graphiql ? { title: 'HA AI Agent', subscriptionsProtocol: 'SSE', method: 'POST', defaultQuery: DEFAULT_GRAPHIQL_QUERY } : false,
    // GraphiQL's scripts and styles are served inline from the installed package instead of a CDN, so it
    // also works on machines without internet access.
    renderGraphiQL,
    cors: corsForAllowedOrigins(options.allowedOrigins),
    maskedErrors: { maskError: (error) => maskError(error) },
    // Parsed documents stay cached, but syntax errors are not: Yoga throws a cached one before the
    // plugins' parse hooks run, so the same error object reached the masker again and went uncounted.
    parserAndValidationCache: { errorCache: { get: () => undefined, set: () => {} } },
    // Yoga logs several debug lines per request; the level checks keep their text from being built
    // and cleaned when nobody reads it.
    logging: {
      debug: (...args) => logger.isLevelEnabled('debug') && logger.debug({ event: 'yoga' }, describeLogArguments(args)),
      info: (...args) => logger.isLevelEnabled('info') && logger.info({ event: 'yoga' }, describeLogArguments(args)),
      warn: (...args) => logger.isLevelEnabled('warn') && logger.warn({ event: 'yoga' }, describeLogArguments(args)),
      // Yoga reports here every error that masking replaced. The masker already logged the unexpected
      // ones with their request id, and the catalogued ones are expected, so this stays at debug and
      // names only the error types: their messages may hold SQL or upstream text.
      error: (...args) =>
        logger.isLevelEnabled('debug') && logger.debug({ event: 'yoga.error', types: args.map((arg) => (arg instanceof Error ? arg.name : typeof arg)) }),
    },
    plugins: [
      useRequestIdHeader(),
      useRequestParseErrors(),
      useHttpAuthentication({ authenticator: services.authenticator, resolveClientIp: options.resolveClientIp, maskError }),
      useSecurityHeaders(),
      useCsrfPrevention('/graphql'),
      usePostOnlySubscriptions(['chatStream']),
      useQueryLimits(options.queryLimits),
      useDocumentErrorCodes({ hideSuggestions: !options.queryLimits.introspection, maskError }),
      useSubscriptionGuard({ lifetime: options.lifetime, maskError }),
      ...(options.plugins ?? []),
      useRequestErrorMasking(maskError),
    ],
    context: async (initial): Promise<GraphQLContext> => {
      const em = services.db.fork();
      const websocket = initial.websocket;
      if (websocket) {
        return {
          requestId: websocket.requestId,
          caller: websocket.caller,
          operationCounted: true,
          em,
          services,
          loaders: createLoaders(em, services.conversations),
          logger,
        };
      }
      const requestId = initial.requestId ?? newRequestId();
      // useHttpAuthentication sets the caller before the document is parsed, or ends the request. A
      // missing caller here is therefore a bug, and it fails instead of letting the request in.
      const caller = initial.caller;
      if (!caller) throw maskError(new Error('The request reached the context without a caller'), requestId);
      return {
        requestId,
        caller,
        operationCounted: initial.operationCounted,
        em,
        services,
        loaders: createLoaders(em, services.conversations),
        logger: logger.child({ requestId, userId: caller.userId }),
      };
    },
  });
}

/** An operation to start from, shown in GraphiQL. */
const DEFAULT_GRAPHIQL_QUERY = `# Put your key in the Headers tab first: {"Authorization": "Bearer haa_..."}
# Then run chatStream to send a message and watch the reply stream in.
subscription Chat {
  chatStream(input: { message: "Turn off the kitchen light" }) {
    __typename
    ... on ReplyDelta { text }
    ... on ToolCallFinished { toolCall { name status result } }
    ... on ReplyCompleted { message { content usage { totalTokens } } }
    ... on ReplyFailed { code errorMessage }
  }
}
`;
