import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from 'gpt-tokenizer';
import { conversationTopic } from '../../src/agent/chat-events.js';
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

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const CANCEL = `mutation($id: ID!) { cancelReply(messageId: $id) { id status content completedAt } }`;

describe('cancelReply', () => {
  it('stops the model, keeps the text and ends the stream', async () => {
    stack.model.chunkDelayMs = 40;
    try {
      const requestsBefore = stack.model.requests.length;
      const client = wsClient(stack.wsUrl, key);
      const stream = collectWs(client, CHAT_STREAM, { input: { message: 'Please write a long answer that I will cancel' } });
      await until(() => stream.results.filter((result) => result.data?.chatStream.__typename === 'ReplyDelta').length >= 3, 'three deltas');
      const messageId = eventsOf(stream.results, 'chatStream')[0]?.messageId as string;

      const cancelled = await postGraphQL(stack.graphqlUrl, CANCEL, { id: messageId }, key);
      expect(cancelled.body.errors, JSON.stringify(cancelled.body.errors)).toBeUndefined();
      expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
      expect(cancelled.body.data?.cancelReply.completedAt).not.toBeNull();

      await stream.done;
      await client.dispose();
      const events = eventsOf(stream.results, 'chatStream');
      const last = events.at(-1) as StreamedEvent & { message: { content: string; status: string } };
      expect(last.__typename).toBe('ReplyCancelled');
      const text = joinDeltas(events);
      expect(text.length).toBeGreaterThan(0);
      expect(last.message).toMatchObject({ content: text, status: 'CANCELLED' });
      expect(cancelled.body.data?.cancelReply.content).toBe(text);

      const upstream = stack.model.requests[requestsBefore];
      await until(() => upstream?.aborted === true, 'the model to see its connection closed');
      expect(upstream?.finished).toBe(false);

      const again = await postGraphQL(stack.graphqlUrl, CANCEL, { id: messageId }, key);
      expect(again.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(again.status).toBe(409);

      const replay = collectSse(stack.graphqlUrl, key, REPLY_STREAM, { messageId });
      await replay.done;
      expect(eventsOf(replay.results, 'replyStream')).toEqual(events);
    } finally {
      stack.model.chunkDelayMs = 0;
    }
  });

  it('gives CONFLICT for a reply that already completed', async () => {
    const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Short one' } });
    await stream.done;
    const messageId = eventsOf(stream.results, 'chatStream')[0]?.messageId as string;
    const response = await postGraphQL(stack.graphqlUrl, CANCEL, { id: messageId }, key);
    expect(response.body.errors?.[0]).toMatchObject({ message: 'The reply has already ended (COMPLETED).', extensions: { code: 'CONFLICT' } });
  });
});

describe('idempotent chat', () => {
  it('creates one turn for two simultaneous requests with one clientMessageId', async () => {
    const user = await stack.apiKey('phone-user');
    const requestsBefore = stack.model.requests.length;
    const input = { message: 'Turn on the kitchen light', clientMessageId: 'phone-retry-1' };
    const [first, second] = await Promise.all([
      postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input }, user),
      postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input }, user),
    ]);
    expect(first.body.errors).toBeUndefined();
    expect(second.body.errors).toBeUndefined();
    expect(second.body.data?.chat).toEqual(first.body.data?.chat);

    const replyId = first.body.data?.chat.reply.id as string;
    const client = wsClient(stack.wsUrl, user);
    await collectWs(client, REPLY_STREAM, { messageId: replyId }).done;
    await client.dispose();

    const third = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input }, user);
    expect(third.body.data?.chat.reply.id).toBe(replyId);
    expect(third.body.data?.chat.userMessage).toEqual(first.body.data?.chat.userMessage);

    const list = await postGraphQL(stack.graphqlUrl, '{ conversations { edges { node { messages { edges { node { role } } } } } } }', {}, user);
    expect(list.body.data?.conversations.edges).toHaveLength(1);
    expect(list.body.data?.conversations.edges[0].node.messages.edges).toHaveLength(2);
    const turnRequests = stack.model.requests
      .slice(requestsBefore)
      .filter((request) =>
        request.body.messages.some((message: { role: string; content: string }) => message.role === 'user' && message.content === input.message),
      );
    // One turn of this rule sends the model three requests: search, call the service, reply.
    expect(turnRequests).toHaveLength(3);
  });

  it('keeps clientMessageId per user', async () => {
    const one = await stack.apiKey('user-one');
    const two = await stack.apiKey('user-two');
    const input = { message: 'Hello', clientMessageId: 'same-key' };
    const first = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input }, one);
    const second = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input }, two);
    expect(second.body.data?.chat.reply.id).not.toBe(first.body.data?.chat.reply.id);
  });

  it('refuses a reused clientMessageId', async () => {
    const user = await stack.apiKey('reusing-user');
    const first = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Hello', clientMessageId: 'reused-key' } }, user);
    const other = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Something else', clientMessageId: 'reused-key' } }, user);
    const elsewhere = await postGraphQL(
      stack.graphqlUrl,
      CHAT_MUTATION,
      { input: { message: 'Hello', clientMessageId: 'reused-key', conversationId: '0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d' } },
      user,
    );
    const same = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Hello', clientMessageId: 'reused-key' } }, user);

    expect(first.body.errors).toBeUndefined();
    expect(other.status).toBe(409);
    expect(other.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(other.body.errors?.[0]?.message).toBe('This clientMessageId was already used for a different message. Use a new one for each message.');
    expect(elsewhere.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(same.body.data?.chat.reply.id).toBe(first.body.data?.chat.reply.id);
  });
});

