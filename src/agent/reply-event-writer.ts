import type { Logger } from '../observability/logger.js';
import type { ReplyObserver } from '../observability/metrics.js';
import type { AbortReason, ActiveReply } from './active-replies.js';
import { conversationTopic, replyTopic, type ChatEvent, type UnsequencedChatEvent } from './chat-events.js';
import type { EventBus } from './event-bus.js';
import { ReplyNotStreamingError, type ReplyEventStore, type ReplyRowUpdate } from './reply-event-store.js';

export interface ReplyEventWriterOptions {
  reply: ActiveReply;
  store: ReplyEventStore;
  bus: EventBus;
  logger: Logger;
  /** Sequence of the last event already stored for this reply. */
  lastSequence?: number;
  /** Longest time an event waits before it is stored, in milliseconds. */
  flushIntervalMs?: number;
  /** Number of pending events that triggers a write at once. */
  maxBatchSize?: number;
  /** Told about the first text and the end, for metrics. */
  observer?: ReplyObserver;
}

/**
 * The event log of one reply. Events get consecutive sequence numbers, go to live subscribers at once,
 * and are stored in batches together with the reply's text so far. The last event is stored before it
 * is published, so a client that sees it can read the finished reply.
 */
export class ReplyEventWriter {
  private sequence: number;
  private pending: ChatEvent[] = [];
  private text = '';
  private textChanged = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private finished = false;
  /** Set when the stored reply was deleted or ended elsewhere; nothing more is stored or published. */
  private abandoned = false;
  private readonly flushIntervalMs: number;
  private readonly maxBatchSize: number;

  constructor(private readonly options: ReplyEventWriterOptions) {
    this.sequence = options.lastSequence ?? 0;
    this.flushIntervalMs = options.flushIntervalMs ?? 100;
    this.maxBatchSize = options.maxBatchSize ?? 64;
  }

  get messageId(): string {
    return this.options.reply.messageId;
  }

  /** The reply's text so far: every ReplyDelta joined in order. */
  get content(): string {
    return this.text;
  }

  emit(event: UnsequencedChatEvent): ChatEvent {
    if (this.finished) throw new Error('The reply has already ended.');
    const sequenced = this.sequenceEvent(event);
    if (this.abandoned) return sequenced;
    if (sequenced.type === 'ReplyDelta') {
      this.text += sequenced.text;
      this.textChanged = true;
      this.options.observer?.firstText();
    }
    this.pending.push(sequenced);
    this.publish(sequenced);

    if (this.pending.length >= this.maxBatchSize) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs);
    return sequenced;
  }

  /** Stores everything emitted so far. Write failures are logged and retried with the next batch. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.writing = this.writing.then(() => this.writePending());
    return this.writing;
  }

  /** Stores the final event with the reply's final state, then publishes it. */
  async finish(event: UnsequencedChatEvent, update: ReplyRowUpdate): Promise<ChatEvent> {
    if (this.finished) throw new Error('The reply has already ended.');
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;

    const sequenced = this.sequenceEvent(event);
    if (this.abandoned) return sequenced;
    const events = [...this.pending, sequenced];
    this.pending = [];
    try {
      await this.options.store.append(this.options.reply.messageId, events, { content: this.text, ...update });
    } catch (error) {
      if (!(error instanceof ReplyNotStreamingError)) throw error;
      this.abandon();
      return sequenced;
    }
    this.publish(sequenced);
    this.options.observer?.ended(update.status ?? 'COMPLETED', update.usage);
    return sequenced;
  }

  /** Stops storing, publishing and generating, because the stored reply is gone or has ended elsewhere. */
  private abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.pending = [];
    this.options.logger.info({ event: 'reply.abandoned', messageId: this.options.reply.messageId }, 'Reply was deleted or ended elsewhere; stopping it');
    this.options.reply.controller.abort('cancelled' satisfies AbortReason);
  }

  private sequenceEvent(event: UnsequencedChatEvent): ChatEvent {
    this.sequence += 1;
    return { ...event, sequence: this.sequence, messageId: this.options.reply.messageId } as ChatEvent;
  }

  private publish(event: ChatEvent): void {
    const { reply, bus } = this.options;
    reply.events.push(event);
    bus.publish(replyTopic(reply.messageId), event);
    bus.publish(conversationTopic(reply.conversationId), event);
  }

  private async writePending(): Promise<void> {
    if (this.pending.length === 0 && !this.textChanged) return;
    const events = this.pending;
    const text = this.text;
    this.pending = [];
    this.textChanged = false;
    try {
      await this.options.store.append(this.options.reply.messageId, events, { content: text });
    } catch (error) {
      if (error instanceof ReplyNotStreamingError) {
        this.abandon();
        return;
      }
      // Put the batch back in front, so the next write stores it in order.
      this.pending = [...events, ...this.pending];
      this.textChanged = true;
      this.options.logger.error(
        { event: 'reply.store_failed', messageId: this.options.reply.messageId, err: error },
        'Storing reply events failed; will retry',
      );
      if (!this.finished) this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs * 5);
    }
  }
}
