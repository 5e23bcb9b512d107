import { afterEach, describe, expect, it } from 'vitest';
import { ConversationSchema } from '../../src/conversations/conversation.entity.js';
import { MessageSchema } from '../../src/conversations/message.entity.js';
import { ReplyEventSchema } from '../../src/conversations/reply-event.entity.js';
import { InstanceSchema } from '../../src/db/instance.entity.js';
import { openDatabase, type Database } from '../../src/db/orm.js';
import { uuidv7 } from '../../src/db/uuid.js';
import { endUnownedReply } from '../../src/agent/recovery.js';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestDatabase, requireServices, TEST_REDIS_URL, type TestDatabase } from '../support/services.js';
import { CHAT_STREAM, REPLY_STREAM, eventsOf, startTestStack } from '../support/stack.js';

const MESSAGE = `query($id: ID!) { message(id: $id) { status content completedAt } }`;

let database: TestDatabase | undefined;
let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  await database?.remove();
  server = undefined;
  database = undefined;
});

/** Stores a reply that some instance left STREAMING, with two text deltas stored so far. */
async function leaveStreamingReply(db: Database, instanceId: string | null): Promise<string> {
  const em = db.fork();
  const now = new Date();
  const conversationId = uuidv7();
  const userMessageId = uuidv7();
  const replyId = uuidv7();
  em.create(ConversationSchema, { id: conversationId, ownerId: 'alice', title: 'Unfinished', createdAt: now, updatedAt: now });
  await em.flush();
  const base = { conversationId, ownerId: 'alice', model: null, usage: null, error: null, clientMessageId: null, createdAt: now };
  em.create(MessageSchema, {
    ...base,
    id: userMessageId,
    role: 'USER',
    content: 'Tell me a story',
    status: 'COMPLETED',
    replyToId: null,
    lastSequence: 0,
    completedAt: now,
  });
  em.create(MessageSchema, {
    ...base,
    id: replyId,
    role: 'ASSISTANT',
    content: 'Once upon',
    status: 'STREAMING',
    replyToId: userMessageId,
    instanceId,
    lastSequence: 3,
    completedAt: null,
  });
  await em.flush();
  await em.insertMany(ReplyEventSchema, [
    { messageId: replyId, sequence: 1, type: 'ReplyStarted', payload: { conversationId }, createdAt: now },
    { messageId: replyId, sequence: 2, type: 'ReplyDelta', payload: { text: 'Once' }, createdAt: now },
    { messageId: replyId, sequence: 3, type: 'ReplyDelta', payload: { text: ' upon' }, createdAt: now },
  ]);
  return replyId;
}

async function registerInstance(db: Database, id: string, heartbeatAt: Date): Promise<void> {
  await db.fork().upsert(InstanceSchema, { id, hostname: 'elsewhere', pid: 1, startedAt: heartbeatAt, heartbeatAt, encryptionKeyId: null });
}

async function status(id: string): Promise<string> {
  if (!server) throw new Error('No server');
  const response = await postGraphQL(server.graphqlUrl, MESSAGE, { id }, await server.apiKey('alice'));
  return response.body.data?.message.status as string;
}

/** Returns the replies counted as ended INTERRUPTED in the server's metrics. */
async function interruptedCount(target: TestServer): Promise<number> {
  const metric = await target.app.metrics.replies.get();
  return metric.values.find((value) => value.labels.status === 'INTERRUPTED')?.value ?? 0;
}

describe('startup recovery of a single instance', () => {
  it('interrupts every reply left streaming, whatever instance it names', async () => {
    database = await createTestDatabase();
    const db = await openDatabase(database.url);
    await registerInstance(db, 'other', new Date());
    const withLiveInstance = await leaveStreamingReply(db, 'other');
    const withoutInstance = await leaveStreamingReply(db, null);
    await db.close();

    server = await startTestServer({ database });
    expect(await status(withLiveInstance)).toBe('INTERRUPTED');
    expect(await status(withoutInstance)).toBe('INTERRUPTED');

    const replay = collectSse(server.graphqlUrl, await server.apiKey('alice'), REPLY_STREAM, { messageId: withLiveInstance });
    await replay.done;
    const events = eventsOf(replay.results, 'replyStream');
    expect(events.map((event) => [event.sequence, event.__typename])).toEqual([
      [1, 'ReplyStarted'],
      [2, 'ReplyDelta'],
      [3, 'ReplyDelta'],
      [4, 'ReplyInterrupted'],
    ]);
    expect(events.at(-1)?.message).toMatchObject({ status: 'INTERRUPTED', content: 'Once upon' });
    expect(await interruptedCount(server)).toBe(2);
  });
});

