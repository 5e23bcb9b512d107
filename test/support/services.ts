import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { knex } from '@mikro-orm/knex';

/**
 * The PostgreSQL server whose databases tests create and drop. Tests never write to this database
 * itself: each run gets a database of its own.
 */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type ServiceName = 'PostgreSQL' | 'Redis';

const SERVICE_URLS: Record<ServiceName, string> = { PostgreSQL: TEST_POSTGRES_URL, Redis: TEST_REDIS_URL };

/** Whether something accepts TCP connections at the URL's host and port. */
export function isListening(url: string, timeoutMs = 1_000): Promise<boolean> {
  const parsed = new URL(url);
  const port = Number(parsed.port || (parsed.protocol.startsWith('redis') ? 6379 : 5432));
  return new Promise((resolve) => {
    const socket = connect({ host: parsed.hostname, port });
    const finish = (listening: boolean) => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/**
 * Returns the reason the services are missing, or undefined when all listen. Under CI (`CI=true`) a
 * missing service is an error, because a silent skip would hide lost coverage.
 */
export async function missingServices(...names: ServiceName[]): Promise<string | undefined> {
  const missing: string[] = [];
  for (const name of names) if (!(await isListening(SERVICE_URLS[name]))) missing.push(`${name} at ${SERVICE_URLS[name]}`);
  if (missing.length === 0) return undefined;
  const reason = `${missing.join(' and ')} not reachable`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must run with PostgreSQL and Redis available.`);
  return reason;
}

/** Skips the test with a printed reason when a service is missing (fails under CI instead). */
export async function requireServices(ctx: { skip: (note?: string) => never }, ...names: ServiceName[]): Promise<void> {
  const reason = await missingServices(...names);
  if (reason === undefined) return;
  console.warn(`skipped: ${reason}`);
  ctx.skip(`skipped: ${reason}`);
}

export type DatabaseKind = 'sqlite' | 'postgres';

/** The database the suites use: SQLite unless TEST_DATABASE=postgres (the vitest "postgres" project). */
export function testDatabaseKind(): DatabaseKind {
  return process.env.TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';
}

export interface TestDatabase {
  kind: DatabaseKind;
  /** A DATABASE_URL for the new, empty database. */
  url: string;
  /** The SQLite file, for tests that read it raw. */
  file?: string;
  remove(): Promise<void>;
}

function postgresAdmin() {
  return knex({ client: 'pg', connection: TEST_POSTGRES_URL, pool: { min: 0, max: 1 } });
}

/**
 * Creates an empty database of its own for one test server: a SQLite file in a new temporary folder, or
 * a new PostgreSQL database on the test server, so concurrent test runs never share tables.
 */
export async function createTestDatabase(kind: DatabaseKind = testDatabaseKind()): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const folder = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-test-'));
    const file = path.join(folder, 'test.db');
    return {
      kind,
      url: `sqlite:${file}`,
      file,
      remove: async () => rmSync(folder, { recursive: true, force: true }),
    };
  }

  const name = `ha_ai_agent_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgresAdmin();
  try {
    await admin.raw(`create database "${name}"`);
  } finally {
    await admin.destroy();
  }
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    async remove() {
      const dropper = postgresAdmin();
      try {
        await dropper.raw(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.destroy();
      }
    },
  };
}
