import { AsyncQueue } from './async-queue.js';
import { conversationDeletedTopic, conversationTopic, isTerminal, replyTopic, type ChatEvent } from './chat-events.js';
import type { EventBus } from './event-bus.js';
import type { Message } from '../conversations/message.entity.js';
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
  /**
   * Ends the stream when aborted (at shutdown): after the events already received, then those stored
   * after them, so a reply that has ended still sends its terminal event.
   */
  signal?: AbortSignal;
  /** Receives the function that ends the stream's wait for its next event. */
  closer?: StreamCloser;
}

/**
 * Filled in by a stream with the function that ends its wait, so its owner can free it at once. A
 * stream closed this way reads nothing more from storage.
 */
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
 * sequence exactly once and in order, and returns after the reply's terminal event.
 *
 * The live subscription starts before the stored events are read, so nothing published in between is
 * lost. A live event that runs ahead of what was read (its predecessors were published on another
 * instance but not yet stored) triggers another read until the gap is filled.
 *
 * One exception to "in order": when an instance dies, the events it published but had not stored yet
 * are lost, and the recovery stores the terminal event right after the last stored one. A subscriber
 * that saw lost events live still gets that terminal event, with a sequence it has already seen, and
 * its message contains the stored text.
 */
export async function* followReply(options: FollowReplyOptions): AsyncGenerator<ChatEvent> {
  const { messageId, after, bus, store } = options;
  const recheckAfterMs = options.recheckAfterMs ?? 5_000;
  const gapTimeoutMs = options.gapTimeoutMs ?? 5_000;
  const live = new AsyncQueue<ChatEvent>(options.capacity ?? 1_024);
  const unsubscribe = bus.subscribe(replyTopic(messageId), (payload) => live.push(payload as ChatEvent));
  let shuttingDown = false;
  let closedByClient = false;
  const stop = () => {
    shuttingDown = true;
    live.end();
  };
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) stop();
  if (options.closer) {
    options.closer.close = () => {
      closedByClient = true;
      live.end();
    };
  }

  let last = after;
  try {
    // Stored events are read only once the bus delivers live ones, so nothing falls between the two.
    await unsubscribe.ready;
    for (const event of await store.readAfter(messageId, last)) {
      yield event;
      last = event.sequence;
      if (isTerminal(event)) return;
    }
    const status = await store.status(messageId);
    if (status !== 'STREAMING') {
      yield* readStoredEnd(store, messageId, status, last, after);
      return;
    }

    for (;;) {
      const taken = await live.take(recheckAfterMs);
      if (taken.kind === 'end') {
        if (closedByClient || !shuttingDown) return;
        // At shutdown the reply's last events may still be on their way through the bus (a Redis round
        // trip). The terminal event is stored before it is published, so storage has it once the reply ended.
        yield* readStoredEnd(store, messageId, await store.status(messageId), last, after);
        return;
      }

      if (taken.kind === 'timeout') {
        // Quiet for a while: the generator may have ended somewhere this bus does not reach.
        const quietStatus = await store.status(messageId);
        const read = yield* readStoredEnd(store, messageId, quietStatus, last, after);
        if (read.ended) return;
        last = read.last;
        continue;
      }

      const event = taken.value;
      if (event.sequence <= last) {
        // A repeat, except for a terminal event: the stream returns after the first one it yields, so
        // this one is new. It repeats a number when recovery ended a reply whose last live events were lost.
        if (!isTerminal(event)) continue;
        yield event;
        return;
      }
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

/**
 * Yields the stored events after `last` up to the terminal one. `status` must be read before the
 * events, so a final status means every event is stored. When the reply has ended but its terminal
 * event lies at or before `last`, the subscriber saw lost live events with those numbers, and the
 * terminal event is yielded anyway. It is skipped only when it carries `after` itself and nothing
 * beyond was seen, because a client that resubscribes after the end passes the terminal event's sequence.
 * Returns the last sequence seen and whether the stream is done.
 */
async function* readStoredEnd(
  store: ReplyEventStore,
  messageId: string,
  status: Message['status'] | undefined,
  last: number,
  after: number,
): AsyncGenerator<ChatEvent, { last: number; ended: boolean }> {
  let seen = last;
  for (const event of await store.readStoredAfter(messageId, seen)) {
    yield event;
    seen = event.sequence;
    if (isTerminal(event)) return { last: seen, ended: true };
  }
  if (status === 'STREAMING') return { last: seen, ended: false };
  if (status === undefined) return { last: seen, ended: true };
  const terminal = await store.readTerminal(messageId);
  if (terminal && (terminal.sequence !== after || seen > after)) yield terminal;
  return { last: seen, ended: true };
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
