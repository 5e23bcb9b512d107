import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL, waitFor } from '../support/clients.js';
import { createTestDatabase, missingServices, type TestDatabase } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { postSseAndDisconnect } from '../support/raw-sse.js';
import { CHAT_MUTATION, CHAT_STREAM, REPLY_STREAM, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Threat: SSE clients that send a subscription and close the socket before reading the response. Each
 * stream they leave open takes one of the user's MAX_SUBSCRIPTIONS_PER_USER slots until restart.
 */

const missing = await missingServices('PostgreSQL');
let stack: TestStack;
let database: TestDatabase;
let proxy: TcpProxy;

/**
 * PostgreSQL behind a proxy that can hold its replies back, as on a loaded server: each subscription
 * then waits on the database long enough for the client's close to arrive first. On an idle server
 * the response usually wins, and Yoga's own cancellation closes the stream.
 */
const startStack = async () => {
  database = await createTestDatabase('postgres');
  const target = new URL(database.url);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  stack = await startTestStack({ database: { ...database, url: proxy.urlFor(database.url) }, env: { MAX_SUBSCRIPTIONS_PER_USER: '5' } });
};

const stopStack = async () => {
  await stack?.close();
  await proxy?.close();
  await database?.remove();
};

function slowDatabase(): () => void {
  proxy.setDelay(50);
  return () => proxy.setDelay(0);
}

const CONVERSATION_EVENTS = 'subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }';
const DISCONNECT_DELAYS_MS = [0, 1, 2, 3];
const ROUNDS = 5;

async function metricValue(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

const openSubscriptions = (field: string) => metricValue('ha_ai_agent_active_subscriptions', `field="${field}"`);
const startedSubscriptions = (field: string) => metricValue('ha_ai_agent_graphql_operations_total', `type="subscription",field="${field}"`);

async function startConversation(key: string): Promise<{ conversationId: string; replyId: string }> {
  const start = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Open a conversation to watch' } }, key);
  expect(start.body.errors).toBeUndefined();
  return { conversationId: start.body.data?.chat.conversation.id, replyId: start.body.data?.chat.reply.id };
}

async function disconnectEarly(key: string, query: string, variables: (round: number) => Record<string, unknown>): Promise<void> {
  const field = /\{\s*(\w+)/.exec(query)?.[1] ?? '';
  const startedBefore = await startedSubscriptions(field);
  const disconnects: Promise<void>[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const delayMs of DISCONNECT_DELAYS_MS) {
      disconnects.push(
        postSseAndDisconnect(stack.graphqlUrl, query, variables(round * DISCONNECT_DELAYS_MS.length + delayMs), { authorization: `Bearer ${key}` }, delayMs),
      );
    }
  }
  await Promise.all(disconnects);
  const total = ROUNDS * DISCONNECT_DELAYS_MS.length;
  await waitFor(async () => ((await startedSubscriptions(field)) - startedBefore === total ? true : undefined), 5_000, `${total} started subscriptions`);
}

if (missing) console.warn(`skipped: early SSE disconnect tests, because ${missing}`);

describe.skipIf(missing !== undefined)('SSE client that disconnects right after sending', () => {
  beforeAll(startStack, 60_000);
  afterAll(stopStack);

  it('frees conversationEvents streams and their slots', async () => {
    const key = await stack.apiKey('quitter');
    const { conversationId } = await startConversation(key);
    await waitFor(() => (stack.app.services.chat.openStreams === 0 ? true : undefined), 5_000, 'no open streams');

    const restore = slowDatabase();
    try {
      await disconnectEarly(key, CONVERSATION_EVENTS, () => ({ id: conversationId }));
    } finally {
      restore();
    }

    await waitFor(() => (stack.app.services.chat.openStreams === 0 ? true : undefined), 5_000, 'the abandoned streams to close');
    await waitFor(async () => ((await openSubscriptions('conversationEvents')) === 0 ? true : undefined), 5_000, 'no open subscriptions');

    // Five slots are allowed, so a leak of even one would make the fifth subscription fail.
    const controllers = await Promise.all(Array.from({ length: 5 }, () => openSse(key, CONVERSATION_EVENTS, { id: conversationId })));
    await waitFor(() => (stack.app.services.chat.openStreams === 5 ? true : undefined), 5_000, 'five open streams');
    for (const controller of controllers) controller.abort();
    await waitFor(() => (stack.app.services.chat.openStreams === 0 ? true : undefined), 5_000, 'the watchers to close');
  });

  it('frees replyStream streams', async () => {
    const key = await stack.apiKey('replay-quitter');
    stack.model.chunkDelayMs = 30;
    const restore = slowDatabase();
    try {
      const { replyId } = await startConversation(key);
      await disconnectEarly(key, REPLY_STREAM, () => ({ messageId: replyId }));
      await waitFor(() => (stack.app.services.chat.openStreams === 0 ? true : undefined), 5_000, 'the abandoned streams to close');
      await waitFor(async () => ((await openSubscriptions('replyStream')) === 0 ? true : undefined), 5_000, 'no open subscriptions');
    } finally {
      restore();
      stack.model.chunkDelayMs = 0;
    }
  });

  it('frees chatStream streams and still completes their turns', async () => {
    const key = await stack.apiKey('chat-quitter');
    stack.model.chunkDelayMs = 30;
    const restore = slowDatabase();
    try {
      await disconnectEarly(key, CHAT_STREAM, (index) => ({ input: { message: `Say hello, turn ${index}` } }));
      await waitFor(() => (stack.app.services.chat.openStreams === 0 ? true : undefined), 5_000, 'the abandoned streams to close');
      await waitFor(async () => ((await openSubscriptions('chatStream')) === 0 ? true : undefined), 5_000, 'no open subscriptions');

      // A client that goes away does not stop the reply: every turn that started ends COMPLETED.
      const statuses = await waitFor(
        async () => {
          const rows = await stack.app.services.db
            .fork()
            .getConnection()
            .execute<{ status: string }[]>(`select status from messages where owner_id = ? and role = 'ASSISTANT'`, ['chat-quitter']);
          const found = rows.map((row) => row.status);
          return found.includes('STREAMING') ? undefined : found;
        },
        20_000,
        'every started turn to end',
      );
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.filter((status) => status !== 'COMPLETED')).toEqual([]);
    } finally {
      restore();
      stack.model.chunkDelayMs = 0;
    }
  });
});

/** Opens an SSE subscription, waits for its response headers and returns the controller that closes it. */
async function openSse(key: string, query: string, variables: Record<string, unknown>): Promise<AbortController> {
  const controller = new AbortController();
  const response = await fetch(stack.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  return controller;
}
