import type { Database } from '../db/orm.js';
import type { Logger } from '../observability/logger.js';
import { ConversationSchema } from './conversation.entity.js';
import { MessageSchema } from './message.entity.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Conversations deleted per statement, so one run never holds a long lock on a large table. */
const DELETE_BATCH = 500;

export interface RetentionJobOptions {
  db: Database;
  logger: Logger;
  /** Days without activity after which a conversation is deleted; 0 turns the job off. */
  ttlDays: number;
  /** Tells live subscribers that these conversations are gone. */
  onConversationsDeleted: (conversationIds: string[]) => void;
  /** Clock, replaceable in tests. */
  now?: () => Date;
}

/**
 * Deletes conversations whose last activity (`updatedAt`: the last message or rename) is older than
 * CONVERSATION_TTL_DAYS, with their messages, tool calls and reply events. A conversation with a reply
 * still STREAMING is retained until the reply ends. Every instance may run it: a delete of rows another
 * instance already deleted does nothing.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: RetentionJobOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Deletes every expired conversation now and returns how many it deleted. Concurrent calls share one run. */
  runOnce(): Promise<number> {
    this.running ??= this.deleteExpired().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Runs the job every intervalMs, the first time after firstRunMs. Does nothing when the TTL is 0. */
  start(intervalMs: number, firstRunMs = intervalMs): void {
    if (this.options.ttlDays === 0) return;
    const run = () => {
      this.runOnce().catch((error: unknown) =>
        this.options.logger.error({ event: 'retention.failed', err: error }, 'Deleting expired conversations failed; retrying at the next run'),
      );
    };
    this.timer = setTimeout(() => {
      run();
      this.timer = setInterval(run, intervalMs);
      this.timer.unref();
    }, firstRunMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private async deleteExpired(): Promise<number> {
    const { db, ttlDays, logger } = this.options;
    if (ttlDays === 0) return 0;
    const cutoff = new Date(this.now().getTime() - ttlDays * DAY_MS);
    const retained = new Set<string>();
    let deleted = 0;

    for (;;) {
      const em = db.fork();
      const expired = await em.find(
        ConversationSchema,
        { updatedAt: { $lt: cutoff }, ...(retained.size > 0 ? { id: { $nin: [...retained] } } : {}) },
        { fields: ['id'], orderBy: { updatedAt: 'asc' }, limit: DELETE_BATCH },
      );
      if (expired.length === 0) break;

      const ids = expired.map((row) => row.id);
      const streaming = await em.find(MessageSchema, { conversationId: { $in: ids }, status: 'STREAMING' }, { fields: ['conversationId'] });
      for (const row of streaming) retained.add(row.conversationId);
      const deletable = ids.filter((id) => !retained.has(id));
      if (deletable.length > 0) {
        // The cutoff is checked again, so a conversation that got a new message meanwhile stays.
        const count = await em.nativeDelete(ConversationSchema, { id: { $in: deletable }, updatedAt: { $lt: cutoff } });
        deleted += count;
        const remaining = new Set((await em.find(ConversationSchema, { id: { $in: deletable } }, { fields: ['id'] })).map((row) => row.id));
        for (const id of remaining) retained.add(id);
        this.options.onConversationsDeleted(deletable.filter((id) => !remaining.has(id)));
      }
      if (expired.length < DELETE_BATCH) break;
    }

    if (deleted > 0 || retained.size > 0) {
      logger.info(
        { event: 'retention.deleted', count: deleted, retained: retained.size, ttlDays, cutoff: cutoff.toISOString() },
        'Deleted conversations idle longer than CONVERSATION_TTL_DAYS',
      );
    }
    return deleted;
  }
}