describe('conversationEvents', () => {
  it('delivers every event of two consecutive turns to two subscribers', async () => {
    const start = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Open a conversation' } }, key);
    const conversationId = start.body.data?.chat.conversation.id as string;
    const client = wsClient(stack.wsUrl, key);
    await collectWs(client, REPLY_STREAM, { messageId: start.body.data?.chat.reply.id }).done;

    const query = `subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename ... on ReplyStarted { sequence messageId } ... on ReplyDelta { sequence messageId text } ... on ToolCallStarted { sequence messageId } ... on ToolCallFinished { sequence messageId } ... on ReplyCompleted { sequence messageId } } }`;
    const watchers = [collectWs(client, query, { id: conversationId }), collectWs(wsClient(stack.wsUrl, key), query, { id: conversationId })];
    // Live-only subscriptions miss what comes before they are registered. A probe event on the
    // conversation's topic shows when both are listening, and the probes are left out of the comparison.
    const isProbe = (result: { data?: Record<string, any> | null }) => result.data?.conversationEvents.text === 'probe';
    await until(() => {
      stack.app.bus.publish(conversationTopic(conversationId), { type: 'ReplyDelta', sequence: 0, messageId: conversationId, text: 'probe' });
      return watchers.every((watcher) => watcher.results.some(isProbe));
    }, 'both watchers to listen');
    const watched = (watcher: (typeof watchers)[number]) => watcher.results.filter((result) => !isProbe(result));

    const turns: StreamedEvent[][] = [];
    for (const message of ['Is the kitchen light on?', 'Say hello']) {
      const stream = collectWs(client, CHAT_STREAM, { input: { message, conversationId } });
      await stream.done;
      turns.push(eventsOf(stream.results, 'chatStream'));
    }
    const expected = turns
      .flat()
      .map((event) => ({ __typename: event.__typename, sequence: event.sequence, messageId: event.messageId, ...(event.text ? { text: event.text } : {}) }));

    await until(() => watchers.every((watcher) => watched(watcher).length >= expected.length), 'both watchers to see both turns');
    for (const watcher of watchers) {
      expect(eventsOf(watched(watcher), 'conversationEvents')).toEqual(expected);
      watcher.cancel();
    }
    await client.dispose();
  });

  it('frees closed subscriptions of a quiet conversation', async () => {
    const start = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Open a quiet conversation' } }, key);
    const conversationId = start.body.data?.chat.conversation.id as string;
    const client = wsClient(stack.wsUrl, key);
    await collectWs(client, REPLY_STREAM, { messageId: start.body.data?.chat.reply.id }).done;
    await until(() => stack.app.services.chat.openStreams === 0, 'the reply stream to close');

    const query = 'subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }';
    const watchers = Array.from({ length: 20 }, () => collectWs(client, query, { id: conversationId }));
    await until(() => stack.app.services.chat.openStreams === 20, 'twenty open streams');
    for (const watcher of watchers) watcher.cancel();

    // Nothing is published in the conversation, so only closing the streams can free them.
    await until(() => stack.app.services.chat.openStreams === 0, 'the closed streams to be freed', 2_000);
    expect(stack.app.services.chat.openStreams).toBe(0);
    await client.dispose();
  });
});

