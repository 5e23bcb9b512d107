import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertReplySlot } from '../../src/agent/reply-slots.js';
import { ConversationSchema } from '../../src/conversations/conversation.entity.js';
import { MessageSchema } from '../../src/conversations/message.entity.js';
import { openDatabase, type Database } from '../../src/db/orm.js';
import { uuidv7 } from '../../src/db/uuid.js';
import { TokenBudget } from '../../src/security/token-budget.js';
import { createTestDatabase, requirePostgres, type TestDatabase } from '../support/postgres.js';

let database: TestDatabase | undefined;
let db: Database | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  if (database) db = await openDatabase(database.url);
}, 30_000);

afterAll(async () => {
  await db?.close();
  await database?.drop();
});

/** Stores a conversation and a STREAMING reply for the owner, after checking the reply slots like startTurn does. */
async function startReply(database: Database, ownerId: string, max: number): Promise<void> {
  await database.fork().transactional(async (tx) => {
    await assertReplySlot(tx, database.target, ownerId, undefined, max);
    const now = new Date();
    const conversation = tx.create(ConversationSchema, { id: uuidv7(), ownerId, title: 'Parallel', createdAt: now, updatedAt: now });
    await tx.flush();
    tx.create(MessageSchema, {
      id: uuidv7(),
      conversationId: conversation.id,
      ownerId,
      role: 'ASSISTANT',
      content: '',
      status: 'STREAMING',
      model: null,
      usage: null,
      error: null,
      clientMessageId: null,
      replyToId: null,
      lastSequence: 0,
      createdAt: now,
      completedAt: null,
    });
    await tx.flush();
  });
}

describe('limits on PostgreSQL', () => {
  it('lets exactly two of eight parallel turns take a reply slot', async (ctx) => {
    requirePostgres(database, ctx);
    const target = db as Database;

    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => startReply(target, 'pg-user', 2)));

    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(2);
    const reasons = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [(outcome.reason as { code?: string }).code] : []));
    expect(reasons).toEqual(Array(6).fill('CONFLICT'));
    expect(await target.fork().count(MessageSchema, { ownerId: 'pg-user', status: 'STREAMING' })).toBe(2);
  });

  it('adds concurrent charges without losing one, beyond 32-bit counts', async (ctx) => {
    requirePostgres(database, ctx);
    const target = db as Database;
    const budget = new TokenBudget(target, 1_000_000_000);

    await Promise.all(Array.from({ length: 20 }, (_, index) => budget.charge('pg-spender', 150_000_000, index % 2 === 0 ? 150_000_000 : 0)));
    const status = await budget.status('pg-spender');

    expect(status.used).toBe(3_000_000_000);
    expect(status.estimatedTokens).toBe(1_500_000_000);
    expect(status.remaining).toBe(0);
    await expect(budget.assertAvailable('pg-spender')).rejects.toMatchObject({ code: 'BUDGET_EXHAUSTED' });
  });
});
