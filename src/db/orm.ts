import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { MikroORM, type Options } from '@mikro-orm/core';
import { BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { EntityManager } from '@mikro-orm/knex';
import { CreatedAutomationSchema } from '../agent/automations/created-automation.entity.js';
import { ApiKeySchema } from '../auth/api-key.entity.js';
import { DataCipher } from '../security/data-cipher.js';
import { ConversationSchema } from '../conversations/conversation.entity.js';
import { MessageSchema } from '../conversations/message.entity.js';
import { ReplyEventSchema } from '../conversations/reply-event.entity.js';
import { ToolCallSchema } from '../conversations/tool-call.entity.js';
import { DailyTokenUsageSchema } from '../security/daily-token-usage.entity.js';
import { parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
import { useCipher } from './encrypted-types.js';
import { EncryptionKeySchema } from './encryption-key.entity.js';
import { verifyEncryptionKeys } from './encryption-keys.js';
import { InstanceSchema } from './instance.entity.js';
import { migrations } from './migrations/index.js';

export type { EntityManager };

export const entities = [
  ConversationSchema,
  MessageSchema,
  ToolCallSchema,
  ReplyEventSchema,
  ApiKeySchema,
  DailyTokenUsageSchema,
  CreatedAutomationSchema,
  InstanceSchema,
  EncryptionKeySchema,
];

/** Any fixed number; instances that start together take this PostgreSQL advisory lock to migrate one at a time. */
const MIGRATION_LOCK_ID = 7_243_311_902;

/** How long a SQLite writer waits for another process's lock before failing, in milliseconds. */
const SQLITE_BUSY_TIMEOUT_MS = 10_000;

interface SqliteConnection {
  pragma(statement: string): unknown;
}

export interface Database {
  orm: MikroORM;
  target: DatabaseTarget;
  /** Encrypts and decrypts message text, titles, tool arguments and results, and event payloads. */
  cipher: DataCipher;
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
          // Deleted and overwritten content is zeroed, so deleted conversations and replaced plain text
          // do not linger in free pages of the file.
          connection.pragma('secure_delete = ON');
          done(null, connection);
        } catch (error) {
          done(error as Error, connection);
        }
      },
    },
  };
}

/**
 * Applies pending migrations. On PostgreSQL several instances may start at once: a transaction on its
 * own connection holds an advisory lock while the migrator runs, so the others wait and then find
 * nothing left to apply.
 */
async function migrate(orm: MikroORM, target: DatabaseTarget): Promise<void> {
  if (target.kind !== 'postgresql') {
    await orm.getMigrator().up();
    return;
  }
  const knex = (orm.em as EntityManager).getConnection().getKnex();
  await knex.transaction(async (lock) => {
    await lock.raw('select pg_advisory_xact_lock(?)', [MIGRATION_LOCK_ID]);
    await orm.getMigrator().up();
  });
}

export interface OpenDatabaseOptions {
  /**
   * Keys for data at rest. When given, the keys are checked against the database and the current key
   * is registered. Without it, values are stored plain and encrypted values fail to read.
   */
  cipher?: DataCipher;
  /**
   * Whether the key check may write: register the current key and drop key records that nothing uses.
   * Off for `db:reencrypt`, which writes nothing until all of its checks have passed.
   * @default true
   */
  registerKey?: boolean;
  /** Heartbeat age in milliseconds after which an instance counts as gone, for the key check. */
  instanceTimeoutMs?: number;
  /** Receives the id of each key record that the key check dropped because nothing uses the key. */
  onUnusedKeyDropped?: (keyId: string) => void;
  /** Apply pending migrations first. Off for tools that must not change the schema, such as backups. */
  migrate?: boolean;
  /** Receives the query builder's warnings, such as a pooled connection that broke; ignored when omitted. */
  warn?: (message: string) => void;
  /**
   * Whether a missing SQLite file may be created. Tools that only read or change existing data turn it
   * off, so a wrong DATABASE_URL fails instead of creating an empty database elsewhere.
   * @default true
   */
  create?: boolean;
}

/** Raised when DATABASE_URL names a SQLite file that does not exist and creating it was not allowed. */
export class DatabaseNotFoundError extends Error {
  constructor(
    readonly file: string,
    databaseUrl: string,
  ) {
    super(`SQLite database not found: ${file} does not exist (DATABASE_URL=${databaseUrl}). Check DATABASE_URL. Nothing was created.`);
    this.name = 'DatabaseNotFoundError';
  }
}

/** Mode of SQLite database files: they hold conversations and key hashes, so only the owner may read them. */
export const SQLITE_FILE_MODE = 0o600;

/**
 * Makes sure a SQLite file exists with SQLITE_FILE_MODE before SQLite opens it. SQLite gives the -wal and
 * -shm files it creates later the mode of the database file. An existing file keeps the mode its operator
 * chose; a new empty file is a valid empty database.
 */
export function createSqliteFile(file: string): void {
  if (existsSync(file)) return;
  mkdirSync(path.dirname(file), { recursive: true });
  closeSync(openSync(file, 'a', SQLITE_FILE_MODE));
  // The mode given to open() is reduced by the umask; chmod sets it exactly.
  chmodSync(file, SQLITE_FILE_MODE);
}

/**
 * Connects to DATABASE_URL, applies every pending migration and checks the encryption keys before
 * returning. Throws EncryptionKeyError when the keys cannot read the stored data.
 */
export async function openDatabase(databaseUrl: string, log: (message: string) => void = () => {}, options: OpenDatabaseOptions = {}): Promise<Database> {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.kind === 'sqlite' && target.file !== ':memory:') {
    if (options.create === false && !existsSync(target.file)) throw new DatabaseNotFoundError(target.file, databaseUrl);
    createSqliteFile(target.file);
  }
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
    // knex writes its warnings to the console; they go to our logger instead.
    driverOptions: {
      log: { warn: (message: string) => options.warn?.(message), error: (message: string) => options.warn?.(message), deprecate: () => {}, debug: () => {} },
    },
    allowGlobalContext: false,
    forceUtcTimezone: true,
    ensureDatabase: false,
    debug: false,
    logger: log,
  });

  const cipher = options.cipher ?? new DataCipher(undefined);
  useCipher(orm.em.getPlatform(), cipher);

  try {
    if (options.migrate ?? true) await migrate(orm, target);
    if (options.cipher)
      await verifyEncryptionKeys(orm.em.fork() as EntityManager, cipher, {
        register: options.registerKey ?? true,
        instanceTimeoutMs: options.instanceTimeoutMs,
        onUnusedKeyDropped: options.onUnusedKeyDropped,
      });
  } catch (error) {
    await orm.close(true);
    throw error;
  }

  return {
    orm,
    target,
    cipher,
    fork: () => orm.em.fork() as EntityManager,
    close: () => orm.close(true),
  };
}