describe('prompt budget', () => {
  it('sends the newest history that fits and accounts for every part', async () => {
    const small = await startTestStack({ env: { OPENAI_MAX_INPUT_TOKENS: '3500' } });
    try {
      const user = await small.apiKey('alice');
      let conversationId: string | undefined;
      const client = wsClient(small.wsUrl, user);
      for (let index = 0; index < 6; index += 1) {
        const message = `Turn ${index}: ${'please remember this sentence about the garden lights. '.repeat(6)}`;
        const stream = collectWs(client, CHAT_STREAM, { input: { message, ...(conversationId ? { conversationId } : {}) } });
        await stream.done;
        conversationId ??= eventsOf(stream.results, 'chatStream')[0]?.conversationId as string;
      }

      const before = small.model.requests.length;
      const last = collectWs(client, CHAT_STREAM, { input: { message: 'And now a short question', conversationId } });
      await last.done;
      await client.dispose();
      const messageId = eventsOf(last.results, 'chatStream')[0]?.messageId as string;

      const sent = small.model.requests[before]?.body.messages as { role: string; content: string }[];
      const history = sent.slice(0, -1).filter((message) => message.role !== 'system');
      const stored = await postGraphQL(
        small.graphqlUrl,
        `query($c: ID!, $m: ID!) { conversation(id: $c) { messages(first: 100) { edges { node { role content } } } } message(id: $m) { usage { prompt { system context history historyMessages message tools } } } }`,
        { c: conversationId, m: messageId },
        user,
      );
      const all = stored.body.data?.conversation.messages.edges.map((edge: { node: { role: string; content: string } }) => ({
        role: edge.node.role.toLowerCase(),
        content: edge.node.content,
      }));
      const earlier = all.slice(0, -2);

      expect(history.length).toBeGreaterThan(0);
      expect(history.length).toBeLessThan(earlier.length);
      expect(history).toEqual(earlier.slice(earlier.length - history.length));
      expect(history[0]?.role).toBe('user');

      const prompt = stored.body.data?.message.usage.prompt;
      expect(prompt.historyMessages).toBe(history.length);
      expect(prompt.history).toBe(history.reduce((sum, message) => sum + countTokens(message.content, { disallowedSpecial: new Set() }) + 4, 0));
      expect(prompt.message).toBe(countTokens('And now a short question') + 4);
      expect(prompt.system + prompt.context + prompt.history + prompt.message + prompt.tools).toBeLessThanOrEqual(3500);
      // The builder stops at the first older message that does not fit. An assistant reply that fit but
      // would start the history alone is left out too, so the message before it is the one over budget.
      const used = prompt.system + prompt.context + prompt.history + prompt.message + prompt.tools;
      const cost = (message: { content: string }) => countTokens(message.content, { disallowedSpecial: new Set() }) + 4;
      const unsent = earlier.slice(0, earlier.length - history.length);
      const nextOlder = unsent.at(-1);
      if (nextOlder.role === 'assistant' && used + cost(nextOlder) <= 3500) {
        expect(used + cost(nextOlder) + cost(unsent.at(-2))).toBeGreaterThan(3500);
      } else {
        expect(used + cost(nextOlder)).toBeGreaterThan(3500);
      }
    } finally {
      await small.close();
    }
  });

  it('rejects a message that cannot fit with the system prompt', async () => {
    const small = await startTestStack({ env: { OPENAI_MAX_INPUT_TOKENS: '800' } });
    try {
      const user = await small.apiKey('alice');
      const response = await postGraphQL(small.graphqlUrl, CHAT_MUTATION, { input: { message: 'lights '.repeat(600) } }, user);
      expect(response.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.message).toContain('the limit is 800 tokens');
      const list = await postGraphQL(small.graphqlUrl, '{ conversations { edges { node { id } } } }', {}, user);
      expect(list.body.data?.conversations.edges).toEqual([]);
    } finally {
      await small.close();
    }
  });
});
