import type { Database } from '../db/orm.js';
import { MessageSchema } from '../conversations/message.entity.js';
import { ReplyEventSchema } from '../conversations/reply-event.entity.js';
import { ToolCallSchema } from '../conversations/tool-call.entity.js';

/**
 * Ends replies that an earlier process left STREAMING (it crashed or was killed): each becomes
 * INTERRUPTED with the text saved so far, and its event log gets a final ReplyInterrupted event so
 * replays end. Returns the ids of the replies it ended.
 */
export async function interruptOrphanedReplies(db: Database, isRunningHere: (messageId: string) => boolean = () => false): Promise<string[]> {
  const em = db.fork();
  const orphans = (await em.find(MessageSchema, { status: 'STREAMING' }, { fields: ['id', 'lastSequence'] })).filter((reply) => !isRunningHere(reply.id));
  const ended: string[] = [];

  for (const reply of orphans) {
    await db.fork().transactional(async (tx) => {
      const latest = await tx.findOne(ReplyEventSchema, { messageId: reply.id }, { orderBy: { sequence: 'desc' }, fields: ['sequence'] });
      const sequence = Math.max(reply.lastSequence, latest?.sequence ?? 0) + 1;
      const now = new Date();
      const updated = await tx.nativeUpdate(MessageSchema, { id: reply.id, status: 'STREAMING' }, { status: 'INTERRUPTED', completedAt: now, lastSequence: sequence });
      if (updated === 0) return;
      await tx.insert(ReplyEventSchema, { messageId: reply.id, sequence, type: 'ReplyInterrupted', payload: {}, createdAt: now });
      await tx.nativeUpdate(ToolCallSchema, { messageId: reply.id, status: 'RUNNING' }, { status: 'FAILED', finishedAt: now, error: { code: 'INTERNAL_SERVER_ERROR', message: 'The server stopped before the tool finished.' } });
      ended.push(reply.id);
    });
  }
  return ended;
}
