import type { Database } from '../db/orm.js';
import { MessageSchema } from '../conversations/message.entity.js';
import { ReplyEventSchema } from '../conversations/reply-event.entity.js';
import { ToolCallSchema } from '../conversations/tool-call.entity.js';
import { replyTopic, conversationTopic, type ChatEvent } from './chat-events.js';
import type { EventBus } from './event-bus.js';
import type { InstanceRegistry } from './instances.js';
import type { Logger } from '../observability/logger.js';

/**
 * Ends a reply that no running turn owns: stores its final status and a final event after the last
 * stored one, and publishes that event so followers finish. The update only applies while the reply is
 * still STREAMING, so it cannot overwrite a reply that ended another way. Returns whether it ended it.
 *
 * The final event follows the last stored event, but a generator that died (or whose heartbeat only
 * stalled) may have published later events live. Followers that saw those still take this final event
 * (see followReply), and its message carries the stored text.
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
    const updated = await tx.nativeUpdate(
      MessageSchema,
      { id: messageId, status: 'STREAMING' },
      { status: outcome.status, completedAt: now, lastSequence: sequence },
    );
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

export interface AbandonedReplySweeperOptions {
  db: Database;
  registry: InstanceRegistry;
  bus: EventBus;
  /** Whether this process generates the reply right now. */
  isRunningHere: (messageId: string) => boolean;
  logger: Logger;
  /** Called with the final status of each reply the sweeper ends, for the reply metrics. */
  onReplyEnded?: (status: 'INTERRUPTED') => void;
}

/**
 * Ends replies whose generating instance is gone, for deployments with several instances. A reply is
 * left alone while the instance recorded on it has a recent heartbeat, so a restarting instance never
 * interrupts replies that another live instance is still generating. Replies recorded with this
 * instance's own id but not running here belong to an earlier process with the same INSTANCE_ID and end
 * at once. Every instance runs this every heartbeat, so the replies of a crashed instance end within
 * about one heartbeat timeout even when it never comes back.
 */
export class AbandonedReplySweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<string[]> | undefined;

  constructor(private readonly options: AbandonedReplySweeperOptions) {}

  /** Ends every abandoned reply now and returns their ids. Concurrent calls share one run. */
  sweep(): Promise<string[]> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.options.logger.warn({ event: 'reply.sweep_failed', err: error }, 'Checking for abandoned replies failed'));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private async run(): Promise<string[]> {
    const { db, registry, bus, isRunningHere, logger } = this.options;
    const streaming = await db.fork().find(MessageSchema, { status: 'STREAMING' }, { fields: ['id', 'instanceId'] });
    if (streaming.length === 0) return [];
    const live = await registry.liveIds();
    const ended: string[] = [];
    for (const reply of streaming) {
      if (isRunningHere(reply.id)) continue;
      const owner = reply.instanceId;
      if (owner && owner !== registry.id && live.has(owner)) continue;
      if (await endUnownedReply(db, reply.id, { status: 'INTERRUPTED', event: 'ReplyInterrupted' }, bus)) {
        ended.push(reply.id);
        this.options.onReplyEnded?.('INTERRUPTED');
      }
    }
    if (ended.length > 0) {
      logger.warn({ event: 'reply.recovered', count: ended.length, messageIds: ended }, 'Marked replies of instances that are gone as INTERRUPTED');
    }
    await registry.pruneGone();
    return ended;
  }
}
