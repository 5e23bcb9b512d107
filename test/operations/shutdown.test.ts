import { describe, expect, it } from 'vitest';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient } from '../support/clients.js';
import { redisReachable, requireRedis, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/redis.js';
import { CHAT_MUTATION, CHAT_STREAM, REPLY_STREAM, eventsOf, joinDeltas, startTestStack, type StreamedEvent } from '../support/stack.js';

const CONVERSATION_EVENTS = `subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }`;

/** A reply of about two hundred deltas. */
const LONG_TEXT = Array.from({ length: 200 }, (_, index) => `word${index}`).join(' ');

describe('graceful shutdown', () => {
  it('finishes replies, then completes subscriptions', async () => {
    const stack = await startTestStack({ model: { chunkDelayMs: 5 } });
    const key = await stack.apiKey('alice');
    const other = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'A quiet conversation' } }, key);
    const quietConversation = other.body.data?.chat.conversation.id as string;
    await collectSse(stack.graphqlUrl, key, REPLY_STREAM, { messageId: other.body.data?.chat.reply.id }).done;

    stack.model.enqueue({ kind: 'text', text: LONG_TEXT });
    const client = wsClient(stack.wsUrl, key);
    const running = collectWs(client, CHAT_STREAM, { input: { message: 'A long story' } });
    await waitFor(() => (running.results.length >= 3 ? true : undefined), 10_000, 'the reply to start');
    const messageId = eventsOf(running.results, 'chatStream')[0]?.messageId as string;
    const replayOverSse = collectSse(stack.graphqlUrl, key, REPLY_STREAM, { messageId });
    const liveOverWs = collectWs(client, CONVERSATION_EVENTS, { id: quietConversation });
    const liveOverSse = collectSse(stack.graphqlUrl, key, CONVERSATION_EVENTS, { id: quietConversation });
    await waitFor(() => (stack.app.services.chat.openStreams === 4 ? true : undefined), 5_000, 'four open streams');

    const closing = stack.app.close(20_000);
    const ready = await fetch(`${stack.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'stopping' });
    const refused = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Too late' } }, key);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('LLM_UNAVAILABLE');

    // Every stream ends with a clean complete, not a dropped connection.
    await Promise.all([running.done, replayOverSse.done, liveOverWs.done, liveOverSse.done]);
    await closing;
    await client.dispose();
    const events = eventsOf(running.results, 'chatStream');
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
    expect(eventsOf(replayOverSse.results, 'replyStream')).toEqual(events);
    expect(liveOverWs.results).toEqual([]);
    expect(liveOverSse.results).toEqual([]);
    await stack.close();
  });

  it('sends the final event over Redis before completing', async (ctx) => {
    requireRedis(await redisReachable(), ctx);
    const stack = await startTestStack({ model: { chunkDelayMs: 5 }, env: { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: uniqueRedisPrefix() } });
    const key = await stack.apiKey('alice');
    stack.model.enqueue({ kind: 'text', text: LONG_TEXT });
    const client = wsClient(stack.wsUrl, key);
    const running = collectWs(client, CHAT_STREAM, { input: { message: 'A long story over Redis' } });
    await waitFor(() => (running.results.length >= 3 ? true : undefined), 10_000, 'the reply to start');
    const messageId = eventsOf(running.results, 'chatStream')[0]?.messageId as string;
    const follower = collectSse(stack.graphqlUrl, key, REPLY_STREAM, { messageId });
    await waitFor(() => (stack.app.services.chat.openStreams === 2 ? true : undefined), 5_000, 'two open streams');

    await stack.app.close(20_000);
    await Promise.all([running.done, follower.done]);
    await client.dispose();
    const events = eventsOf(running.results, 'chatStream');
    const last = events.at(-1) as StreamedEvent & { message: { status: string; content: string } };
    expect(last.__typename).toBe('ReplyCompleted');
    expect(last.message.status).toBe('COMPLETED');
    expect(joinDeltas(events)).toBe(LONG_TEXT);
    expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
    expect(eventsOf(follower.results, 'replyStream')).toEqual(events);
    await stack.close();
  });

  it('interrupts a reply outlasting the grace period', async () => {
    const stack = await startTestStack();
    const key = await stack.apiKey('alice');
    stack.model.enqueue({ kind: 'stall', afterChunks: 4 });
    const client = wsClient(stack.wsUrl, key);
    const running = collectWs(client, CHAT_STREAM, { input: { message: 'A reply that never ends' } });
    await waitFor(() => (running.results.length >= 3 ? true : undefined), 10_000, 'the reply to start');

    await stack.app.close(200);
    await running.done;
    await client.dispose();
    const last = eventsOf(running.results, 'chatStream').at(-1) as StreamedEvent & { message: { status: string } };
    expect(last.__typename).toBe('ReplyInterrupted');
    expect(last.message.status).toBe('INTERRUPTED');
    expect(stack.logs.some((line) => line.event === 'server.stopped')).toBe(true);
    await stack.close();
  });

  it('fails a waiting confirmation with a reason', async () => {
    const stack = await startTestStack();
    const key = await stack.apiKey('alice');
    const client = wsClient(stack.wsUrl, key);
    const running = collectWs(client, CHAT_STREAM, { input: { message: 'Unlock the front door' } });
    const awaiting = await waitFor(
      () => running.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation'),
      10_000,
      'a confirmation request',
    );

    await stack.app.close(200);
    await running.done;
    await client.dispose();
    const events = eventsOf(running.results, 'chatStream');
    const finished = events.find(
      (event) => event.__typename === 'ToolCallFinished' && (event.toolCall as { id: string }).id === awaiting.toolCall.id,
    ) as StreamedEvent & { toolCall: { status: string; error: unknown } };
    expect(events.at(-1)?.__typename).toBe('ReplyInterrupted');
    // The event carries the row as stored.
    expect(finished.toolCall.status).toBe('FAILED');
    expect(finished.toolCall.error).toEqual({
      code: 'INTERNAL_SERVER_ERROR',
      message: 'The server shut down before this action was confirmed or run. Nothing was done.',
    });
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');
    await stack.close();
  });
});
