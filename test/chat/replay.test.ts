import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, collectWs, wsClient, type Collected } from '../support/clients.js';
import { CHAT_STREAM, REPLY_STREAM, eventsOf, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack({ model: { chunkDelayMs: 15 } });
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function sequences(events: StreamedEvent[]): number[] {
  return events.map((event) => event.sequence);
}

describe('replyStream replay', () => {
  it('gives every subscriber exactly the events after its start', async () => {
    const client = wsClient(stack.wsUrl, key);
    const target = collectWs(client, CHAT_STREAM, { input: { message: 'Replay target: please answer at length' } });
    await until(() => target.results.length > 0, 'the first event');
    const messageId = eventsOf(target.results, 'chatStream')[0]?.messageId as string;

    // Other turns stream at the same time, on the same bus.
    const others = [
      collectWs(client, CHAT_STREAM, { input: { message: 'Other turn one' } }),
      collectWs(client, CHAT_STREAM, { input: { message: 'Other turn two' } }),
    ];

    const early = collectWs(client, REPLY_STREAM, { messageId });
    await until(() => target.results.length >= 8, 'eight events');
    const seenWhenMiddleJoined = target.results.length;
    const middle = collectWs(client, REPLY_STREAM, { messageId });
    const middleAfter = collectWs(client, REPLY_STREAM, { messageId, after: 5 });

    // Joiners at many points of the stream, so some land on the seam between stored and live events.
    const staggered: Collected[] = [];
    while (staggered.length < 15 && target.results.length < 40) {
      staggered.push(collectWs(client, REPLY_STREAM, { messageId }));
      await new Promise((resolve) => setTimeout(resolve, 12));
    }

    await target.done;
    const full = eventsOf(target.results, 'chatStream');
    expect(full.length).toBeGreaterThan(seenWhenMiddleJoined);
    expect(sequences(full)).toEqual(full.map((_, index) => index + 1));
    expect(full.at(-1)?.__typename).toBe('ReplyCompleted');

    const late = collectWs(client, REPLY_STREAM, { messageId });
    const lateAfter = collectWs(client, REPLY_STREAM, { messageId, after: 10 });
    const lateSse = collectSse(stack.graphqlUrl, key, REPLY_STREAM, { messageId });
    const beyondEnd = collectWs(client, REPLY_STREAM, { messageId, after: full.length });

    await Promise.all([early, middle, middleAfter, late, lateAfter, lateSse, beyondEnd, ...staggered, ...others].map((stream) => stream.done));
    await client.dispose();

    expect(eventsOf(early.results, 'replyStream')).toEqual(full);
    expect(eventsOf(middle.results, 'replyStream')).toEqual(full);
    expect(eventsOf(middleAfter.results, 'replyStream')).toEqual(full.filter((event) => event.sequence > 5));
    expect(eventsOf(late.results, 'replyStream')).toEqual(full);
    expect(eventsOf(lateAfter.results, 'replyStream')).toEqual(full.filter((event) => event.sequence > 10));
    expect(eventsOf(lateSse.results, 'replyStream')).toEqual(full);
    expect(beyondEnd.results).toEqual([]);
    expect(staggered.length).toBeGreaterThan(5);
    for (const stream of staggered) expect(eventsOf(stream.results, 'replyStream')).toEqual(full);
  });

  it('never mixes the events of two conversations streaming at once', async () => {
    const client = wsClient(stack.wsUrl, key);
    const first = collectWs(client, CHAT_STREAM, { input: { message: 'First conversation talks about lamps' } });
    const second = collectWs(client, CHAT_STREAM, { input: { message: 'Second conversation talks about fans' } });
    await Promise.all([first.done, second.done]);
    await client.dispose();

    const firstEvents = eventsOf(first.results, 'chatStream');
    const secondEvents = eventsOf(second.results, 'chatStream');
    const firstId = firstEvents[0]?.messageId;
    const secondId = secondEvents[0]?.messageId;
    expect(firstId).not.toBe(secondId);
    expect(firstEvents.every((event) => event.messageId === firstId)).toBe(true);
    expect(secondEvents.every((event) => event.messageId === secondId)).toBe(true);
    expect(sequences(firstEvents)).toEqual(firstEvents.map((_, index) => index + 1));
    expect(sequences(secondEvents)).toEqual(secondEvents.map((_, index) => index + 1));

    const text = (events: StreamedEvent[]) =>
      events
        .filter((event) => event.text)
        .map((event) => event.text)
        .join('');
    expect(text(firstEvents)).toContain('lamps');
    expect(text(firstEvents)).not.toContain('fans');
    expect(text(secondEvents)).toContain('fans');
    expect(text(secondEvents)).not.toContain('lamps');
  });
});
