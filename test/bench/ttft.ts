import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { SCRIPTED_MODEL_NAME } from '../../src/simulators/scripted-model/index.js';
import type { BenchStack } from './stack.js';
import { quantile, round } from './stats.js';

const MESSAGE = 'Hello from the benchmark';

export interface TtftRow {
  concurrency: number;
  samples: number;
  modelP50: number;
  modelP99: number;
  serviceP50: number;
  serviceP99: number;
  addedP50: number;
  addedP99: number;
}

/** Time from request to the first non-empty content chunk, straight from the scripted model. */
async function modelTtft(modelUrl: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${modelUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: SCRIPTED_MODEL_NAME, stream: true, messages: [{ role: 'user', content: MESSAGE }] }),
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let first: number | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    if (first === undefined && /"content":"[^"]/.test(buffer)) first = performance.now() - started;
  }
  if (first === undefined) throw new Error('The scripted model sent no content');
  return first;
}

/** Time from subscribing to chatStream to the first ReplyDelta, through the service. */
function serviceTtft(client: Client): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let first: number | undefined;
    client.subscribe<{ chatStream: { __typename: string } }>(
      { query: `subscription($m: String!) { chatStream(input: { message: $m }) { __typename } }`, variables: { m: MESSAGE } },
      {
        next: (result) => {
          if (result.errors) reject(new Error(JSON.stringify(result.errors)));
          if (first === undefined && result.data?.chatStream.__typename === 'ReplyDelta') first = performance.now() - started;
        },
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => (first === undefined ? reject(new Error('The reply had no delta')) : resolve(first)),
      },
    );
  });
}

/**
 * Time to first token at each concurrency: the scripted model alone, then through the service with the
 * same number of simultaneous turns (one user and one socket per stream, so per-user limits do not
 * queue them). The difference is what the service adds.
 */
export async function benchTimeToFirstToken(stack: BenchStack, concurrencies: number[], minSamples: number): Promise<TtftRow[]> {
  const rows: TtftRow[] = [];
  const largest = Math.max(...concurrencies);
  const clients: Client[] = [];
  for (let index = 0; index < largest; index += 1) {
    const key = await stack.apiKey(`ttft-user-${index}`);
    clients.push(
      createClient({ url: stack.wsUrl, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0, connectionParams: { authorization: `Bearer ${key}` } }),
    );
  }

  // Warm-up: connections, prepared statements, the home summary cache and JIT.
  await Promise.all(clients.map((client) => serviceTtft(client)));
  await Promise.all(clients.map(() => modelTtft(stack.simulators.ready.modelUrl)));

  for (const concurrency of concurrencies) {
    const rounds = Math.max(3, Math.ceil(minSamples / concurrency));
    const model: number[] = [];
    const service: number[] = [];
    for (let roundIndex = 0; roundIndex < rounds; roundIndex += 1) {
      model.push(...(await Promise.all(Array.from({ length: concurrency }, () => modelTtft(stack.simulators.ready.modelUrl)))));
      service.push(...(await Promise.all(clients.slice(0, concurrency).map((client) => serviceTtft(client)))));
    }
    const row = {
      concurrency,
      samples: service.length,
      modelP50: quantile(model, 0.5),
      modelP99: quantile(model, 0.99),
      serviceP50: quantile(service, 0.5),
      serviceP99: quantile(service, 0.99),
      addedP50: 0,
      addedP99: 0,
    };
    row.addedP50 = row.serviceP50 - row.modelP50;
    row.addedP99 = row.serviceP99 - row.modelP99;
    rows.push(
      Object.fromEntries(
        Object.entries(row).map(([key, value]) => [key, key === 'concurrency' || key === 'samples' ? value : round(value)]),
      ) as unknown as TtftRow,
    );
  }

  await Promise.all(clients.map((client) => client.dispose()));
  return rows;
}
