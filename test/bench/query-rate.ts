import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startChild } from './child.js';
import type { BenchStack } from './stack.js';
import { round } from './stats.js';

export interface QueryRateResult {
  concurrency: number;
  seconds: number;
  baselinePerSecond: number;
  servicePerSecond: number;
  ratio: number;
  serviceFailed: number;
}

const MESSAGES_QUERY = `query($id: ID!) { conversation(id: $id) { messages(first: 50) { edges { node { id role content status createdAt } } } } }`;

/**
 * Authenticated `conversation { messages(first: 50) }` requests per second against the service, with
 * every plugin (auth, limits, masking) on, compared with `{ hello }` on a bare graphql-yoga server.
 * The load comes from a separate process over keep-alive connections.
 */
export async function benchQueryRate(stack: BenchStack, concurrency: number, seconds: number): Promise<QueryRateResult> {
  const key = await stack.apiKey('query-user');
  const client = createClient({
    url: stack.wsUrl,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${key}` },
  });
  let conversationId: string | undefined;
  for (let turn = 0; turn < 25; turn += 1) {
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ chatStream: { conversationId?: string } }>(
        {
          query: 'subscription($input: ChatInput!) { chatStream(input: $input) { ... on ReplyStarted { conversationId } } }',
          variables: { input: { message: `Message number ${turn}`, ...(conversationId ? { conversationId } : {}) } },
        },
        { next: (result) => (conversationId ??= result.data?.chatStream.conversationId), error: reject, complete: resolve },
      );
    });
  }
  await client.dispose();

  const load = await startChild<Record<string, never>>('http-load-process.ts');
  try {
    const hello = await startChild<{ url: string }>('baselines/hello-server.ts');
    const helloBody = JSON.stringify({ query: '{ hello }' });
    await load.call('run', { url: hello.ready.url, body: helloBody, headers: {}, concurrency, durationMs: 1000 });
    const baseline = await load.call<{ perSecond: number }>('run', {
      url: hello.ready.url,
      body: helloBody,
      headers: {},
      concurrency,
      durationMs: seconds * 1000,
    });
    await hello.stop();

    const body = JSON.stringify({ query: MESSAGES_QUERY, variables: { id: conversationId } });
    const headers = { authorization: `Bearer ${key}` };
    await load.call('run', { url: stack.graphqlUrl, body, headers, concurrency, durationMs: 1000 });
    const service = await load.call<{ perSecond: number; failed: number }>('run', {
      url: stack.graphqlUrl,
      body,
      headers,
      concurrency,
      durationMs: seconds * 1000,
    });

    return {
      concurrency,
      seconds,
      baselinePerSecond: round(baseline.perSecond, 0),
      servicePerSecond: round(service.perSecond, 0),
      ratio: round(service.perSecond / baseline.perSecond, 3),
      serviceFailed: service.failed,
    };
  } finally {
    await load.stop();
  }
}
