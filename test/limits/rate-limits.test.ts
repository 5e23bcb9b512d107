import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConversationSchema } from '../../src/conversations/conversation.entity.js';
import { collectWs, postGraphQL, wsClient, type GraphQLResponse } from '../support/clients.js';
import { deleteRedisKeys, redisReachable, requireRedis, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/redis.js';
import { CHAT_MUTATION, CHAT_STREAM, startTestStack, type TestStack } from '../support/stack.js';

const CONVERSATION_COUNT = '{ conversations(first: 50) { edges { node { id } } } }';

/** Builds one chat mutation with the same field under several aliases. */
function aliasedChats(count: number): string {
  const fields = Array.from({ length: count }, (_, index) => `c${index}: chat(input: { message: "Say hello number ${index}" }) { reply { id } }`);
  return `mutation { ${fields.join(' ')} }`;
}

async function conversationCount(stack: TestStack, key: string): Promise<number> {
  const response = await postGraphQL(stack.graphqlUrl, CONVERSATION_COUNT, {}, key);
  return response.body.data?.conversations.edges.length as number;
}

function codesOf(response: GraphQLResponse): string[] {
  return (response.body.errors ?? []).map((error) => error.extensions?.code as string);
}

/** Posts an operation with extra request headers, such as X-Forwarded-For. */
async function postWithHeaders(url: string, query: string, headers: Record<string, string>): Promise<GraphQLResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] };
}

/** Runs a chatStream over its own socket and returns every result, or the error the socket ended with. */
async function chatStreamResults(stack: TestStack, key: string, message: string) {
  const client = wsClient(stack.wsUrl, key);
  const stream = collectWs(client, CHAT_STREAM, { input: { message } });
  try {
    await stream.done;
    return { results: stream.results, error: undefined };
  } catch (error) {
    return { results: stream.results, error: error as Error };
  } finally {
    await client.dispose();
  }
}

let redisUp = false;

beforeAll(async () => {
  redisUp = await redisReachable();
});