describe('recovery with several instances', () => {
  it('ends replies of gone and earlier instances, and leaves live ones alone', async (ctx) => {
    await requireServices(ctx, 'Redis');
    database = await createTestDatabase();
    const db = await openDatabase(database.url);
    await registerInstance(db, 'live-instance', new Date());
    await registerInstance(db, 'gone-instance', new Date(Date.now() - 60_000));
    await registerInstance(db, 'this-instance', new Date());
    const live = await leaveStreamingReply(db, 'live-instance');
    const gone = await leaveStreamingReply(db, 'gone-instance');
    const unknown = await leaveStreamingReply(db, 'never-registered');
    const earlierSelf = await leaveStreamingReply(db, 'this-instance');
    const legacy = await leaveStreamingReply(db, null);
    await db.close();

    server = await startTestServer({ database, env: { REDIS_URL: TEST_REDIS_URL, INSTANCE_ID: 'this-instance', INSTANCE_HEARTBEAT_SECONDS: '1' } });
    expect(await status(live)).toBe('STREAMING');
    expect(await status(gone)).toBe('INTERRUPTED');
    expect(await status(unknown)).toBe('INTERRUPTED');
    expect(await status(earlierSelf)).toBe('INTERRUPTED');
    expect(await status(legacy)).toBe('INTERRUPTED');

    // Once the live instance stops its heartbeat, the periodic check ends its reply too.
    await server.app.services.db.fork().nativeUpdate(InstanceSchema, { id: 'live-instance' }, { heartbeatAt: new Date(Date.now() - 60_000) });
    await waitFor(async () => ((await status(live)) === 'INTERRUPTED' ? true : undefined), 10_000, 'the periodic check to end the reply');
    expect(server.logs.some((line) => line.event === 'reply.recovered' && (line.messageIds as string[]).includes(live))).toBe(true);
    expect(await interruptedCount(server)).toBe(5);
  });
});

describe('a reply ended elsewhere while it streams', () => {
  it('stops the generator without storing a second end', async () => {
    const stack = await startTestStack({ model: { chunkDelayMs: 15 } });
    try {
      const key = await stack.apiKey('alice');
      const requestsBefore = stack.model.requests.length;
      const client = wsClient(stack.wsUrl, key);
      const stream = collectWs(client, CHAT_STREAM, { input: { message: 'Please write a long answer that another instance ends' } });
      await waitFor(() => (stream.results.length >= 4 ? true : undefined), 10_000, 'a few deltas');
      const messageId = eventsOf(stream.results, 'chatStream')[0]?.messageId as string;
      await waitFor(
        async () => {
          const row = await stack.app.services.db.fork().findOne(MessageSchema, { id: messageId }, { fields: ['lastSequence'] });
          return row && row.lastSequence > 0 ? true : undefined;
        },
        10_000,
        'a stored batch',
      );

      // What another instance does when this one's heartbeat looks stale.
      expect(await endUnownedReply(stack.app.services.db, messageId, { status: 'INTERRUPTED', event: 'ReplyInterrupted' }, stack.app.bus)).toBe(true);

      await waitFor(
        () => (stack.logs.some((line) => line.event === 'reply.abandoned' && line.messageId === messageId) ? true : undefined),
        10_000,
        'the generator to notice',
      );
      await waitFor(() => (stack.model.requests[requestsBefore]?.aborted ? true : undefined), 10_000, 'the model request to be aborted');
      await waitFor(() => (stack.app.services.chat.activeReplies.get(messageId) ? undefined : true), 10_000, 'the turn to end');
      stream.cancel();
      await client.dispose();

      const stored = await stack.app.services.db.fork().find(ReplyEventSchema, { messageId }, { orderBy: { sequence: 'asc' } });
      expect(
        stored.filter((event) => ['ReplyCompleted', 'ReplyFailed', 'ReplyCancelled', 'ReplyInterrupted'].includes(event.type)).map((event) => event.type),
      ).toEqual(['ReplyInterrupted']);
      expect(stored.at(-1)?.type).toBe('ReplyInterrupted');
      const row = await stack.app.services.db.fork().findOneOrFail(MessageSchema, { id: messageId });
      expect(row.status).toBe('INTERRUPTED');
      expect(row.lastSequence).toBe(stored.at(-1)?.sequence);
      expect(stack.logs.filter((line) => line.event === 'reply.store_failed' || line.event === 'reply.finish_failed')).toEqual([]);
    } finally {
      await stack.close();
    }
  });
});
