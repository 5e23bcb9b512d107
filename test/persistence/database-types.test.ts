import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationSchema } from '../../src/conversations/conversation.entity.js';
import { MessageSchema } from '../../src/conversations/message.entity.js';
import { ReplyEventSchema } from '../../src/conversations/reply-event.entity.js';
import { ToolCallSchema } from '../../src/conversations/tool-call.entity.js';
import { openDatabase, type Database } from '../../src/db/orm.js';
import { uuidv7 } from '../../src/db/uuid.js';
import { DataCipher } from '../../src/security/data-cipher.js';
import { createTestDatabase, testDatabaseKind, type TestDatabase } from '../support/services.js';

const JSON_VALUES: [string, unknown][] = [
  ['a nested object', { domain: 'light', entity_ids: ['light.a', 'light.b'], data: { brightness_pct: 50, transition: 1.5, flash: false, effect: null } }],
  ['unicode text', { text: 'Grüße 👋 — 温度 "quoted" \\ backslash\nnew line' }],
  ['a plain string', 'not json at all'],
  ['a string that looks like JSON', '{"a": 1}'],
  ['a string that begins with U+0001', '\u0001enc:v1:k1:this-is-user-text'],
  ['an array', [1, 'two', { three: 3 }, [4]]],
  ['large and small numbers', { big: 9_007_199_254_740_991, small: -0.000123, zero: 0 }],
  ['an empty object', {}],
];

describe.each([
  ['plain', undefined],
  ['encrypted', { id: 'types-key', key: randomBytes(32) }],
])('stored values (%s)', (_mode, key) => {
  let database: TestDatabase;
  let db: Database;
  let conversationId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase(database.url, () => {}, { cipher: new DataCipher(key) });
    const em = db.fork();
    const now = new Date();
    conversationId = uuidv7();
    em.create(ConversationSchema, { id: conversationId, ownerId: 'owner', title: 'Types', createdAt: now, updatedAt: now });
    await em.flush();
  });

  afterAll(async () => {
    await db?.close();
    await database?.remove();
  });

  function message(id: string, createdAt: Date, content = 'text') {
    return {
      id,
      conversationId,
      ownerId: 'owner',
      role: 'ASSISTANT' as const,
      content,
      status: 'COMPLETED' as const,
      model: null,
      usage: null,
      error: null,
      clientMessageId: null,
      replyToId: null,
      lastSequence: 0,
      createdAt,
      completedAt: null,
    };
  }

  it(`keeps millisecond timestamps on ${testDatabaseKind()}`, async () => {
    const instants = ['2026-05-06T07:08:09.123Z', '1999-12-31T23:59:59.999Z', '2038-01-19T03:14:08.001Z'].map((value) => new Date(value));
    const ids: string[] = [];
    const em = db.fork();
    for (const instant of instants) {
      const id = uuidv7();
      ids.push(id);
      em.create(MessageSchema, { ...message(id, instant), completedAt: new Date(instant.getTime() + 1) });
    }
    await em.flush();

    const rows = await db.fork().find(MessageSchema, { id: { $in: ids } }, { orderBy: { id: 'asc' } });
    expect(rows.map((row) => row.createdAt.toISOString())).toEqual(instants.map((instant) => instant.toISOString()));
    expect(rows.map((row) => row.completedAt?.getTime())).toEqual(instants.map((instant) => instant.getTime() + 1));
    const later = await db.fork().find(MessageSchema, { id: { $in: ids }, createdAt: { $gt: new Date('2026-05-06T07:08:09.122Z') } });
    expect(later.map((row) => row.createdAt.toISOString()).sort()).toEqual(['2026-05-06T07:08:09.123Z', '2038-01-19T03:14:08.001Z']);
  });

  it('returns JSON columns as they were written', async () => {
    const messageId = uuidv7();
    const em = db.fork();
    em.create(MessageSchema, {
      ...message(messageId, new Date()),
      usage: {
        promptTokens: 12,
        completionTokens: 3,
        totalTokens: 15,
        estimated: true,
        prompt: { system: 1, context: 2, history: 3, message: 4, tools: 2, historyMessages: 1 },
      },
      error: { code: 'LLM_UNAVAILABLE', message: 'Grüße', retryable: true },
    });
    await em.flush();
    const callIds: string[] = [];
    for (const [, value] of JSON_VALUES) {
      const id = uuidv7();
      callIds.push(id);
      em.create(ToolCallSchema, {
        id,
        messageId,
        ownerId: 'owner',
        callId: 'call',
        name: 'tool',
        arguments: value,
        result: value,
        status: 'COMPLETED',
        error: null,
        round: 1,
        createdAt: new Date(),
        finishedAt: null,
      });
    }
    await em.flush();
    await em.insertMany(
      ReplyEventSchema,
      JSON_VALUES.map(([, value], index) => ({ messageId, sequence: index + 1, type: 'Test', payload: { value }, createdAt: new Date() })),
    );

    const fresh = db.fork();
    const stored = await fresh.findOneOrFail(MessageSchema, { id: messageId });
    expect(stored.usage).toEqual({
      promptTokens: 12,
      completionTokens: 3,
      totalTokens: 15,
      estimated: true,
      prompt: { system: 1, context: 2, history: 3, message: 4, tools: 2, historyMessages: 1 },
    });
    expect(stored.error).toEqual({ code: 'LLM_UNAVAILABLE', message: 'Grüße', retryable: true });
    const calls = await fresh.find(ToolCallSchema, { id: { $in: callIds } }, { orderBy: { id: 'asc' } });
    for (const [index, [name, value]] of JSON_VALUES.entries()) {
      expect(calls[index]?.arguments, name).toEqual(value);
      expect(calls[index]?.result, name).toEqual(value);
    }
    const events = await fresh.find(ReplyEventSchema, { messageId }, { orderBy: { sequence: 'asc' } });
    expect(events.map((event) => event.payload)).toEqual(JSON_VALUES.map(([, value]) => ({ value })));

    // Loading and flushing without changes writes nothing, although encryption gives new bytes each time.
    const uow = fresh.getUnitOfWork();
    uow.computeChangeSets();
    expect(uow.getChangeSets()).toEqual([]);
  });

  it('orders UUIDv7 ids by creation on both databases', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 300; index += 1) {
      ids.push(uuidv7());
      if (index % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const shuffled = [...ids].sort(() => Math.random() - 0.5);
    const em = db.fork();
    for (const id of shuffled) em.create(MessageSchema, message(id, new Date(), `message ${ids.indexOf(id)}`));
    await em.flush();

    const ascending = await db.fork().find(MessageSchema, { id: { $in: ids } }, { orderBy: { id: 'asc' }, fields: ['id'] });
    expect(ascending.map((row) => row.id)).toEqual(ids);
    const middle = ids[150] as string;
    const after = await db.fork().find(MessageSchema, { id: { $in: ids, $gt: middle } }, { orderBy: { id: 'asc' }, fields: ['id'] });
    expect(after.map((row) => row.id)).toEqual(ids.slice(151));
    expect([...ids].sort()).toEqual(ids);
  });
});
