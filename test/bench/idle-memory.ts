import { startChild } from './child.js';
import { startBenchStack } from './stack.js';
import { round } from './stats.js';

export interface IdleMemoryResult {
  subscriptions: number;
  connected: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  rssPerSubscriptionKiB: number;
  heapPerSubscriptionKiB: number;
}

const mib = (bytes: number) => round(bytes / 2 ** 20, 1);

/**
 * Memory the service spends per idle subscription: `count` sockets, each with one conversationEvents
 * subscription that receives nothing, opened from another process. The server runs with --expose-gc
 * so both readings are taken after a full collection.
 */
export async function benchIdleMemory(count: number, env: Record<string, string>): Promise<IdleMemoryResult> {
  const stack = await startBenchStack(env, ['--expose-gc']);
  const clients = await startChild<Record<string, never>>('ws-clients-process.ts');
  try {
    const key = await stack.apiKey('idle-user');
    const response = await fetch(stack.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: 'mutation { chat(input: { message: "Idle conversation" }) { conversation { id } } }' }),
    });
    const conversationId = ((await response.json()) as { data: { chat: { conversation: { id: string } } } }).data.chat.conversation.id;
    await new Promise((resolve) => setTimeout(resolve, 500));

    const before = await stack.server.call<NodeJS.MemoryUsage>('gc');
    const rssBefore = await stack.server.rss();
    const opened = await clients.call<{ connected: number; failed: number }>('open', {
      url: stack.wsUrl,
      token: key,
      query: 'subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }',
      variables: { id: conversationId },
      count,
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = await stack.server.call<NodeJS.MemoryUsage>('gc');
    const rssAfter = await stack.server.rss();

    return {
      subscriptions: count,
      connected: opened.connected,
      rssBeforeMiB: mib(rssBefore),
      rssAfterMiB: mib(rssAfter),
      heapBeforeMiB: mib(before.heapUsed),
      heapAfterMiB: mib(after.heapUsed),
      rssPerSubscriptionKiB: round((rssAfter - rssBefore) / opened.connected / 1024, 1),
      heapPerSubscriptionKiB: round((after.heapUsed - before.heapUsed) / opened.connected / 1024, 1),
    };
  } finally {
    await clients.call('closeAll').catch(() => undefined);
    await clients.stop();
    await stack.stop();
  }
}
