import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, collectWs, postGraphQL, wsClient } from '../support/clients.js';
import { CHAT_MUTATION, CHAT_STREAM, REPLY_STREAM, eventsOf, joinDeltas, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack();
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

function expectWellFormedReply(events: StreamedEvent[], messageId: string): void {
  expect(events[0]?.__typename).toBe('ReplyStarted');
  expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
  expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
  for (const event of events) expect(event.messageId).toBe(messageId);
  const deltas = events.filter((event) => event.__typename === 'ReplyDelta');
  expect(deltas.length).toBeGreaterThan(1);
}

async function storedReply(messageId: string) {
  const response = await postGraphQL(stack.graphqlUrl, `query($id: ID!) { message(id: $id) { content status role } }`, { id: messageId }, key);
  return response.body.data?.message as { content: string; status: string; role: string };
}

describe('chat turn', () => {
  it('streams a reply over graphql-ws after the chat mutation', async () => {
    const chat = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Hello there, agent' } }, key);
    expect(chat.status).toBe(200);
    const payload = chat.body.data?.chat;
    expect(payload.reply.status).toBe('STREAMING');
    expect(payload.userMessage).toMatchObject({ content: 'Hello there, agent', status: 'COMPLETED' });
    expect(payload.conversation.title).toBe('Hello there, agent');

    const client = wsClient(stack.wsUrl, key);
    const stream = collectWs(client, REPLY_STREAM, { messageId: payload.reply.id });
    await stream.done;
    await client.dispose();

    const events = eventsOf(stream.results, 'replyStream');
    expectWellFormedReply(events, payload.reply.id);
    const text = joinDeltas(events);
    expect(text).toContain('scripted demo model');
    const completed = events.at(-1) as StreamedEvent & { message: { content: string; status: string } };
    expect(completed.message.content).toBe(text);
    expect(completed.message.status).toBe('COMPLETED');
    expect(await storedReply(payload.reply.id)).toEqual({ content: text, status: 'COMPLETED', role: 'ASSISTANT' });
  });

  it('streams chatStream over SSE', async () => {
    const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Is the kitchen light on?' } });
    await stream.done;
    const events = eventsOf(stream.results, 'chatStream');
    const messageId = events[0]?.messageId as string;
    expectWellFormedReply(events, messageId);
    expect(events.some((event) => event.__typename === 'ToolCallFinished')).toBe(true);
    const text = joinDeltas(events);
    expect(text).toMatch(/Kitchen Light is (on|off)/);
    expect(await storedReply(messageId)).toMatchObject({ content: text, status: 'COMPLETED' });
  });

  it('streams chatStream over graphql-ws', async () => {
    const client = wsClient(stack.wsUrl, key);
    const stream = collectWs(client, CHAT_STREAM, { input: { message: 'Say something nice' } });
    await stream.done;
    await client.dispose();
    const events = eventsOf(stream.results, 'chatStream');
    expectWellFormedReply(events, events[0]?.messageId as string);
    expect(await storedReply(events[0]?.messageId as string)).toMatchObject({ content: joinDeltas(events) });
  });

  it('sends the model the request it expects', async () => {
    const before = stack.model.requests.length;
    const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Hello again' } });
    await stream.done;
    const request = stack.model.requests[before];
    expect(request?.headers.authorization).toBe('Bearer sk-test-fake-openai-key-0000000000000000');
    expect(request?.body.stream).toBe(true);
    expect(request?.body.stream_options).toEqual({ include_usage: true });
    expect(request?.body.model).toBe('scripted-demo-model');
    expect(request?.body.tools.map((tool: { function: { name: string } }) => tool.function.name)).toEqual([
      'search_entities',
      'get_states',
      'get_history',
      'list_services',
      'call_service',
      'validate_automation',
      'create_automation',
      'delete_automation',
    ]);
    // OPENAI_BASE_URL is set and OPENAI_PROMPT_CACHE_KEY is not, so the field stays out.
    expect(request?.body).not.toHaveProperty('prompt_cache_key');
    expect(request?.body.messages[0].role).toBe('system');
    expect(request?.body.messages.at(-1)).toEqual({ role: 'user', content: 'Hello again' });
  });

  it('continues a conversation with its history', async () => {
    const first = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'First message here' } }, key);
    const conversationId = first.body.data?.chat.conversation.id as string;
    const client = wsClient(stack.wsUrl, key);
    await collectWs(client, REPLY_STREAM, { messageId: first.body.data?.chat.reply.id }).done;

    const before = stack.model.requests.length;
    const second = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Second message here', conversationId } }, key);
    expect(second.body.data?.chat.conversation.id).toBe(conversationId);
    await collectWs(client, REPLY_STREAM, { messageId: second.body.data?.chat.reply.id }).done;
    await client.dispose();

    const messages = stack.model.requests[before]?.body.messages as { role: string; content: string }[];
    const dialogue = messages.filter((message) => message.role !== 'system').map((message) => [message.role, message.content]);
    expect(dialogue[0]).toEqual(['user', 'First message here']);
    expect(dialogue[1]?.[0]).toBe('assistant');
    expect(dialogue.at(-1)).toEqual(['user', 'Second message here']);

    const listed = await postGraphQL(
      stack.graphqlUrl,
      `query($id: ID!) { conversation(id: $id) { messages(first: 10) { edges { node { role content status } } pageInfo { hasNextPage } } } }`,
      { id: conversationId },
      key,
    );
    const nodes = listed.body.data?.conversation.messages.edges.map((edge: { node: unknown }) => edge.node);
    expect(nodes.map((node: { role: string }) => node.role)).toEqual(['USER', 'ASSISTANT', 'USER', 'ASSISTANT']);
    expect(nodes.every((node: { status: string }) => node.status === 'COMPLETED')).toBe(true);
  });

  it('keeps replying after the subscriber disconnects', async () => {
    stack.model.chunkDelayMs = 30;
    try {
      const client = wsClient(stack.wsUrl, key);
      const stream = collectWs(client, CHAT_STREAM, { input: { message: 'Tell me a long story about a lamp' } });
      while (stream.results.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      const messageId = eventsOf(stream.results, 'chatStream')[0]?.messageId as string;
      await client.dispose();

      let reply = await storedReply(messageId);
      for (let attempt = 0; reply.status === 'STREAMING' && attempt < 200; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        reply = await storedReply(messageId);
      }
      expect(reply.status).toBe('COMPLETED');
      expect(reply.content.length).toBeGreaterThan(10);
    } finally {
      stack.model.chunkDelayMs = 0;
    }
  });
});
