import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';

/** The PostgreSQL database the tests connect to first; each test run then creates a database of its own. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function connect(url: string): Promise<MikroORM> {
  return MikroORM.init({
    driver: PostgreSqlDriver,
    clientUrl: url,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    ensureDatabase: false,
    pool: { min: 0, max: 1 },
  });
}

export interface TestDatabase {
  /** postgres:// URL of the new database. */
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database with a random name, since other test runs share the server. Returns undefined when PostgreSQL is not reachable. */
export async function createTestDatabase(): Promise<TestDatabase | undefined> {
  let admin: MikroORM;
  try {
    admin = await connect(TEST_POSTGRES_URL);
    await admin.em.getConnection().execute('select 1');
  } catch {
    return undefined;
  }
  const name = `ha_ai_agent_test_${randomBytes(6).toString('hex')}`;
  await admin.em.getConnection().execute(`create database ${name}`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.em.getConnection().execute(`drop database if exists ${name} with (force)`);
      await admin.close(true);
    },
  };
}

/**
 * Skips the test with a printed reason when PostgreSQL is not reachable, except in CI (`CI=true`), where
 * a silent skip would hide lost coverage and the test fails instead.
 */
export function requirePostgres(database: TestDatabase | undefined, ctx: { skip: (note?: string) => never }): TestDatabase {
  if (database) return database;
  if (process.env.CI === 'true') throw new Error(`PostgreSQL is not reachable at ${TEST_POSTGRES_URL}; CI must run with PostgreSQL.`);
  const reason = `skipped: PostgreSQL is not reachable at ${TEST_POSTGRES_URL}`;
  console.warn(reason);
  return ctx.skip(reason);
}
