import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/db/uuid.js';
import { collectSse, postGraphQL, waitFor } from '../support/clients.js';
import { openRawSse } from '../support/raw-sse.js';
import { CHAT_MUTATION, CHAT_STREAM, eventsOf, REPLY_STREAM, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Threat: a user who learns (or guesses) another user's conversation, message or reply ids. Every
 * operation must answer exactly as for an id that does not exist: the same status, the same body, the
 * same database queries (so the same timing), and no side effect on the owner's data.
 */

let stack: TestStack;
let alice: string;
let bob: string;
const ids = { conversation: '', userMessage: '', reply: '', streamingReply: '', toolCall: '' };

interface Knex {
  on(event: 'query', listener: (query: { sql: string; bindings?: unknown[] }) => void): void;
  off(event: 'query', listener: (query: { sql: string; bindings?: unknown[] }) => void): void;
}

/** Runs `work` and returns the SQL it caused, with ids and numbers replaced, key bookkeeping left out. */
async function queriesOf(work: () => Promise<unknown>): Promise<string[]> {
  const knex = (stack.app.services.db.orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
  const seen: string[] = [];
  const listener = (query: { sql: string; bindings?: unknown[] }) => {
    const text = `${query.sql} ${JSON.stringify(query.bindings ?? [])}`;
    if (text.includes('api_keys')) return;
    seen.push(text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>').replace(/\b\d{10,}\b/g, '<number>'));
  };
  knex.on('query', listener);
  try {
    await work();
  } finally {
    knex.off('query', listener);
  }
  return seen;
}

/** Sends an operation over HTTP and returns status and body with request ids removed. */
async function ask(query: string, variables: Record<string, unknown>, token = bob) {
  const response = await postGraphQL(stack.graphqlUrl, query, variables, token);
  return { status: response.status, body: JSON.parse(JSON.stringify(response.body).replace(/"requestId":"[^"]+"/g, '"requestId":"…"')) };
}

/** Subscribes over SSE and returns every event with request ids removed. */
async function subscribe(query: string, variables: Record<string, unknown>, token = bob) {
  const stream = await openRawSse(stack.graphqlUrl, query, variables, { authorization: `Bearer ${token}` });
  await stream.done;
  return { status: stream.status, events: stream.events };
}

beforeAll(async () => {
  stack = await startTestStack();
  alice = await stack.apiKey('alice');
  bob = await stack.apiKey('bob');

  const first = collectSse(stack.graphqlUrl, alice, CHAT_STREAM, { input: { message: 'Turn on the kitchen light', clientMessageId: 'alice-retry-key' } });
  await first.done;
  const events = eventsOf(first.results, 'chatStream');
  ids.reply = events[0]?.messageId as string;
  ids.conversation = events[0]?.conversationId as string;
  ids.toolCall = (events.find((event) => event.__typename === 'ToolCallFinished')?.toolCall as { id: string } | undefined)?.id as string;
  const history = await postGraphQL(
    stack.graphqlUrl,
    'query($id: ID!) { conversation(id: $id) { messages { edges { node { id role } } } } }',
    { id: ids.conversation },
    alice,
  );
  ids.userMessage = history.body.data?.conversation.messages.edges[0].node.id;

  // A reply that keeps streaming while the tests run: the model stalls after a few chunks.
  stack.model.enqueue({ kind: 'stall', afterChunks: 2 });
  const streaming = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Tell me a long story', conversationId: ids.conversation } }, alice);
  ids.streamingReply = streaming.body.data?.chat.reply.id;
  await waitFor(() => (stack.model.requests.at(-1)?.body.messages?.at(-1)?.content === 'Tell me a long story' ? true : undefined));
});

afterAll(async () => {
  await postGraphQL(stack.graphqlUrl, 'mutation($id: ID!) { cancelReply(messageId: $id) { status } }', { id: ids.streamingReply }, alice);
  await stack.close();
});

/** Each operation with a variable set built from an id: a foreign one in the tests, or a fresh one. */
const OPERATIONS: { name: string; kind: 'http' | 'sse'; query: string; variables: (id: (key: keyof typeof ids) => string) => Record<string, unknown> }[] = [
  { name: 'conversation', kind: 'http', query: 'query($id: ID!) { conversation(id: $id) { id title } }', variables: (id) => ({ id: id('conversation') }) },
  { name: 'message (user)', kind: 'http', query: 'query($id: ID!) { message(id: $id) { id content } }', variables: (id) => ({ id: id('userMessage') }) },
  {
    name: 'message (reply)',
    kind: 'http',
    query: 'query($id: ID!) { message(id: $id) { id content toolCalls { id } } }',
    variables: (id) => ({ id: id('reply') }),
  },
  {
    name: 'renameConversation',
    kind: 'http',
    query: 'mutation($id: ID!) { renameConversation(id: $id, title: "Mine now") { id } }',
    variables: (id) => ({ id: id('conversation') }),
  },
  {
    name: 'deleteConversation',
    kind: 'http',
    query: 'mutation($id: ID!) { deleteConversation(id: $id) { deleted } }',
    variables: (id) => ({ id: id('conversation') }),
  },
  {
    name: 'cancelReply (streaming)',
    kind: 'http',
    query: 'mutation($id: ID!) { cancelReply(messageId: $id) { id status } }',
    variables: (id) => ({ id: id('streamingReply') }),
  },
  {
    name: 'cancelReply (ended)',
    kind: 'http',
    query: 'mutation($id: ID!) { cancelReply(messageId: $id) { id status } }',
    variables: (id) => ({ id: id('reply') }),
  },
  {
    name: 'chat into a conversation',
    kind: 'http',
    query: CHAT_MUTATION,
    variables: (id) => ({ input: { message: 'Unlock the front door', conversationId: id('conversation') } }),
  },
  { name: 'replyStream (ended)', kind: 'sse', query: REPLY_STREAM, variables: (id) => ({ messageId: id('reply') }) },
  { name: 'replyStream (streaming)', kind: 'sse', query: REPLY_STREAM, variables: (id) => ({ messageId: id('streamingReply'), after: 0 }) },
  { name: 'replyStream of a user message', kind: 'sse', query: REPLY_STREAM, variables: (id) => ({ messageId: id('userMessage') }) },
  {
    name: 'conversationEvents',
    kind: 'sse',
    query: 'subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }',
    variables: (id) => ({ id: id('conversation') }),
  },
  {
    name: 'chatStream into a conversation',
    kind: 'sse',
    query: CHAT_STREAM,
    variables: (id) => ({ input: { message: 'Unlock the front door', conversationId: id('conversation') } }),
  },
];

const run = (operation: (typeof OPERATIONS)[number], variables: Record<string, unknown>) =>
  operation.kind === 'http' ? ask(operation.query, variables) : subscribe(operation.query, variables);

describe("another user's ids", () => {
  it('get the same answer as ids that do not exist', async () => {
    for (const operation of OPERATIONS) {
      const foreign = await run(
        operation,
        operation.variables((key) => ids[key]),
      );
      const unknown = await run(
        operation,
        operation.variables(() => uuidv7()),
      );
      expect(foreign, operation.name).toEqual(unknown);
      const text = JSON.stringify(foreign);
      expect(text, operation.name).not.toMatch(/"data":\{"(conversation|message)":\{/);
      expect(text, operation.name).not.toContain('kitchen');
    }
  });

  it('run the same database queries as ids that do not exist', async () => {
    for (const operation of OPERATIONS) {
      const foreign = await queriesOf(() =>
        run(
          operation,
          operation.variables((key) => ids[key]),
        ),
      );
      const unknown = await queriesOf(() =>
        run(
          operation,
          operation.variables(() => uuidv7()),
        ),
      );
      expect(foreign, operation.name).toEqual(unknown);
      // Every lookup by id is filtered by the caller, so the owner's row is never even read.
      expect(
        foreign.some((query) => query.includes('"bob"') || query.includes("'bob'")),
        operation.name,
      ).toBe(true);
      expect(foreign.join('\n'), operation.name).not.toContain('alice');
    }
  });

  it('take about as long as ids that do not exist', async () => {
    const operation = OPERATIONS.find((candidate) => candidate.name === 'renameConversation') as (typeof OPERATIONS)[number];
    const timings: Record<'foreign' | 'unknown', number[]> = { foreign: [], unknown: [] };
    for (let round = 0; round < 30; round += 1) {
      for (const kind of round % 2 === 0 ? (['foreign', 'unknown'] as const) : (['unknown', 'foreign'] as const)) {
        const variables = operation.variables(kind === 'foreign' ? (key) => ids[key] : () => uuidv7());
        const started = performance.now();
        await run(operation, variables);
        timings[kind].push(performance.now() - started);
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    const [foreign, unknown] = [median(timings.foreign), median(timings.unknown)];
    // A loose bound: the machine is shared, and the structural proof is the query test above.
    expect(Math.abs(foreign - unknown)).toBeLessThan(Math.max(5, 0.5 * Math.min(foreign, unknown)));
  });

  it('change nothing of the owner', async () => {
    const after = await postGraphQL(
      stack.graphqlUrl,
      'query($c: ID!, $r: ID!) { conversation(id: $c) { title messages { edges { node { id } } } } streaming: message(id: $r) { status } }',
      { c: ids.conversation, r: ids.streamingReply },
      alice,
    );
    expect(after.body.data?.conversation.title).toBe('Turn on the kitchen light');
    expect(after.body.data?.conversation.messages.edges).toHaveLength(4);
    expect(after.body.data?.streaming.status).toBe('STREAMING');
    expect(stack.homeAssistant.serviceCalls.filter((call) => call.domain === 'lock')).toEqual([]);
  });

  it('never appear in the other user list', async () => {
    const list = await ask('{ conversations { edges { node { id } } } }', {});
    expect(list.body).toEqual({ data: { conversations: { edges: [] } } });
  });

  it('keep a clientMessageId per user', async () => {
    const response = await postGraphQL(
      stack.graphqlUrl,
      CHAT_MUTATION,
      { input: { message: 'My own first message', clientMessageId: 'alice-retry-key' } },
      bob,
    );
    const turn = response.body.data?.chat;
    expect(turn.conversation.id).not.toBe(ids.conversation);
    expect(turn.userMessage.content).toBe('My own first message');
    await collectSse(stack.graphqlUrl, bob, REPLY_STREAM, { messageId: turn.reply.id }).done;
  });
});
