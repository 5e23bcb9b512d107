import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { GraphQLSchema } from 'graphql';
import type { Caller } from '../auth/caller.js';
import type { Logger } from '../observability/logger.js';
import { currentRequestId, newRequestId } from '../observability/request-id.js';
import type { GraphQLContext, Services } from './context.js';
import { createErrorMasker } from './errors.js';
import { createLoaders } from './loaders.js';
import { useDocumentErrorCodes } from './use-document-error-codes.js';

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
  /** Extra plugins, after the built-in ones: metrics and the operations endpoints. */
  plugins?: Plugin[];
  /** Called once for each error sent to a client, with its code. */
  onClientError?: (code: string) => void;
}

export type ServerContext = Record<string, unknown> & { websocket?: WebSocketContextExtra };

export type Yoga = YogaServerInstance<ServerContext, GraphQLContext>;

/** Echoes the request id in a response header, so a client can quote it when reporting a problem. */
function useRequestIdHeader(): Plugin {
  return {
    onResponse({ response }) {
      const requestId = currentRequestId();
      if (requestId) response.headers.set('x-request-id', requestId);
    },
  };
}

export function createYogaServer(options: YogaOptions): Yoga {
  const { services, logger } = options;
  const maskError = createErrorMasker(logger, currentRequestId, options.onClientError);

  return createYoga<ServerContext, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    batching: false,
    graphiql: options.graphiql ? { title: 'HA AI Agent', subscriptionsProtocol: 'WS', defaultQuery: DEFAULT_GRAPHIQL_QUERY } : false,
    cors: { origin: options.allowedOrigins, credentials: true, allowedHeaders: ['authorization', 'content-type', 'x-request-id'], methods: ['GET', 'POST'] },
    maskedErrors: { maskError: (error) => maskError(error) },
    logging: {
      debug: (...args) => logger.debug({ event: 'yoga' }, args.map(String).join(' ')),
      info: (...args) => logger.info({ event: 'yoga' }, args.map(String).join(' ')),
      warn: (...args) => logger.warn({ event: 'yoga' }, args.map(String).join(' ')),
      // Yoga reports here every error that masking replaced. The masker already logged the unexpected
      // ones with their request id, and the catalogued ones are expected, so this stays at debug.
      error: (...args) => logger.debug({ event: 'yoga.error', message: args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' ') }),
    },
    plugins: [useRequestIdHeader(), useDocumentErrorCodes(), ...(options.plugins ?? [])],
    context: async (initial): Promise<GraphQLContext> => {
      const em = services.db.fork();
      const websocket = initial.websocket;
      if (websocket) {
        return { requestId: websocket.requestId, caller: websocket.caller, em, services, loaders: createLoaders(em, services.conversations), logger };
      }
      const requestId = currentRequestId() ?? newRequestId();
      const caller = await services.authenticator.authenticate(initial.request.headers.get('authorization'));
      return { requestId, caller, em, services, loaders: createLoaders(em, services.conversations), logger: logger.child({ requestId, userId: caller.userId }) };
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

