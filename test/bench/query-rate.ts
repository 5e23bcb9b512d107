import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startChild } from './child.js';
import type { BenchStack } from './stack.js';
import { round } from './stats.js';

export interface QueryRateResult {
  concurrency: number;
  seconds: number;
  baselinePerSecond: number;
  /** The same messages query answered from memory by the bare server: what executing it alone allows. */
  bareMessagesPerSecond: number;
  /** `{ viewer { id } }` through the service: authentication, limits and plugins with almost no work. */
  viewerPerSecond: number;
  servicePerSecond: number;
  ratio: number;
  bareMessagesRatio: number;
  viewerRatio: number;
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

  const body = JSON.stringify({ query: MESSAGES_QUERY, variables: { id: conversationId } });
  const headers = { authorization: `Bearer ${key}` };
  const sample = (await (await fetch(stack.graphqlUrl, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body })).json()) as {
    data: { conversation: { messages: { edges: { node: unknown }[] } } };
  };
  const nodes = sample.data.conversation.messages.edges.map((edge) => edge.node);
  if (nodes.length !== 50) throw new Error(`Expected 50 messages, got ${nodes.length}`);

  const load = await startChild<Record<string, never>>('http-load-process.ts');
  /** Warms up for a second, then measures for `seconds`. */
  const measure = async (url: string, requestBody: string, requestHeaders: Record<string, string>) => {
    await load.call('run', { url, body: requestBody, headers: requestHeaders, concurrency, durationMs: 1000 });
    return load.call<{ perSecond: number; failed: number }>('run', {
      url,
      body: requestBody,
      headers: requestHeaders,
      concurrency,
      durationMs: seconds * 1000,
    });
  };
  try {
    const hello = await startChild<{ url: string }>('baselines/hello-server.ts');
    await hello.call('setMessages', nodes);
    const baseline = await measure(hello.ready.url, JSON.stringify({ query: '{ hello }' }), {});
    const bareMessages = await measure(hello.ready.url, body, {});
    await hello.stop();

    const viewer = await measure(stack.graphqlUrl, JSON.stringify({ query: '{ viewer { id } }' }), headers);
    const service = await measure(stack.graphqlUrl, body, headers);

    return {
      concurrency,
      seconds,
      baselinePerSecond: round(baseline.perSecond, 0),
      bareMessagesPerSecond: round(bareMessages.perSecond, 0),
      viewerPerSecond: round(viewer.perSecond, 0),
      servicePerSecond: round(service.perSecond, 0),
      ratio: round(service.perSecond / baseline.perSecond, 3),
      bareMessagesRatio: round(bareMessages.perSecond / baseline.perSecond, 3),
      viewerRatio: round(viewer.perSecond / baseline.perSecond, 3),
      serviceFailed: service.failed + viewer.failed + bareMessages.failed,
    };
  } finally {
    await load.stop();
  }
}
