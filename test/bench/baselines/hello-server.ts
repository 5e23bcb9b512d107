import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { serveParent } from '../child.js';

interface StoredMessage {
  id: string;
  role: string;
  content: string;
  status: string;
  createdAt: string;
}

/** Messages the parent copies from the service, so the in-memory query returns the same bytes. */
let messages: StoredMessage[] = [];

/**
 * The smallest graphql-yoga server: `{ hello }` is the baseline for request throughput. It also answers
 * the service's `conversation { messages(first: 50) }` shape from memory, with no authentication, limits
 * or database, to show what executing that query alone costs.
 */
const yoga = createYoga({
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      scalar DateTime
      enum Role { USER ASSISTANT }
      enum MessageStatus { STREAMING COMPLETED FAILED CANCELLED INTERRUPTED }
      type Message { id: ID! role: Role! content: String! status: MessageStatus! createdAt: DateTime! }
      type MessageEdge { cursor: String! node: Message! }
      type MessageConnection { edges: [MessageEdge!]! }
      type Conversation { id: ID! messages(first: Int): MessageConnection! }
      type Query { hello: String! conversation(id: ID!): Conversation }
    `,
    resolvers: {
      Query: { hello: () => 'world', conversation: (_parent, args: { id: string }) => ({ id: args.id }) },
      Conversation: {
        messages: (_parent, args: { first?: number }) => ({
          edges: messages.slice(0, args.first ?? 50).map((node) => ({ cursor: Buffer.from(node.id).toString('base64url'), node })),
        }),
      },
    },
  }),
  logging: false,
  graphiql: false,
});
const server = createServer(yoga);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
serveParent(
  { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql` },
  {
    setMessages: (argument) => {
      messages = argument as StoredMessage[];
      return messages.length;
    },
  },
);
