import { Agent, request } from 'node:http';
import { serveParent } from './child.js';

interface LoadOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  concurrency: number;
  durationMs: number;
}

/** Sends the same POST from `concurrency` keep-alive connections for `durationMs`, in its own process. */
async function run(options: LoadOptions) {
  const target = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const statuses: Record<number, number> = {};
  let completed = 0;
  let failed = 0;
  const deadline = Date.now() + options.durationMs;

  const once = () =>
    new Promise<void>((resolve) => {
      const outgoing = request(
        {
          hostname: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body), ...options.headers },
        },
        (response) => {
          response.resume();
          response.on('end', () => {
            statuses[response.statusCode ?? 0] = (statuses[response.statusCode ?? 0] ?? 0) + 1;
            if (response.statusCode === 200) completed += 1;
            else failed += 1;
            resolve();
          });
        },
      );
      outgoing.on('error', () => {
        failed += 1;
        resolve();
      });
      outgoing.end(options.body);
    });

  const started = Date.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (Date.now() < deadline) await once();
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  agent.destroy();
  return { completed, failed, statuses, perSecond: completed / seconds };
}

serveParent({}, { run: (options) => run(options as LoadOptions) });
