import { spawn } from 'node:child_process';
import { ApolloClient, HttpLink, InMemoryCache, split } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { cacheExchange, Client as UrqlClient, fetchExchange, subscriptionExchange } from '@urql/core';
import { Kind, OperationTypeNode, type GraphQLUnionType } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ChatDocument, ChatStreamDocument, ReplyStreamDocument, type ChatStreamSubscription, type ReplyStreamSubscription } from '../gql/graphql.js';
import { buildSchema } from '../../src/graphql/schema.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack();
  key = await stack.apiKey('client-user');
});

afterAll(async () => {
  await stack.close();
});

type Event = ReplyStreamSubscription['replyStream'];

function expectCompleteReply(events: Event[]): void {
  expect(events[0]?.__typename).toBe('ReplyStarted');
  expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
  const last = events.at(-1);
  expect(last?.__typename).toBe('ReplyCompleted');
  const text = events.map((event) => (event.__typename === 'ReplyDelta' ? event.text : '')).join('');
  expect(text.length).toBeGreaterThan(0);
  if (last?.__typename === 'ReplyCompleted') expect(last.message.content).toBe(text);
}

describe('Apollo Client', () => {
  it('runs a chat turn and follows the reply over graphql-ws', async () => {
    const wsClient = createWsClient({ url: stack.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` } });
    const link = split(
      ({ query }) => {
        const definition = getMainDefinition(query);
        return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
      },
      new GraphQLWsLink(wsClient),
      new HttpLink({ uri: stack.graphqlUrl, headers: { authorization: `Bearer ${key}` } }),
    );
    // Apollo's cache needs the members of the ChatEvent union to match fragments on it.
    const chatEvent = buildSchema().getType('ChatEvent') as GraphQLUnionType;
    const client = new ApolloClient({ link, cache: new InMemoryCache({ possibleTypes: { ChatEvent: chatEvent.getTypes().map((type) => type.name) } }) });

    const chat = await client.mutate({ mutation: ChatDocument, variables: { input: { message: 'Hello from Apollo' } } });
    expect(chat.data?.chat.reply.status).toBe('STREAMING');
    const replyId = chat.data?.chat.reply.id as string;

    const events = await new Promise<Event[]>((resolve, reject) => {
      const collected: Event[] = [];
      client.subscribe({ query: ReplyStreamDocument, variables: { messageId: replyId } }).subscribe({
        next: (result) => {
          if (result.error) reject(result.error);
          if (result.data) collected.push(result.data.replyStream);
        },
        error: reject,
        complete: () => resolve(collected),
      });
    });
    expectCompleteReply(events);
    client.stop();
    await wsClient.dispose();
  });
});

describe('urql', () => {
  async function chatStreamWith(client: UrqlClient, message: string): Promise<Event[]> {
    return new Promise((resolve, reject) => {
      const collected: Event[] = [];
      const { unsubscribe } = client.subscription(ChatStreamDocument, { input: { message } }).subscribe((result) => {
        if (result.error) {
          reject(result.error);
          return;
        }
        const event = (result.data as ChatStreamSubscription | undefined)?.chatStream;
        if (!event) return;
        collected.push(event);
        if (['ReplyCompleted', 'ReplyFailed', 'ReplyCancelled', 'ReplyInterrupted'].includes(event.__typename)) {
          // urql keeps a finished subscription open until the consumer leaves.
          setTimeout(() => unsubscribe(), 0);
          resolve(collected);
        }
      });
    });
  }

  it('streams chatStream over graphql-ws', async () => {
    const wsClient = createWsClient({ url: stack.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` } });
    const client = new UrqlClient({
      url: stack.graphqlUrl,
      fetchOptions: { headers: { authorization: `Bearer ${key}` } },
      exchanges: [
        cacheExchange,
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: wsClient.subscribe({ ...request, query: request.query ?? '' }, sink) }),
          }),
        }),
      ],
    });
    expectCompleteReply(await chatStreamWith(client, 'Hello from urql over WebSocket'));
    await wsClient.dispose();
  });

  it('streams chatStream over SSE', async () => {
    const sseClient = createSseClient({ url: stack.graphqlUrl, headers: { authorization: `Bearer ${key}` } });
    const client = new UrqlClient({
      url: stack.graphqlUrl,
      fetchOptions: { headers: { authorization: `Bearer ${key}` } },
      exchanges: [
        cacheExchange,
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: sseClient.subscribe({ ...request, query: request.query ?? '' }, sink) }),
          }),
        }),
      ],
    });
    expectCompleteReply(await chatStreamWith(client, 'Hello from urql over SSE'));
    sseClient.dispose();
  });

  it('runs the chat mutation over HTTP', async () => {
    const client = new UrqlClient({
      url: stack.graphqlUrl,
      fetchOptions: { headers: { authorization: `Bearer ${key}` } },
      exchanges: [cacheExchange, fetchExchange],
    });
    const result = await client.mutation(ChatDocument, { input: { message: 'Hello from urql over HTTP' } }).toPromise();
    expect(result.error).toBeUndefined();
    expect(result.data?.chat.userMessage.content).toBe('Hello from urql over HTTP');
  });
});

describe('curl', () => {
  it('follows a reply over SSE', async () => {
    const chat = await fetch(stack.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: 'mutation { chat(input: { message: "Hello from curl" }) { reply { id } } }' }),
    });
    const replyId = ((await chat.json()) as { data: { chat: { reply: { id: string } } } }).data.chat.reply.id;

    const output = await new Promise<string>((resolve, reject) => {
      const curl = spawn('curl', [
        '-sN',
        stack.graphqlUrl,
        '-H',
        `Authorization: Bearer ${key}`,
        '-H',
        'Content-Type: application/json',
        '-H',
        'Accept: text/event-stream',
        '-d',
        JSON.stringify({
          query:
            'subscription($id: ID!) { replyStream(messageId: $id) { __typename ... on ReplyDelta { sequence text } ... on ReplyCompleted { message { content } } } }',
          variables: { id: replyId },
        }),
      ]);
      let stdout = '';
      curl.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      curl.on('error', reject);
      curl.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`curl exited with ${code}`))));
    });

    const frames = output.split('\n\n').filter((frame) => frame.startsWith('event: next'));
    const events = frames.map((frame) => JSON.parse(frame.split('\ndata: ')[1] ?? '{}').data.replyStream);
    expect(output.trimEnd().endsWith('event: complete\ndata:')).toBe(true);
    expect(events[0].__typename).toBe('ReplyStarted');
    const text = events
      .filter((event) => event.__typename === 'ReplyDelta')
      .map((event) => event.text)
      .join('');
    expect(events.at(-1)).toEqual({ __typename: 'ReplyCompleted', message: { content: text } });
  });
});
