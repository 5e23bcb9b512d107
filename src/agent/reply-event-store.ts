import type { Database } from '../db/orm.js';
import { MessageSchema, type Message } from '../conversations/message.entity.js';
import { ReplyEventSchema } from '../conversations/reply-event.entity.js';
import type { ActiveReplies } from './active-replies.js';
import { isTerminal, type ChatEvent } from './chat-events.js';
import { findPlain } from '../db/plain-rows.js';

/** Fields of the reply row written together with a batch of events. */
export type ReplyRowUpdate = Partial<Pick<Message, 'content' | 'status' | 'usage' | 'error' | 'model' | 'completedAt'>>;

function toRow(event: ChatEvent) {
  const { sequence, messageId, type, ...payload } = event;
  return { messageId, sequence, type, payload, createdAt: new Date() };
}

function fromRow(row: { messageId: string; sequence: number; type: string; payload: Record<string, unknown> }): ChatEvent {
  return { ...row.payload, type: row.type, sequence: row.sequence, messageId: row.messageId } as ChatEvent;
}

/**
 * Raised when a reply row is gone or no longer STREAMING while its generator still writes: the reply was
 * deleted, or another instance ended it after this one stopped sending heartbeats.
 */
export class ReplyNotStreamingError extends Error {
  constructor(readonly messageId: string) {
    super(`Reply ${messageId} is no longer streaming.`);
    this.name = 'ReplyNotStreamingError';
  }
}

/** Stores reply events with the reply row, and reads them back for replay. */
export class ReplyEventStore {
  constructor(
    private readonly db: Database,
    private readonly active: ActiveReplies,
  ) {}

  /**
   * Writes events and the reply row in one transaction, so the stored text and the stored events always
   * describe the same point of the reply. Throws ReplyNotStreamingError, and writes nothing, when the
   * row is gone or has already ended.
   */
  async append(messageId: string, events: ChatEvent[], update: ReplyRowUpdate): Promise<void> {
    const em = this.db.fork();
    await em.transactional(async (tx) => {
      const lastSequence = events.at(-1)?.sequence;
      const changes = lastSequence === undefined ? update : { ...update, lastSequence };
      if (Object.keys(changes).length > 0) {
        const updated = await tx.nativeUpdate(MessageSchema, { id: messageId, status: 'STREAMING' }, changes);
        if (updated === 0) throw new ReplyNotStreamingError(messageId);
      }
      if (events.length > 0) await tx.insertMany(ReplyEventSchema, events.map(toRow));
    });
  }

  /**
   * Returns the events after `after` in sequence order. A reply generated in this process is read from
   * memory, which always holds every event emitted so far; any other from the database.
   */
  async readAfter(messageId: string, after: number): Promise<ChatEvent[]> {
    const active = this.active.get(messageId);
    if (active) return active.events.filter((event) => event.sequence > after);
    return this.readStoredAfter(messageId, after);
  }

  /**
   * Reads stored events only. Once a reply's status is final, the database holds all its events,
   * because the last event is written in the same transaction as the status.
   */
  async readStoredAfter(messageId: string, after: number): Promise<ChatEvent[]> {
    const rows = await findPlain(this.db.fork(), ReplyEventSchema, { where: { messageId, sequence: { $gt: after } }, orderBy: { sequence: 'asc' } });
    return rows.map(fromRow);
  }

  /** Reads the reply's terminal event, or returns undefined while the reply has none stored. */
  async readTerminal(messageId: string): Promise<ChatEvent | undefined> {
    const [row] = await findPlain(this.db.fork(), ReplyEventSchema, { where: { messageId }, orderBy: { sequence: 'desc' }, limit: 1 });
    const event = row ? fromRow(row) : undefined;
    return event && isTerminal(event) ? event : undefined;
  }

  async status(messageId: string): Promise<Message['status'] | undefined> {
    const row = await this.db.fork().findOne(MessageSchema, { id: messageId }, { fields: ['status'] });
    return row?.status;
  }
}
