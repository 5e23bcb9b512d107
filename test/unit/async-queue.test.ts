import { describe, expect, it } from 'vitest';
import { AsyncQueue, QueueOverflowError } from '../../src/agent/async-queue.js';
import { replyTopic, type ChatEvent } from '../../src/agent/chat-events.js';
import { createMemoryEventBus } from '../../src/agent/event-bus.js';
import type { ReplyEventStore } from '../../src/agent/reply-event-store.js';
import { followReply, type StreamCloser } from '../../src/agent/reply-stream.js';

describe('AsyncQueue', () => {
  it('fails instead of growing past its capacity', async () => {
    const queue = new AsyncQueue<number>(3);
    for (let item = 0; item < 3; item += 1) queue.push(item);
    expect(queue.size).toBe(3);

    queue.push(3);

    expect(queue.size).toBe(0);
    await expect(queue.take()).rejects.toBeInstanceOf(QueueOverflowError);
  });

  it('hands items to a waiting consumer without buffering', async () => {
    const queue = new AsyncQueue<number>(1);
    const taken = queue.take();
    queue.push(1);
    queue.push(2);

    expect(await taken).toEqual({ kind: 'item', value: 1 });
    expect(queue.size).toBe(1);
  });
});

describe('followReply', () => {
  it('ends a subscriber that falls too far behind', async () => {
    const bus = createMemoryEventBus();
    const store = { readAfter: async () => [], readStoredAfter: async () => [], status: async () => 'STREAMING' } as unknown as ReplyEventStore;
    const events = followReply({ messageId: 'reply-1', after: 0, bus, store, capacity: 10 });

    const first = events.next();
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (let sequence = 1; sequence <= 20; sequence += 1) {
      bus.publish(replyTopic('reply-1'), { type: 'ReplyDelta', text: 'x', sequence, messageId: 'reply-1' } satisfies ChatEvent);
    }

    expect((await first).value).toMatchObject({ sequence: 1 });
    const drained: number[] = [];
    await expect(
      (async () => {
        for (;;) {
          const next = await events.next();
          if (next.done) return;
          drained.push(next.value.sequence);
        }
      })(),
    ).rejects.toBeInstanceOf(QueueOverflowError);
    expect(drained.length).toBeLessThanOrEqual(10);
  });
  function delta(sequence: number): ChatEvent {
    return { type: 'ReplyDelta', text: `d${sequence}`, sequence, messageId: 'reply-1' };
  }

  function interrupted(sequence: number): ChatEvent {
    return { type: 'ReplyInterrupted', sequence, messageId: 'reply-1' } as ChatEvent;
  }

  /** Creates a store whose reply stays STREAMING with nothing stored until a test changes `state`. */
  function fakeStore() {
    const state = { status: 'STREAMING', stored: [] as ChatEvent[], reads: 0 };
    const store = {
      readAfter: async (_id: string, after: number) => state.stored.filter((event) => event.sequence > after),
      readStoredAfter: async (_id: string, after: number) => {
        state.reads += 1;
        return state.stored.filter((event) => event.sequence > after);
      },
      readTerminal: async () => state.stored.at(-1),
      status: async () => state.status,
    } as unknown as ReplyEventStore;
    return { state, store };
  }

  async function collect(events: AsyncGenerator<ChatEvent>): Promise<ChatEvent[]> {
    const collected: ChatEvent[] = [];
    for await (const event of events) collected.push(event);
    return collected;
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

  it('yields a live final event with a number already seen', async () => {
    const bus = createMemoryEventBus();
    const { store } = fakeStore();
    const done = collect(followReply({ messageId: 'reply-1', after: 0, bus, store }));
    await settle();
    for (const event of [delta(1), delta(2), delta(2), delta(3), interrupted(2)]) bus.publish(replyTopic('reply-1'), event);

    expect((await done).map((event) => [event.type, event.sequence])).toEqual([
      ['ReplyDelta', 1],
      ['ReplyDelta', 2],
      ['ReplyDelta', 3],
      ['ReplyInterrupted', 2],
    ]);
  });

  it('reads a stored final event with a number already seen', async () => {
    const bus = createMemoryEventBus();
    const { state, store } = fakeStore();
    const done = collect(followReply({ messageId: 'reply-1', after: 0, bus, store, recheckAfterMs: 30 }));
    await settle();
    for (const event of [delta(1), delta(2), delta(3)]) bus.publish(replyTopic('reply-1'), event);
    // The final event was stored, but its publication never reached this bus.
    state.stored = [delta(1), interrupted(2)];
    state.status = 'INTERRUPTED';

    expect((await done).map((event) => event.sequence)).toEqual([1, 2, 3, 2]);
  });

  it('reads the final event at shutdown', async () => {
    const bus = createMemoryEventBus();
    const { state, store } = fakeStore();
    const shutdown = new AbortController();
    const done = collect(followReply({ messageId: 'reply-1', after: 0, bus, store, signal: shutdown.signal }));
    await settle();
    bus.publish(replyTopic('reply-1'), delta(1));
    state.stored = [delta(1), delta(2), { type: 'ReplyCompleted', sequence: 3, messageId: 'reply-1' } as ChatEvent];
    state.status = 'COMPLETED';
    shutdown.abort();

    expect((await done).map((event) => [event.type, event.sequence])).toEqual([
      ['ReplyDelta', 1],
      ['ReplyDelta', 2],
      ['ReplyCompleted', 3],
    ]);
  });

  it('ends a closed stream without reading storage', async () => {
    const bus = createMemoryEventBus();
    const { state, store } = fakeStore();
    const closer: StreamCloser = {};
    const shutdown = new AbortController();
    const done = collect(followReply({ messageId: 'reply-1', after: 0, bus, store, signal: shutdown.signal, closer }));
    await settle();
    bus.publish(replyTopic('reply-1'), delta(1));
    const readsBefore = state.reads;
    state.stored = [delta(1), delta(2)];
    closer.close?.();
    shutdown.abort();

    expect((await done).map((event) => event.sequence)).toEqual([1]);
    expect(state.reads).toBe(readsBefore);
  });
});
