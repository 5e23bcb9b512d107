import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient, type Collected } from '../support/clients.js';
import { CHAT_STREAM, eventsOf, joinDeltas, setHomeState, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack.close();
});

const EXPORT = '{ exportMyData }';
const DELETE_MY_DATA = 'mutation { deleteMyData { id deleted } }';

async function chat(token: string, message: string, conversationId?: string): Promise<StreamedEvent[]> {
  const stream = collectSse(stack.graphqlUrl, token, CHAT_STREAM, { input: { message, ...(conversationId ? { conversationId } : {}) } });
  await stream.done;
  return eventsOf(stream.results, 'chatStream');
}

async function countRows(table: string, column: string, value: string): Promise<number> {
  const rows = await stack.app.services.db.fork().getConnection().execute<{ n: number }[]>(`select count(*) as n from ${table} where ${column} = ?`, [value]);
  return Number(rows[0]?.n);
}

interface ExportedMessage {
  id: string;
  role: string;
  content: string;
  status: string;
  toolCalls: { name: string; arguments: Record<string, unknown>; result: unknown; status: string }[];
  events: { sequence: number; type: string; text?: string }[];
}

describe('exportMyData', () => {
  it('returns every conversation, message, tool call, event and key of the caller only', async () => {
    const carol = await stack.apiKey('carol');
    await stack.apiKey('carol', ['chat', 'read']);
    const dan = await stack.apiKey('dan');
    await setHomeState(stack, 'light.kitchen', 'off');
    const first = await chat(carol, 'Turn on the kitchen light');
    await chat(carol, 'Carol asks a second question', first[0]?.conversationId as string);
    await chat(carol, 'Carol starts another conversation');
    await chat(dan, 'Dan secret about the garage');

    const response = await postGraphQL(stack.graphqlUrl, EXPORT, {}, carol);
    expect(response.body.errors).toBeUndefined();
    const document = response.body.data?.exportMyData;
    expect(document.format).toBe('ha-ai-agent.user-export.v1');
    expect(document.userId).toBe('carol');
    expect(Number.isNaN(Date.parse(document.exportedAt))).toBe(false);
    expect(document.conversations).toHaveLength(2);

    const [kitchen, other] = document.conversations as { title: string; messages: ExportedMessage[] }[];
    expect(kitchen?.title).toBe('Turn on the kitchen light');
    expect(kitchen?.messages.map((message) => message.role)).toEqual(['USER', 'ASSISTANT', 'USER', 'ASSISTANT']);
    expect(kitchen?.messages[2]?.content).toBe('Carol asks a second question');
    expect(other?.title).toBe('Carol starts another conversation');

    const reply = kitchen?.messages[1] as ExportedMessage;
    expect(reply.status).toBe('COMPLETED');
    expect(reply.toolCalls.map((call) => call.name)).toEqual(['search_entities', 'call_service']);
    expect(reply.toolCalls[1]?.arguments).toMatchObject({ domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'] });
    expect(reply.toolCalls[1]?.result).toMatchObject({ service: 'light.turn_on', outcome: 'changed' });
    expect(reply.events.map((event) => event.sequence)).toEqual(reply.events.map((_, index) => index + 1));
    expect(reply.events[0]?.type).toBe('ReplyStarted');
    expect(reply.events.at(-1)?.type).toBe('ReplyCompleted');
    expect(
      reply.events
        .filter((event) => event.type === 'ReplyDelta')
        .map((event) => event.text)
        .join(''),
    ).toBe(reply.content);
    expect(reply.events.map((event) => ({ sequence: event.sequence, type: event.type }))).toEqual(
      first.map((event) => ({ sequence: event.sequence, type: event.__typename })),
    );

    expect(document.apiKeys).toHaveLength(2);
    expect(document.apiKeys[1].scopes).toEqual(['chat', 'read']);
    expect(document.createdAutomations).toEqual([]);
    expect(document.tokenUsage).toHaveLength(1);
    expect(document.tokenUsage[0].day).toBe(new Date().toISOString().slice(0, 10));
    expect(Number(document.tokenUsage[0].tokens)).toBeGreaterThan(0);
    const text = JSON.stringify(document);
    expect(text).not.toContain('secretHash');
    expect(text).not.toContain(carol);
    expect(text).not.toContain('Dan secret');
  });

  it('needs the read scope', async () => {
    const chatOnly = await stack.apiKey('erin', ['chat']);
    const response = await postGraphQL(stack.graphqlUrl, EXPORT, {}, chatOnly);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('deleteMyData', () => {
  it('deletes everything of the caller, cancelling a streaming reply first', async () => {
    const frank = await stack.apiKey('frank');
    const grace = await stack.apiKey('grace');
    const kept = await chat(grace, 'Grace keeps her conversation');
    const done = await chat(frank, 'Turn on the kitchen light');
    const frankConversation = done[0]?.conversationId as string;
    const frankReply = done[0]?.messageId as string;

    const client = wsClient(stack.wsUrl, frank);
    const watcher = collectWs(client, `subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }`, { id: frankConversation });
    stack.model.chunkDelayMs = 40;
    let streaming: Collected | undefined;
    try {
      streaming = collectWs(client, CHAT_STREAM, { input: { message: 'Please write a long answer while I delete everything' } });
      const started = streaming;
      await waitFor(() => (started.results.length >= 3 ? true : undefined), 10_000, 'a streaming reply');
      const deleted = await postGraphQL(stack.graphqlUrl, DELETE_MY_DATA, {}, frank);
      expect(deleted.body.errors).toBeUndefined();
      expect(deleted.body.data?.deleteMyData).toEqual({ id: 'frank', deleted: true });
    } finally {
      stack.model.chunkDelayMs = 0;
    }

    if (!streaming) throw new Error('The streaming turn did not start.');
    await streaming.done;
    await watcher.done;
    await client.dispose();
    // The reply is cancelled before anything is deleted. Deleting frank's keys then ends his open
    // streams, so the stream may close with that error before or after it delivers ReplyCancelled.
    const delivered = streaming.results.filter((result) => !result.errors);
    const ending = streaming.results.at(-1);
    if (ending?.errors) expect(ending.errors[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    else expect(eventsOf(delivered, 'chatStream').at(-1)?.__typename).toBe('ReplyCancelled');
    const streamed = eventsOf(delivered, 'chatStream');
    expect(streamed.every((event) => event.__typename !== 'ReplyCompleted')).toBe(true);

    for (const [table, column] of [
      ['conversations', 'owner_id'],
      ['messages', 'owner_id'],
      ['tool_calls', 'owner_id'],
      ['api_keys', 'user_id'],
    ] as const) {
      expect(await countRows(table, column, 'frank'), table).toBe(0);
    }
    expect(await countRows('reply_events', 'message_id', frankReply)).toBe(0);

    expect(await countRows('messages', 'owner_id', 'grace')).toBe(2);
    const graceView = await postGraphQL(stack.graphqlUrl, `query($id: ID!) { conversation(id: $id) { title } }`, { id: kept[0]?.conversationId }, grace);
    expect(graceView.body.data?.conversation.title).toBe('Grace keeps her conversation');

    const afterwards = await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, frank);
    expect(afterwards.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const again = await postGraphQL(stack.graphqlUrl, DELETE_MY_DATA, {}, await stack.apiKey('frank'));
    expect(again.body.data?.deleteMyData).toEqual({ id: 'frank', deleted: true });
    const empty = await postGraphQL(stack.graphqlUrl, DELETE_MY_DATA, {}, await stack.jwt('frank'));
    expect(empty.body.data?.deleteMyData).toEqual({ id: 'frank', deleted: false });
    expect(joinDeltas(streamed).length).toBeGreaterThan(0);
  });
});
