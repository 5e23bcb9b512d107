import { MikroORM, type Options } from '@mikro-orm/core';
import { BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { EntityManager } from '@mikro-orm/knex';
import { CreatedAutomationSchema } from '../agent/automations/created-automation.entity.js';
import { ApiKeySchema } from '../auth/api-key.entity.js';
import { ConversationSchema } from '../conversations/conversation.entity.js';
import { MessageSchema } from '../conversations/message.entity.js';
import { ReplyEventSchema } from '../conversations/reply-event.entity.js';
import { ToolCallSchema } from '../conversations/tool-call.entity.js';
import { DailyTokenUsageSchema } from '../security/daily-token-usage.entity.js';
import { parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
import { migrations } from './migrations/index.js';

export type { EntityManager };

export const entities = [ConversationSchema, MessageSchema, ToolCallSchema, ReplyEventSchema, ApiKeySchema, DailyTokenUsageSchema, CreatedAutomationSchema];

/** How long a SQLite writer waits for another process's lock before failing, in milliseconds. */
const SQLITE_BUSY_TIMEOUT_MS = 10_000;

interface SqliteConnection {
  pragma(statement: string): unknown;
}

export interface Database {
  orm: MikroORM;
  target: DatabaseTarget;
  /** A fresh EntityManager: one per request, subscription and reply. */
  fork(): EntityManager;
  close(): Promise<void>;
}

function driverOptions(target: DatabaseTarget): Options {
  if (target.kind === 'postgresql') {
    return { driver: PostgreSqlDriver, clientUrl: target.url };
  }
  return {
    driver: BetterSqliteDriver,
    dbName: target.file,
    // One connection: better-sqlite3 is synchronous, so more connections in one process only add lock
    // contention. WAL lets other processes read while this one writes.
    pool: {
      min: 1,
      max: 1,
      idleTimeoutMillis: 2_147_483_647,
      afterCreate(connection: SqliteConnection, done: (error: Error | null, connection: SqliteConnection) => void) {
        try {
          if (target.file !== ':memory:') connection.pragma('journal_mode = WAL');
          connection.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
          connection.pragma('synchronous = NORMAL');
          connection.pragma('foreign_keys = ON');
          done(null, connection);
        } catch (error) {
          done(error as Error, connection);
        }
      },
    },
  };
}

/** Connects to DATABASE_URL and applies every pending migration before returning. */
export async function openDatabase(databaseUrl: string, log: (message: string) => void = () => {}): Promise<Database> {
  const target = parseDatabaseUrl(databaseUrl);
  const orm = await MikroORM.init({
    ...driverOptions(target),
    entities,
    extensions: [Migrator],
    migrations: {
      migrationsList: migrations,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      tableName: 'schema_migrations',
    },
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: false,
    forceUtcTimezone: true,
    ensureDatabase: false,
    debug: false,
    logger: log,
  });

  await orm.getMigrator().up();

  return {
    orm,
    target,
    fork: () => orm.em.fork() as EntityManager,
    close: () => orm.close(true),
  };
}
