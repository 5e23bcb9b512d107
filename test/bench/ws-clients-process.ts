import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { serveParent } from './child.js';

interface OpenOptions {
  url: string;
  token: string;
  query: string;
  variables: Record<string, unknown>;
  count: number;
}

const clients: Client[] = [];

/** Opens `count` sockets with one idle subscription each, in batches so the server is not flooded. */
async function open(options: OpenOptions): Promise<{ connected: number; failed: number }> {
  let connected = 0;
  let failed = 0;
  const batchSize = 200;
  for (let start = 0; start < options.count; start += batchSize) {
    const batch = Array.from({ length: Math.min(batchSize, options.count - start) }, async () => {
      const client = createClient({
        url: options.url,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${options.token}` },
      });
      clients.push(client);
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 30_000);
        client.on('connected', () => {
          clearTimeout(timer);
          resolve(true);
        });
        client.on('closed', () => resolve(false));
      });
      if (!ok) {
        failed += 1;
        return;
      }
      client.subscribe({ query: options.query, variables: options.variables }, { next: () => {}, error: () => {}, complete: () => {} });
      connected += 1;
    });
    await Promise.all(batch);
  }
  return { connected, failed };
}

serveParent(
  {},
  {
    open: (options) => open(options as OpenOptions),
    closeAll: async () => {
      await Promise.all(clients.splice(0).map((client) => client.dispose()));
      return true;
    },
  },
);
