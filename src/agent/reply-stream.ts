import { AsyncQueue } from './async-queue.js';
import { conversationDeletedTopic, conversationTopic, isTerminal, replyTopic, type ChatEvent } from './chat-events.js';
import type { EventBus } from './event-bus.js';
import type { ReplyEventStore } from './reply-event-store.js';

export interface FollowReplyOptions {
  messageId: string;
  /** Replay starts after this sequence; 0 replays everything. */
  after: number;
  bus: EventBus;
  store: ReplyEventStore;
  /** Live events a subscriber may fall behind before its stream fails. */
  capacity?: number;
  /** Silence after which the stored state is checked again, in milliseconds. */
  recheckAfterMs?: number;
  /** How long a gap between stored and live events may take to fill, in milliseconds. */
  gapTimeoutMs?: number;
  /** Ends the stream, after the events already received, when aborted (at shutdown). */
  signal?: AbortSignal;
  /** Receives the function that ends the stream's wait for its next event. */
  closer?: StreamCloser;
}

/** Filled in by a stream with the function that ends its wait, so its owner can free it at once. */
export interface StreamCloser {
  close?: () => void;
}

/** Raised when events between the stored and the live part never became readable. */
export class ReplayGapError extends Error {
  constructor(messageId: string, from: number, to: number) {
    super(`Events ${from}..${to} of reply ${messageId} could not be read.`);
    this.name = 'ReplayGapError';
  }
}

/**
 * Yields a reply's events after `after`: first the stored ones, then live ones from the bus, each
 * sequence exactly once and in order, and returns after the reply's last event.
 *
 * The live subscription starts before the stored events are read, so nothing published in between is
 * lost. A live event that runs ahead of what was read (its predecessors were published on another
 * instance but not yet stored) triggers another read until the gap is filled.
 */
export async function* followReply(options: FollowReplyOptions): AsyncGenerator<ChatEvent> {
  const { messageId, bus, store } = options;
  const recheckAfterMs = options.recheckAfterMs ?? 5_000;
  const gapTimeoutMs = options.gapTimeoutMs ?? 5_000;
  const live = new AsyncQueue<ChatEvent>(options.capacity ?? 1_024);
  const unsubscribe = bus.subscribe(replyTopic(messageId), (payload) => live.push(payload as ChatEvent));
  const stop = () => live.end();
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) stop();
  if (options.closer) options.closer.close = stop;

  let last = options.after;
  try {
    // Stored events are read only once the bus delivers live ones, so nothing falls between the two.
    await unsubscribe.ready;
    for (const event of await store.readAfter(messageId, last)) {
      yield event;
      last = event.sequence;
      if (isTerminal(event)) return;
    }
    // A reply that has already ended and whose last event lies at or before `after` has nothing more.
    const status = await store.status(messageId);
    if (status === undefined || status !== 'STREAMING') {
      for (const event of await store.readStoredAfter(messageId, last)) yield event;
      return;
    }

    for (;;) {
      const taken = await live.take(recheckAfterMs);
      if (taken.kind === 'end') return;

      if (taken.kind === 'timeout') {
        // Quiet for a while: the generator may have ended somewhere this bus does not reach.
        const quietStatus = await store.status(messageId);
        for (const event of await store.readStoredAfter(messageId, last)) {
          yield event;
          last = event.sequence;
          if (isTerminal(event)) return;
        }
        if (quietStatus === undefined || quietStatus !== 'STREAMING') return;
        continue;
      }

      const event = taken.value;
      if (event.sequence <= last) continue;
      if (event.sequence > last + 1) {
        for await (const missing of fillGap(store, messageId, last, event.sequence, gapTimeoutMs)) {
          yield missing;
          last = missing.sequence;
        }
      }
      yield event;
      last = event.sequence;
      if (isTerminal(event)) return;
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    unsubscribe();
    live.end();
  }
}

async function* fillGap(store: ReplyEventStore, messageId: string, last: number, next: number, timeoutMs: number): AsyncGenerator<ChatEvent> {
  const deadline = Date.now() + timeoutMs;
  let reached = last;
  for (;;) {
    for (const event of await store.readAfter(messageId, reached)) {
      if (event.sequence >= next) break;
      if (event.sequence !== reached + 1) break;
      yield event;
      reached = event.sequence;
    }
    if (reached === next - 1) return;
    if (Date.now() > deadline) throw new ReplayGapError(messageId, reached + 1, next - 1);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Yields the live events of every reply in a conversation, in the order the bus delivers them, until the
 * conversation is deleted or `signal` is aborted. A subscriber that falls more than `capacity` events
 * behind is ended with an error rather than buffered without bound.
 */
export async function* followConversation(
  bus: EventBus,
  conversationId: string,
  options: { capacity?: number; signal?: AbortSignal; closer?: StreamCloser } = {},
): AsyncGenerator<ChatEvent> {
  const live = new AsyncQueue<ChatEvent>(options.capacity ?? 1_024);
  const stopEvents = bus.subscribe(conversationTopic(conversationId), (payload) => live.push(payload as ChatEvent));
  const stopDeleted = bus.subscribe(conversationDeletedTopic(conversationId), () => live.end());
  const stop = () => live.end();
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) stop();
  if (options.closer) options.closer.close = stop;
  try {
    await Promise.all([stopEvents.ready, stopDeleted.ready]);
    for (;;) {
      const taken = await live.take();
      if (taken.kind !== 'item') return;
      yield taken.value;
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    stopEvents();
    stopDeleted();
    live.end();
  }
}
