import type { DatabaseTarget } from '../db/database-url.js';
import type { EntityManager } from '../db/orm.js';
import { MessageSchema } from '../conversations/message.entity.js';
import { AppError } from '../security/errors.js';

/**
 * Checks, inside the transaction that stores a new turn, that the user may start another reply: fewer
 * than `max` of their replies are STREAMING and none in this conversation. Counting rows makes the
 * limit hold across instances that share the database.
 *
 * Concurrent turns of one user must not both pass the check before either inserts. On PostgreSQL a
 * transaction-scoped advisory lock per user orders them. On SQLite one process has a single connection,
 * so its write transactions already run one at a time.
 * NOTE: two processes writing one SQLite file are not ordered this way; run several instances on PostgreSQL.
 */
export async function assertReplySlot(
  tx: EntityManager,
  target: DatabaseTarget,
  ownerId: string,
  conversationId: string | undefined,
  maxConcurrentReplies: number,
): Promise<void> {
  if (target.kind === 'postgresql') {
    await tx.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`reply-slots:${ownerId}`]);
  }
  const streaming = await tx.find(MessageSchema, { ownerId, role: 'ASSISTANT', status: 'STREAMING' }, { fields: ['id', 'conversationId'] });
  if (conversationId !== undefined && streaming.some((reply) => reply.conversationId === conversationId)) {
    throw AppError.conflict('A reply is still being written in this conversation. Wait for it to end or cancel it with cancelReply.');
  }
  if (streaming.length >= maxConcurrentReplies) {
    throw AppError.conflict(
      `You have ${streaming.length} replies being written already, the most allowed at once (MAX_CONCURRENT_REPLIES_PER_USER). Wait for one to end or cancel it with cancelReply.`,
    );
  }
}
