import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageSchema } from '../../src/conversations/message.entity.js';
import { ReplyEventSchema } from '../../src/conversations/reply-event.entity.js';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient, type GraphQLResponse } from '../support/clients.js';
import { CHAT_MUTATION, REPLY_STREAM, startTestStack, type TestStack } from '../support/stack.js';

function codeOf(response: GraphQLResponse): string | undefined {
  return response.body.errors?.[0]?.extensions?.code as string | undefined;
}

/** Follows a reply to its end. */
async function untilEnded(stack: TestStack, key: string, messageId: string): Promise<void> {
  const client = wsClient(stack.wsUrl, key);
  await collectWs(client, REPLY_STREAM, { messageId }).done;
  await client.dispose();
}

const CANCEL = `mutation($id: ID!) { cancelReply(messageId: $id) { status } }`;

describe('concurrent replies', () => {
  let stack: TestStack;

  /**
   * Starts a turn whose model stream stalls after its first text, so the reply stays STREAMING until
   * the test cancels it, and waits until the model has the request.
   */
  async function stalledTurn(key: string, input: Record<string, unknown>): Promise<GraphQLResponse> {
    const requestsBefore = stack.model.requests.length;
    stack.model.enqueue({ kind: 'stall', afterChunks: 2 });
    const response = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input }, key);
    expect(response.body.errors).toBeUndefined();
    await waitFor(() => (stack.model.requests.length > requestsBefore ? true : undefined), 5_000, 'the model request');
    return response;
  }

  async function cancel(key: string, response: GraphQLResponse): Promise<void> {
    const cancelled = await postGraphQL(stack.graphqlUrl, CANCEL, { id: response.body.data?.chat.reply.id }, key);
    expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
  }

  beforeAll(async () => {
    stack = await startTestStack({ env: { MAX_CONCURRENT_REPLIES_PER_USER: '2' } });
  });

  afterAll(async () => {
    await stack.close();
  });

  it('refuses a third streaming reply of one user with CONFLICT', async () => {
    const key = await stack.apiKey('busy-user');
    const other = await stack.apiKey('other-user');
    const first = await stalledTurn(key, { message: 'Say hello' });
    const second = await stalledTurn(key, { message: 'Say hello again' });

    const third = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'One too many' } }, key);
    const otherUser = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello' } }, other);

    expect(third.status).toBe(409);
    expect(codeOf(third)).toBe('CONFLICT');
    expect(third.body.errors?.[0]?.message).toContain('You have 2 replies being written already');
    expect(otherUser.body.errors).toBeUndefined();

    await cancel(key, first);
    const afterCancel = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Now there is room' } }, key);
    expect(afterCancel.body.errors).toBeUndefined();
    await untilEnded(stack, key, afterCancel.body.data?.chat.reply.id);
    await cancel(key, second);
  });

  it('allows one streaming reply per conversation', async () => {
    const key = await stack.apiKey('conversation-user');
    const first = await stalledTurn(key, { message: 'Say hello' });
    const conversationId = first.body.data?.chat.conversation.id as string;

    const overlapping = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Are you done?', conversationId } }, key);
    expect(overlapping.status).toBe(409);
    expect(codeOf(overlapping)).toBe('CONFLICT');
    expect(overlapping.body.errors?.[0]?.message).toBe(
      'A reply is still being written in this conversation. Wait for it to end or cancel it with cancelReply.',
    );

    await cancel(key, first);
    const next = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Now answer this', conversationId } }, key);
    expect(next.body.errors).toBeUndefined();
    await untilEnded(stack, key, next.body.data?.chat.reply.id);

    const messages = await postGraphQL(
      stack.graphqlUrl,
      `query($id: ID!) { conversation(id: $id) { messages { edges { node { content } } } } }`,
      { id: conversationId },
      key,
    );
    expect(messages.body.data?.conversation.messages.edges.map((edge: { node: { content: string } }) => edge.node.content)).not.toContain('Are you done?');
  });

  it('returns the first turn to a retry at the slot limit', async () => {
    const key = await stack.apiKey('retry-user');
    const busy = await stalledTurn(key, { message: 'Keep one slot busy' });
    const input = { message: 'Say hello', clientMessageId: 'slot-retry' };

    const [first, second] = await Promise.all([
      postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input }, key),
      postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input }, key),
    ]);

    expect(first.body.errors).toBeUndefined();
    expect(second.body.errors).toBeUndefined();
    expect(second.body.data?.chat.reply.id).toBe(first.body.data?.chat.reply.id);
    await untilEnded(stack, key, first.body.data?.chat.reply.id);
    await cancel(key, busy);
  });
});

