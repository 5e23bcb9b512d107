import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SCRIPTED_MODEL_NAME } from '../../src/simulators/scripted-model/index.js';
import { startChild, type Child } from './child.js';

export interface BenchStack {
  server: Child<{ url: string }>;
  simulators: Child<{ modelUrl: string; haUrl: string; haToken: string }>;
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  apiKey(userId: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Limits high enough that no benchmark request is rejected, while every limiter still runs on every
 * request, as in production.
 */
export const BENCH_LIMITS: Record<string, string> = {
  RATE_LIMIT_CHAT_PER_MINUTE: '100000',
  RATE_LIMIT_OPERATIONS_PER_MINUTE: '1000000',
  MAX_CONCURRENT_REPLIES_PER_USER: '1000',
  MAX_SUBSCRIPTIONS_PER_USER: '1000000',
  WS_MAX_CONNECTIONS_PER_USER: '100000',
};

/** Starts the simulators and the service, each in its own process, with a fresh SQLite file. */
export async function startBenchStack(env: Record<string, string> = {}, nodeOptions: string[] = []): Promise<BenchStack> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-bench-'));
  const simulators = await startChild<{ modelUrl: string; haUrl: string; haToken: string }>('simulators-process.ts');
  const server = await startChild<{ url: string }>(
    'server-process.ts',
    [],
    {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      DATABASE_URL: `sqlite:${path.join(dataDir, 'bench.db')}`,
      OPENAI_BASE_URL: simulators.ready.modelUrl,
      OPENAI_MODEL: SCRIPTED_MODEL_NAME,
      HA_URL: simulators.ready.haUrl,
      HA_TOKEN: simulators.ready.haToken,
      ...BENCH_LIMITS,
      ...env,
    },
    nodeOptions,
  );
  const url = server.ready.url;
  return {
    server,
    simulators,
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `${url.replace(/^http/, 'ws')}/graphql`,
    apiKey: (userId) => server.call<string>('apiKey', userId),
    async stop() {
      await server.stop();
      await simulators.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
