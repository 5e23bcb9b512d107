import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationSchema } from '../../src/conversations/conversation.entity.js';
import { RetentionJob } from '../../src/conversations/retention.js';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient } from '../support/clients.js';
import { CHAT_MUTATION, CHAT_STREAM, eventsOf, startTestStack, type TestStack } from '../support/stack.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The clock the app's retention job reads; each test sets it. */
let clock = new Date();

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack({ env: { CONVERSATION_TTL_DAYS: '30' }, app: { now: () => clock } });
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

async function newConversation(message: string): Promise<string> {
  const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message } });
  await stream.done;
  return eventsOf(stream.results, 'chatStream')[0]?.conversationId as string;
}

async function setLastActivity(conversationId: string, at: Date): Promise<void> {
  await stack.app.services.db.fork().nativeUpdate(ConversationSchema, { id: conversationId }, { updatedAt: at });
}

async function exists(conversationId: string): Promise<boolean> {
  const response = await postGraphQL(stack.graphqlUrl, `query($id: ID!) { conversation(id: $id) { id } }`, { id: conversationId }, key);
  return response.body.data?.conversation !== null;
}

async function storedRows(conversationId: string): Promise<number> {
  const rows = await stack.app.services.db
    .fork()
    .getConnection()
    .execute<{ n: number }[]>('select count(*) as n from messages m join reply_events e on e.message_id = m.id where m.conversation_id = ?', [conversationId]);
  return Number(rows[0]?.n);
}

describe('conversation retention', () => {
  it('deletes conversations idle for more than CONVERSATION_TTL_DAYS, by last activity', async () => {
    clock = new Date();
    const cutoff = clock.getTime() - 30 * DAY_MS;
    const expired = await newConversation('An old conversation');
    const justInside = await newConversation('A conversation at the limit');
    const recent = await newConversation('A recent conversation');
    const revived = await newConversation('An old conversation with a new message');
    await setLastActivity(expired, new Date(cutoff - 1));
    await setLastActivity(justInside, new Date(cutoff));
    await setLastActivity(recent, new Date(cutoff + 5 * DAY_MS));
    await setLastActivity(revived, new Date(cutoff - 10 * DAY_MS));
    expect(await storedRows(expired)).toBeGreaterThan(0);

    // A new message is activity: it moves the conversation's last activity to now.
    const newer = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Still here', conversationId: revived } });
    await newer.done;

    const client = wsClient(stack.wsUrl, key);
    const watcher = collectWs(client, `subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }`, { id: expired });
    await new Promise((resolve) => setTimeout(resolve, 50));

    const deleted = await stack.app.retention.runOnce();

    expect(deleted).toBe(1);
    expect(await exists(expired)).toBe(false);
    expect(await storedRows(expired)).toBe(0);
    expect(await exists(justInside)).toBe(true);
    expect(await exists(recent)).toBe(true);
    expect(await exists(revived)).toBe(true);
    await watcher.done;
    await client.dispose();
    expect(stack.logs.some((line) => line.event === 'retention.deleted' && line.count === 1)).toBe(true);

    // Six days later both have been idle too long, and the revived one is still recent.
    clock = new Date(clock.getTime() + 6 * DAY_MS);
    expect(await stack.app.retention.runOnce()).toBe(2);
    expect(await exists(justInside)).toBe(false);
    expect(await exists(recent)).toBe(false);
    expect(await exists(revived)).toBe(true);
  });

  it('keeps a conversation while its reply still streams', async () => {
    stack.model.enqueue({ kind: 'stall', afterChunks: 3 });
    const started = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'A reply that is still streaming' } }, key);
    const conversationId = started.body.data?.chat.conversation.id as string;
    const replyId = started.body.data?.chat.reply.id as string;
    await setLastActivity(conversationId, new Date(Date.now() - 90 * DAY_MS));
    clock = new Date();

    expect(await stack.app.retention.runOnce()).toBe(0);
    expect(await exists(conversationId)).toBe(true);

    const cancelled = await postGraphQL(stack.graphqlUrl, `mutation($id: ID!) { cancelReply(messageId: $id) { status } }`, { id: replyId }, key);
    expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
    expect(await stack.app.retention.runOnce()).toBe(1);
    expect(await exists(conversationId)).toBe(false);
  });

  it('runs on a timer and does nothing with a TTL of 0', async () => {
    const conversationId = await newConversation('Deleted by the timer');
    await setLastActivity(conversationId, new Date(Date.now() - 400 * DAY_MS));
    const deletedIds: string[] = [];
    const base = { db: stack.app.services.db, logger: stack.app.logger, onConversationsDeleted: (ids: string[]) => deletedIds.push(...ids) };

    const disabled = new RetentionJob({ ...base, ttlDays: 0 });
    expect(await disabled.runOnce()).toBe(0);
    expect(await exists(conversationId)).toBe(true);

    const timed = new RetentionJob({ ...base, ttlDays: 365 });
    timed.start(20, 10);
    try {
      await waitFor(() => (deletedIds.includes(conversationId) ? true : undefined), 5_000, 'the timer to delete the conversation');
    } finally {
      await timed.stop();
    }
    expect(await exists(conversationId)).toBe(false);
  });
});
