import type { Database } from '../db/orm.js';
import { MessageSchema } from '../conversations/message.entity.js';
import { ReplyEventSchema } from '../conversations/reply-event.entity.js';
import { ToolCallSchema } from '../conversations/tool-call.entity.js';
import { replyTopic, conversationTopic, type ChatEvent } from './chat-events.js';
import type { EventBus } from './event-bus.js';

/**
 * Ends a reply that no running turn owns: stores its final status and a final event after the last
 * stored one, and publishes that event so followers finish. The update only applies while the reply is
 * still STREAMING, so it cannot overwrite a reply that ended another way. Returns whether it ended it.
 */
export async function endUnownedReply(
  db: Database,
  messageId: string,
  outcome: { status: 'INTERRUPTED' | 'CANCELLED'; event: 'ReplyInterrupted' | 'ReplyCancelled' },
  bus?: EventBus,
): Promise<boolean> {
  let ended: ChatEvent | undefined;
  let conversationId = '';
  await db.fork().transactional(async (tx) => {
    const reply = await tx.findOne(MessageSchema, { id: messageId, status: 'STREAMING' }, { fields: ['id', 'lastSequence', 'conversationId'] });
    if (!reply) return;
    conversationId = reply.conversationId;
    const latest = await tx.findOne(ReplyEventSchema, { messageId }, { orderBy: { sequence: 'desc' }, fields: ['sequence'] });
    const sequence = Math.max(reply.lastSequence, latest?.sequence ?? 0) + 1;
    const now = new Date();
    const updated = await tx.nativeUpdate(MessageSchema, { id: messageId, status: 'STREAMING' }, { status: outcome.status, completedAt: now, lastSequence: sequence });
    if (updated === 0) return;
    await tx.insert(ReplyEventSchema, { messageId, sequence, type: outcome.event, payload: {}, createdAt: now });
    await tx.nativeUpdate(
      ToolCallSchema,
      { messageId, status: { $in: ['RUNNING', 'AWAITING_CONFIRMATION'] } },
      { status: 'FAILED', finishedAt: now, error: { code: 'INTERNAL_SERVER_ERROR', message: 'The reply ended before the tool finished or was confirmed.' } },
    );
    ended = { type: outcome.event, sequence, messageId };
  });

  if (ended && bus) {
    bus.publish(replyTopic(messageId), ended);
    bus.publish(conversationTopic(conversationId), ended);
  }
  return ended !== undefined;
}

/**
 * Ends replies that an earlier process left STREAMING (it crashed or was killed): each becomes
 * INTERRUPTED with the text saved so far, and gets a final ReplyInterrupted event so replays end.
 * Returns the ids of the replies it ended.
 * NOTE: every STREAMING reply counts as orphaned, so with several instances on one database a starting
 * instance also ends the replies the others are still writing.
 */
export async function interruptOrphanedReplies(db: Database, isRunningHere: (messageId: string) => boolean = () => false): Promise<string[]> {
  const streaming = await db.fork().find(MessageSchema, { status: 'STREAMING' }, { fields: ['id'] });
  const ended: string[] = [];
  for (const reply of streaming) {
    if (isRunningHere(reply.id)) continue;
    if (await endUnownedReply(db, reply.id, { status: 'INTERRUPTED', event: 'ReplyInterrupted' })) ended.push(reply.id);
  }
  return ended;
}