describe.each([
  { store: 'memory', redis: false },
  { store: 'Redis', redis: true },
])('chat turn limit ($store store)', ({ redis }) => {
  let stack: TestStack | undefined;
  const prefix = uniqueRedisPrefix();

  /** Starts the stack on first use, so a missing Redis skips the tests instead of failing the hook. */
  async function limitedStack(ctx: { skip: (note?: string) => never }): Promise<TestStack> {
    if (redis) requireRedis(redisUp, ctx);
    stack ??= await startTestStack({
      env: {
        RATE_LIMIT_CHAT_PER_MINUTE: '2',
        MAX_CONCURRENT_REPLIES_PER_USER: '20',
        ...(redis ? { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix } : {}),
      },
    });
    return stack;
  }

  afterAll(async () => {
    await stack?.close();
    if (redis && redisUp) await deleteRedisKeys(prefix);
  });

  it('lets exactly two of five aliased chats pass', async (ctx) => {
    const server = await limitedStack(ctx);
    const key = await server.apiKey('alias-user');

    const response = await postGraphQL(server.graphqlUrl, aliasedChats(5), {}, key);

    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(response.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // Mutation fields run one after another, and an error in a non-null field stops the rest, so c3 and
    // c4 never run and the response has no data.
    expect(codesOf(response)).toEqual(['RATE_LIMITED']);
    expect(response.body.errors?.[0]?.path).toEqual(['c2']);
    expect(response.body.data).toBeNull();
    expect(response.body.errors?.[0]?.extensions?.retryAfter).toBe(Number(response.headers.get('retry-after')));
    expect(response.body.errors?.[0]?.message).toMatch(/^Too many chat messages\. Try again in \d+ s\.$/);
    expect(await conversationCount(server, key)).toBe(2);
  });

  it('lets exactly two of five parallel chatStreams pass', async (ctx) => {
    const server = await limitedStack(ctx);
    const key = await server.apiKey('parallel-user');

    const outcomes = await Promise.all(Array.from({ length: 5 }, (_, index) => chatStreamResults(server, key, `Say hello ${index}`)));

    const completed = outcomes.filter((outcome) => outcome.results.at(-1)?.data?.chatStream?.__typename === 'ReplyCompleted');
    const limited = outcomes.filter((outcome) => outcome.results[0]?.errors?.[0]?.extensions?.code === 'RATE_LIMITED');
    expect(completed).toHaveLength(2);
    expect(limited).toHaveLength(3);
    expect(await conversationCount(server, key)).toBe(2);
  });

  it('counts chat and chatStream against one limit', async (ctx) => {
    const server = await limitedStack(ctx);
    const key = await server.apiKey('mixed-user');

    const first = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello' } }, key);
    const second = await chatStreamResults(server, key, 'Say hello again');
    const third = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: 'And once more' } }, key);

    expect(first.body.errors).toBeUndefined();
    expect(second.results.at(-1)?.data?.chatStream?.__typename).toBe('ReplyCompleted');
    expect(codesOf(third)).toEqual(['RATE_LIMITED']);
    expect(third.status).toBe(429);
  });

  it('answers a limited chatStream over SSE with 429', async (ctx) => {
    const server = await limitedStack(ctx);
    const key = await server.apiKey('sse-user');
    const body = JSON.stringify({ query: CHAT_STREAM, variables: { input: { message: 'Say hello' } } });
    const send = () =>
      fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'text/event-stream' },
        body,
      });

    for (const _ of [1, 2]) {
      const allowed = await send();
      expect(allowed.status).toBe(200);
      await allowed.text();
    }
    const limited = await send();
    const text = await limited.text();

    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(text).toContain('"code":"RATE_LIMITED"');
  });

  it('keeps each user to their own limit', async (ctx) => {
    const server = await limitedStack(ctx);
    const busy = await server.apiKey('busy-user');
    const other = await server.apiKey('other-user');

    await postGraphQL(server.graphqlUrl, aliasedChats(2), {}, busy);
    const limited = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: 'One more' } }, busy);
    const allowed = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello' } }, other);

    expect(codesOf(limited)).toEqual(['RATE_LIMITED']);
    expect(allowed.body.errors).toBeUndefined();
  });

  it('does not count a repeated clientMessageId', async (ctx) => {
    const server = await limitedStack(ctx);
    const key = await server.apiKey('retrying-user');
    const input = { message: 'Say hello', clientMessageId: 'retry-1' };

    const first = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input }, key);
    const repeated = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input }, key);
    const second = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: 'Another one' } }, key);
    const third = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: 'Too many' } }, key);

    expect(repeated.body.data?.chat.reply.id).toBe(first.body.data?.chat.reply.id);
    expect(second.body.errors).toBeUndefined();
    expect(codesOf(third)).toEqual(['RATE_LIMITED']);
  });

  it('counts a message too long for the model', async (ctx) => {
    const server = await limitedStack(ctx);
    const key = await server.apiKey('long-message-user');
    // 16,000 CJK characters are about 30,000 tokens, past the default OPENAI_MAX_INPUT_TOKENS of 16,000.
    const tooLong = Array.from({ length: 16_000 }, (_, index) => String.fromCharCode(0x4e00 + ((index * 7919) % 0x5200))).join('');

    const rejected = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: tooLong } }, key);
    const second = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello' } }, key);
    const third = await postGraphQL(server.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello again' } }, key);

    expect(codesOf(rejected)).toEqual(['BAD_USER_INPUT']);
    expect(rejected.body.errors?.[0]?.message).toContain('the limit is 16000 tokens');
    expect(second.body.errors).toBeUndefined();
    expect(codesOf(third)).toEqual(['RATE_LIMITED']);
    expect(await conversationCount(server, key)).toBe(1);
  });

  it('rejects a batch of operations without counting or running it', async (ctx) => {
    const server = await limitedStack(ctx);
    const key = await server.apiKey('batch-user');
    const operation = { query: CHAT_MUTATION, variables: { input: { message: 'Say hello' } } };

    const batch = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify([operation, operation, operation]),
    });

    expect(batch.status).toBe(400);
    expect(JSON.stringify(await batch.json())).not.toContain('"data"');
    expect(await conversationCount(server, key)).toBe(0);
    const afterwards = await postGraphQL(server.graphqlUrl, aliasedChats(2), {}, key);
    expect(afterwards.body.errors).toBeUndefined();
  });
});

describe('operation limit', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({ env: { RATE_LIMIT_OPERATIONS_PER_MINUTE: '4' } });
  });

  afterAll(async () => {
    await stack.close();
  });

  it('counts queries, mutations and subscriptions per user', async () => {
    const key = await stack.apiKey('operations-user');
    const other = await stack.apiKey('quiet-user');

    const chat = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello' } }, key);
    const client = wsClient(stack.wsUrl, key);
    const stream = collectWs(client, `subscription($id: ID!) { replyStream(messageId: $id) { __typename } }`, { id: chat.body.data?.chat.reply.id });
    await stream.done;
    await client.dispose();
    const viewer = await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, key);
    const fourth = await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, key);
    const fifth = await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, key);
    const otherUser = await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, other);

    expect(chat.body.errors).toBeUndefined();
    expect(stream.results.at(-1)?.data?.replyStream.__typename).toBe('ReplyCompleted');
    expect(viewer.body.data?.viewer.id).toBe('operations-user');
    expect(fourth.body.data?.viewer.id).toBe('operations-user');
    expect(fifth.status).toBe(429);
    expect(codesOf(fifth)).toEqual(['RATE_LIMITED']);
    expect(fifth.body.errors?.[0]?.message).toMatch(/^Too many requests\. Try again in \d+ s\.$/);
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(otherUser.body.data?.viewer.id).toBe('quiet-user');
  });

  it('rejects a subscription over the limit before it starts', async () => {
    const key = await stack.apiKey('subscribing-user');
    for (let index = 0; index < 4; index += 1) await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, key);

    const outcome = await chatStreamResults(stack, key, 'Say hello');

    expect(outcome.results).toHaveLength(1);
    expect(outcome.results[0]?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    // The user is over the limit, so the count comes from the database.
    expect(await stack.app.services.db.fork().count(ConversationSchema, { ownerId: 'subscribing-user' })).toBe(0);
  });

  it('counts invalid documents on HTTP and WebSocket', async () => {
    const key = await stack.apiKey('invalid-user');
    const invalidField = await postGraphQL(stack.graphqlUrl, '{ viewer { idx } }', {}, key);
    const syntaxError = await postGraphQL(stack.graphqlUrl, '{ viewer { ', {}, key);
    const client = wsClient(stack.wsUrl, key);
    const overSocket = [collectWs(client, '{ viewer { idx } }'), collectWs(client, 'subscription { nothing }')];
    await Promise.allSettled(overSocket.map((stream) => stream.done));
    const fifth = await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, key);
    const socketFifth = collectWs(client, '{ viewer { id } }');
    await socketFifth.done;
    await client.dispose();

    expect(codesOf(invalidField)).toEqual(['BAD_USER_INPUT']);
    expect(codesOf(syntaxError)).toEqual(['BAD_USER_INPUT']);
    expect(fifth.status).toBe(429);
    expect(codesOf(fifth)).toEqual(['RATE_LIMITED']);
    expect(socketFifth.results[0]?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });
});