describe('50 concurrent turns on SQLite', () => {
  it('completes every turn without a lock error', async () => {
    const stack = await startTestStack({ env: { MAX_CONCURRENT_REPLIES_PER_USER: '50', LOG_LEVEL: 'info' } });
    try {
      const keys = await Promise.all(Array.from({ length: 10 }, (_, index) => stack.apiKey(`user-${index}`)));
      const messages = ['Turn on the kitchen light', 'Is the front door locked?', 'Say hello', 'Turn off the kitchen light', 'Which lights are on?'];

      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: messages[index % messages.length] } }, keys[index % keys.length]),
        ),
      );
      expect(responses.map((response) => response.body.errors)).toEqual(Array(50).fill(undefined));
      const replyIds = responses.map((response) => response.body.data?.chat.reply.id as string);

      const em = () => stack.app.services.db.fork();
      await waitFor(
        async () => ((await em().count(MessageSchema, { id: { $in: replyIds }, status: { $ne: 'STREAMING' } })) === 50 ? true : undefined),
        30_000,
        'all 50 replies to end',
      );

      const replies = await em().find(MessageSchema, { id: { $in: replyIds } });
      expect(replies.map((reply) => reply.status)).toEqual(Array(50).fill('COMPLETED'));
      for (const reply of replies) {
        expect(reply.content.length, reply.id).toBeGreaterThan(0);
        expect(await em().count(ReplyEventSchema, { messageId: reply.id }), reply.id).toBe(reply.lastSequence);
      }
      const problems = stack.logs.filter(
        (line) => line.level === 'error' || line.level === 'fatal' || /SQLITE_BUSY|database is locked/i.test(JSON.stringify(line)),
      );
      expect(problems).toEqual([]);
    } finally {
      await stack.close();
    }
  });
});

describe('open subscriptions per user', () => {
  const EVENTS = 'subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }';
  const CONVERSATIONS = '{ conversations(first: 50) { edges { node { id } } } }';

  it('refuses one over the limit', async () => {
    const stack = await startTestStack({ env: { MAX_SUBSCRIPTIONS_PER_USER: '3' } });
    try {
      const key = await stack.apiKey('watcher');
      const other = await stack.apiKey('other-watcher');
      const start = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Open a conversation' } }, key);
      const conversationId = start.body.data?.chat.conversation.id as string;
      await untilEnded(stack, key, start.body.data?.chat.reply.id);

      // Two over WebSocket and one over SSE fill the limit together.
      const client = wsClient(stack.wsUrl, key);
      const open = [collectWs(client, EVENTS, { id: conversationId }), collectWs(client, EVENTS, { id: conversationId })];
      open.push(collectSse(stack.graphqlUrl, key, EVENTS, { id: conversationId }));
      await waitFor(() => (stack.app.services.chat.openStreams === 3 ? true : undefined), 5_000, 'three open streams');

      const rejected = collectWs(client, EVENTS, { id: conversationId });
      await rejected.done;
      expect(rejected.results[0]?.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(rejected.results[0]?.errors?.[0]?.message).toContain('You have 3 subscriptions open');

      const conversationsBefore = await postGraphQL(stack.graphqlUrl, CONVERSATIONS, {}, key);
      const requestsBefore = stack.model.requests.length;
      // Refused before any event, an SSE request gets the error as a plain 409 response.
      const turn = collectSse(stack.graphqlUrl, key, 'subscription { chatStream(input: { message: "Say hello" }) { __typename } }');
      await expect(turn.done).rejects.toThrow('409');
      expect(stack.model.requests.length).toBe(requestsBefore);
      const conversationsAfter = await postGraphQL(stack.graphqlUrl, CONVERSATIONS, {}, key);
      expect(conversationsAfter.body.data?.conversations.edges).toHaveLength(conversationsBefore.body.data?.conversations.edges.length);

      // Another user has a limit of their own.
      const otherClient = wsClient(stack.wsUrl, other);
      const otherStream = collectWs(otherClient, REPLY_STREAM, { messageId: start.body.data?.chat.reply.id });
      await otherStream.done;
      expect(otherStream.results[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

      // Closing one frees its place.
      open[0]?.cancel();
      await waitFor(() => (stack.app.services.chat.openStreams === 2 ? true : undefined), 5_000, 'a freed stream');
      const replay = collectWs(client, REPLY_STREAM, { messageId: start.body.data?.chat.reply.id });
      await replay.done;
      expect(replay.results.at(-1)?.data?.replyStream.__typename).toBe('ReplyCompleted');

      for (const stream of open) stream.cancel();
      await client.dispose();
      await otherClient.dispose();
    } finally {
      await stack.close();
    }
  });
});
