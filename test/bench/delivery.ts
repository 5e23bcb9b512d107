import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startChild } from './child.js';
import type { BenchStack } from './stack.js';
import { quantile, round } from './stats.js';

export interface DeliveryResult {
  subscribers: number;
  eventsPerSubscriber: number;
  baselinePerSecond: number;
  replayPerSecond: number;
  replayRatio: number;
}

function connect(url: string, token?: string): Client {
  return createClient({ url, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0, connectionParams: token ? { authorization: `Bearer ${token}` } : {} });
}

/** Subscribes every client at once and returns events received per second across all of them. */
async function drain(clients: Client[], query: string, variables: Record<string, unknown>, expected: number): Promise<number> {
  let received = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve, reject) => {
          let count = 0;
          client.subscribe(
            { query, variables },
            {
              next: (result) => {
                if (result.errors) reject(new Error(JSON.stringify(result.errors)));
                count += 1;
                received += 1;
              },
              error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
              complete: () => (count >= expected ? resolve() : reject(new Error(`Only ${count} of ${expected} events arrived`))),
            },
          );
        }),
    ),
  );
  return received / ((performance.now() - started) / 1000);
}

/** Rounds of each measurement, alternating baseline and service; the medians are reported. */
const ROUNDS = 5;

/**
 * Token events delivered per second to graphql-ws subscribers: the replay of a finished reply with
 * `words` deltas through the service, against a bare graphql-yoga + graphql-ws server that streams the
 * same number of events of the same shape from a generator. The two alternate for several rounds, so a
 * slow moment of the machine does not land on one side only.
 */
export async function benchDelivery(stack: BenchStack, subscribers: number, words: number): Promise<DeliveryResult> {
  const key = await stack.apiKey('delivery-user');
  await stack.simulators.call('enqueue', [{ kind: 'text', text: Array.from({ length: words }, (_, index) => `word${index}`).join(' ') }]);
  const writer = connect(stack.wsUrl, key);
  let messageId = '';
  let total = 0;
  await new Promise<void>((resolve, reject) => {
    writer.subscribe<{ chatStream: { messageId: string } }>(
      { query: 'subscription { chatStream(input: { message: "Stream a long answer" }) { ... on ReplyStarted { messageId } ... on ReplyDelta { sequence } } }' },
      {
        next: (result) => {
          total += 1;
          messageId ||= result.data?.chatStream.messageId ?? '';
        },
        error: reject,
        complete: resolve,
      },
    );
  });
  await writer.dispose();

  const baselineServer = await startChild<{ url: string }>('baselines/stream-server.ts');
  const baselineClients = Array.from({ length: subscribers }, () => connect(baselineServer.ready.url));
  const baselineQuery = 'subscription($n: Int!) { deltas(count: $n) { sequence messageId text } }';
  const replayQuery = 'subscription($id: ID!) { replyStream(messageId: $id) { ... on ReplyDelta { sequence messageId text } } }';
  const replayClients = Array.from({ length: subscribers }, () => connect(stack.wsUrl, key));
  try {
    // Warm-up: connections and JIT on both sides.
    await drain(baselineClients, baselineQuery, { n: total }, total);
    await drain(replayClients, replayQuery, { id: messageId }, total);
    const baseline: number[] = [];
    const replay: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      baseline.push(await drain(baselineClients, baselineQuery, { n: total }, total));
      replay.push(await drain(replayClients, replayQuery, { id: messageId }, total));
    }
    const baselinePerSecond = quantile(baseline, 0.5);
    const replayPerSecond = quantile(replay, 0.5);
    return {
      subscribers,
      eventsPerSubscriber: total,
      baselinePerSecond: round(baselinePerSecond, 0),
      replayPerSecond: round(replayPerSecond, 0),
      replayRatio: round(replayPerSecond / baselinePerSecond, 3),
    };
  } finally {
    await Promise.all([...baselineClients, ...replayClients].map((client) => client.dispose()));
    await baselineServer.stop();
  }
}
