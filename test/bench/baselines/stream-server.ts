import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { serveParent } from '../child.js';

/**
 * A bare graphql-yoga + graphql-ws server that streams `count` events shaped like ReplyDelta as fast as
 * it can: the baseline for event delivery.
 */
const yoga = createYoga({
  schema: createSchema({
    typeDefs: `
      type Delta { sequence: Int! messageId: ID! text: String! }
      type Query { ok: Boolean! }
      type Subscription { deltas(count: Int!): Delta! }`,
    resolvers: {
      Query: { ok: () => true },
      Subscription: {
        deltas: {
          subscribe: async function* (_root: unknown, args: { count: number }) {
            for (let sequence = 1; sequence <= args.count; sequence += 1) yield { deltas: { sequence, messageId: 'baseline', text: ' word' } };
          },
        },
      },
    },
  }),
  logging: false,
  graphiql: false,
});
const server = createServer(yoga);
const wss = new WebSocketServer({ server, path: '/graphql' });
useServer(
  {
    execute: (args: any) => args.rootValue.execute(args),
    subscribe: (args: any) => args.rootValue.subscribe(args),
    onSubscribe: async (ctx, _id, params) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params,
      });
      const document = parse(params.query);
      const errors = validate(schema, document);
      if (errors.length > 0) return errors;
      return {
        schema,
        operationName: params.operationName,
        document,
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe },
      };
    },
  },
  wss,
);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
serveParent({ url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/graphql` }, {});
