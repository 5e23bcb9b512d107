import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import type { EventBus } from '../../src/agent/event-bus.js';
import { createApp, type App } from '../../src/app.js';
import type { Scope } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';

/** A fake HS256 secret for tests; never a real one. */
export const TEST_JWT_SECRET = 'test-secret-for-jwt-signing-0123456789abcdef';

export interface TestServer {
  app: App;
  /** http://127.0.0.1:PORT */
  url: string;
  /** http://127.0.0.1:PORT/graphql */
  graphqlUrl: string;
  /** ws://127.0.0.1:PORT/graphql */
  wsUrl: string;
  /** Every log line the server wrote, parsed. */
  logs: Record<string, unknown>[];
  /** Creates an API key for the user and returns it. */
  apiKey(userId: string, scopes?: Scope[]): Promise<string>;
  /** Signs an HS256 JWT for the user with the test secret. */
  jwt(userId: string, claims?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Environment variables on top of the test defaults. */
  env?: Record<string, string | undefined>;
  /** Keep the database in this folder instead of a new temporary one (to restart on the same file). */
  dataDir?: string;
  /** Share this bus with other servers, as instances share Redis. */
  bus?: EventBus;
}

/**
 * Starts the real server on an ephemeral loopback port with a SQLite file in a temporary folder, and
 * captures its JSON log lines.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}`,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'debug',
    // Attack tests send many bad credentials from one address; only the rate-limit tests lower this.
    RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '10000',
    ...options.env,
  });

  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const secrets = [config.openai.apiKey, config.homeAssistant.token, config.auth.jwtSecret].filter((value): value is string => Boolean(value));
  const logger = createLogger({ level: config.logLevel, secrets, destination: { write: (line: string) => destination.write(line) } });

  const app = await createApp(config, { logger, bus: options.bus });
  const url = await app.listen();

  return {
    app,
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `${url.replace(/^http/, 'ws')}/graphql`,
    logs,
    async apiKey(userId, scopes) {
      return (await app.services.apiKeys.create(userId, { scopes })).key;
    },
    async jwt(userId, claims = {}) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(userId)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    },
    async close() {
      await app.close(2_000);
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
