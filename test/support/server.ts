import path from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import type { EventBus } from '../../src/agent/event-bus.js';
import { createApp, type App, type AppOptions } from '../../src/app.js';
import type { Scope } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from './services.js';

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
  /** The DATABASE_URL the server uses. */
  databaseUrl: string;
  /** The SQLite file, when the server uses SQLite. */
  databaseFile: string | undefined;
  /** Creates an API key for the user and returns it. */
  apiKey(userId: string, scopes?: Scope[]): Promise<string>;
  /** Signs an HS256 JWT for the user with the test secret. */
  jwt(userId: string, claims?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Environment variables on top of the test defaults. */
  env?: Record<string, string | undefined>;
  /**
   * Use this database (to restart on the same data) instead of a new one. Without it each server gets
   * its own: SQLite, or PostgreSQL under TEST_DATABASE=postgres.
   */
  database?: TestDatabase;
  /** Keep a SQLite database in this folder, which the caller removes (to restart on the same file). */
  dataDir?: string;
  /** Share this bus with other servers, as instances share Redis. */
  bus?: EventBus;
  /** Options for createApp beyond the logger, such as readiness timings. */
  app?: Omit<AppOptions, 'logger'>;
}

/**
 * Starts the real server on an ephemeral loopback port with a database of its own, and captures its JSON
 * log lines.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const ownDatabase = options.database === undefined && options.dataDir === undefined;
  const database: TestDatabase =
    options.database ??
    (options.dataDir === undefined
      ? await createTestDatabase()
      : { kind: 'sqlite', url: `sqlite:${path.join(options.dataDir, 'test.db')}`, file: path.join(options.dataDir, 'test.db'), remove: async () => {} });
  const config = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: database.url,
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

  let app: App;
  try {
    app = await createApp(config, { ...options.app, ...(options.bus ? { bus: options.bus } : {}), logger });
  } catch (error) {
    if (ownDatabase) await database.remove();
    throw error;
  }
  let url: string;
  try {
    url = await app.listen();
  } catch (error) {
    await app.close(0);
    if (ownDatabase) await database.remove();
    throw error;
  }

  return {
    app,
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `${url.replace(/^http/, 'ws')}/graphql`,
    logs,
    databaseUrl: database.url,
    databaseFile: database.file,
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
      if (ownDatabase) await database.remove();
    },
  };
}
