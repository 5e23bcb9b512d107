import { describe, expect, it } from 'vitest';
import { AsyncQueue, QueueOverflowError } from '../../src/agent/async-queue.js';
import { replyTopic, type ChatEvent } from '../../src/agent/chat-events.js';
import { createMemoryEventBus } from '../../src/agent/event-bus.js';
import type { ReplyEventStore } from '../../src/agent/reply-event-store.js';
import { followReply } from '../../src/agent/reply-stream.js';

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
});