describe('failed authentication limit', () => {
  let stack: TestStack;
  let validKey: string;

  beforeAll(async () => {
    stack = await startTestStack({ env: { RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '3', TRUSTED_PROXIES: '127.0.0.1, ::1' } });
    validKey = await stack.apiKey('alice');
  });

  afterAll(async () => {
    await stack.close();
  });

  const viewer = (authorization: string | undefined, forwardedFor: string) =>
    postWithHeaders(stack.graphqlUrl, '{ viewer { id } }', { 'x-forwarded-for': forwardedFor, ...(authorization ? { authorization } : {}) });

  it('blocks an address after three failures, valid key included', async () => {
    const address = '203.0.113.10';
    const failures = [
      await viewer('Bearer haa_0000000000000000_not-a-real-secret-not-a-real-secret-00000', address),
      await viewer(undefined, address),
      await viewer('Bearer not.a.jwt', address),
    ];
    const blocked = await viewer(`Bearer ${validKey}`, address);

    expect(failures.map((failure) => failure.status)).toEqual([401, 401, 401]);
    expect(blocked.status).toBe(429);
    expect(codesOf(blocked)).toEqual(['RATE_LIMITED']);
    expect(blocked.body.errors?.[0]?.message).toMatch(/^Too many failed authentication attempts\. Try again in \d+ s\.$/);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('does not count successful attempts', async () => {
    const address = '203.0.113.20';
    for (let index = 0; index < 6; index += 1) expect((await viewer(`Bearer ${validKey}`, address)).status).toBe(200);
    for (let index = 0; index < 2; index += 1) expect((await viewer('Bearer wrong', address)).status).toBe(401);

    expect((await viewer(`Bearer ${validKey}`, address)).body.data?.viewer.id).toBe('alice');
  });

  it('keeps other addresses and other IPv6 networks open', async () => {
    for (let index = 0; index < 3; index += 1) await viewer('Bearer wrong', '2001:db8:1:1::1');

    expect((await viewer(`Bearer ${validKey}`, '2001:db8:1:1::2')).status).toBe(429);
    expect((await viewer(`Bearer ${validKey}`, '2001:db8:1:2::1')).status).toBe(200);
    expect((await viewer(`Bearer ${validKey}`, '203.0.113.30')).status).toBe(200);
  });

  it('closes a graphql-ws connection from a blocked address with 4429', async () => {
    const address = '203.0.113.40';
    for (let index = 0; index < 3; index += 1) await viewer('Bearer wrong', address);

    const socket = new WebSocket(stack.wsUrl, 'graphql-transport-ws', { headers: { 'x-forwarded-for': address } });
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${validKey}` } })));

    expect(await closed).toEqual({ code: 4429, reason: 'Too many failed authentication attempts' });
  });
});

describe('failed authentication limit without trusted proxies', () => {
  it('ignores X-Forwarded-For from a client', async () => {
    const stack = await startTestStack({ env: { RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '2' } });
    try {
      const key = await stack.apiKey('alice');
      for (const address of ['198.51.100.1', '198.51.100.2']) {
        expect((await postWithHeaders(stack.graphqlUrl, '{ viewer { id } }', { authorization: 'Bearer wrong', 'x-forwarded-for': address })).status).toBe(401);
      }

      const rotated = await postWithHeaders(stack.graphqlUrl, '{ viewer { id } }', { authorization: `Bearer ${key}`, 'x-forwarded-for': '198.51.100.3' });

      expect(rotated.status).toBe(429);
    } finally {
      await stack.close();
    }
  });
});
