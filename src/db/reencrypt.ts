import type { Type } from '@mikro-orm/core';
import type { Knex } from '@mikro-orm/knex';
import { encryptedKeyId } from '../security/data-cipher.js';
import { EncryptionKeySchema } from './encryption-key.entity.js';
import { registerEncryptionKey } from './encryption-keys.js';
import { InstanceSchema } from './instance.entity.js';
import type { Database, EntityManager } from './orm.js';
import { SEALED_TABLES } from './sealed-columns.js';

/** Rows read and rewritten per transaction. */
const BATCH_SIZE = 500;

export interface ReencryptResult {
  /** Values rewritten, by `table.column`. */
  rewritten: Record<string, number>;
  /** Rows read, by table. */
  scanned: Record<string, number>;
  /** Values another writer changed during the run; they were written with the current key already. */
  skipped: number;
  /** Keys marked retired: no stored value uses them any more. */
  retiredKeys: string[];
}

/** Another live instance still writes with a different key, so rewriting now would leave values behind. */
export class LiveInstanceKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LiveInstanceKeyError';
  }
}

/** Returns the key id of a stored value, or 'plain'. `raw` is the column's text as stored. */
function storedKeyId(raw: string, json: boolean): string {
  if (!json) return encryptedKeyId(raw) ?? 'plain';
  const parsed: unknown = JSON.parse(raw);
  return typeof parsed === 'string' ? (encryptedKeyId(parsed) ?? 'plain') : 'plain';
}

/**
 * Fails when a live instance (recent heartbeat) encrypts with another key than this process's current
 * one: values it writes during and after the run would still need the old key.
 */
export async function assertInstancesUseCurrentKey(db: Database, heartbeatTimeoutMs: number): Promise<void> {
  const since = new Date(Date.now() - heartbeatTimeoutMs);
  const live = await db.fork().find(InstanceSchema, { heartbeatAt: { $gt: since } });
  const current = db.cipher.current?.id ?? null;
  const stale = live.filter((instance) => (instance.encryptionKeyId ?? null) !== current);
  if (stale.length === 0) return;
  const list = stale.map((instance) => `${instance.id} on ${instance.hostname} (pid ${instance.pid}) uses ${instance.encryptionKeyId ?? 'no key'}`).join('; ');
  throw new LiveInstanceKeyError(
    `Running instances still write with another key: ${list}. Restart every instance with DATA_ENCRYPTION_KEY=${current ?? '(unset)'} first, or pass --force if they are gone.`,
  );
}

export interface ReencryptOptions {
  /** Receives one progress line per table. */
  log?: (message: string) => void;
  /** Heartbeat age in milliseconds after which an instance counts as gone; see registerEncryptionKey(). */
  instanceTimeoutMs?: number;
}

/**
 * Rewrites every encrypted column under the database's current key (DATA_ENCRYPTION_KEY), or as plain
 * text when no key is current, then marks every other registered key retired. Values are read and
 * written with the same conversions the server uses. Each update only applies while the value is
 * unchanged, so a server writing at the same time is never overwritten. Runs while servers are up.
 *
 * The current key is registered in `encryption_keys` in the same transaction as the first value encrypted
 * with it, so a run that fails or crashes before that leaves no record of a key that encrypts nothing.
 */
export async function reencryptAll(db: Database, options: ReencryptOptions = {}): Promise<ReencryptResult> {
  const log = options.log ?? (() => {});
  const result: ReencryptResult = { rewritten: {}, scanned: {}, skipped: 0, retiredKeys: [] };
  const current = db.cipher.current;
  const target = current?.id ?? 'plain';
  let keyRecorded = current === undefined;
  const platform = db.orm.em.getPlatform();
  const postgres = db.target.kind === 'postgresql';

  for (const table of SEALED_TABLES) {
    const types = table.columns.map(
      (column) => db.orm.getMetadata().find(column.entity)?.properties[column.property as never]?.customType as Type<unknown, unknown> | undefined,
    );
    result.scanned[table.table] = 0;
    for (const column of table.columns) result.rewritten[`${table.table}.${column.column}`] = 0;

    let after: unknown[] | undefined;
    for (;;) {
      const em = db.fork();
      const knex = em.getConnection().getKnex();
      const selected = [
        ...table.keys,
        ...table.columns.map((column) => (postgres && column.json ? knex.raw('??::text as ??', [column.column, column.column]) : column.column)),
      ];
      let query = knex(table.table)
        .select(selected)
        .orderBy(table.keys.map((key) => ({ column: key, order: 'asc' })));
      if (after)
        query = query.whereRaw(`(${table.keys.map(() => '??').join(', ')}) > (${table.keys.map(() => '?').join(', ')})`, [
          ...table.keys,
          ...after,
        ] as Knex.RawBinding[]);
      const rows = (await query.limit(BATCH_SIZE)) as Record<string, unknown>[];
      if (rows.length === 0) break;

      await em.transactional(async (tx: EntityManager) => {
        // The transaction's own knex handle: SQLite has one connection, which the transaction holds.
        const txKnex = tx.getTransactionContext<Knex.Transaction>();
        if (!txKnex) throw new Error('No transaction context.');
        for (const row of rows) {
          for (const [index, column] of table.columns.entries()) {
            const raw = row[column.column];
            if (typeof raw !== 'string' || storedKeyId(raw, column.json) === target) continue;
            if (current && !keyRecorded) {
              // A failed batch rolls the record back with its values, and the run stops there.
              await registerEncryptionKey(tx, current, options.instanceTimeoutMs);
              keyRecorded = true;
            }
            const type = types[index];
            if (!type) throw new Error(`No conversion for ${table.table}.${column.column}.`);
            const plain = type.convertToJSValue(postgres && column.json ? JSON.parse(raw) : raw, platform);
            const rewritten = type.convertToDatabaseValue(plain, platform);
            const where = txKnex.raw(`${postgres && column.json ? '??::text' : '??'} = ?`, [column.column, raw]);
            const updated = await txKnex(table.table)
              .where(Object.fromEntries(table.keys.map((key) => [key, row[key]])))
              .andWhere(where)
              .update({ [column.column]: rewritten });
            if (updated === 0) result.skipped += 1;
            else result.rewritten[`${table.table}.${column.column}`] = (result.rewritten[`${table.table}.${column.column}`] ?? 0) + 1;
          }
        }
      });

      result.scanned[table.table] = (result.scanned[table.table] ?? 0) + rows.length;
      const last = rows.at(-1) as Record<string, unknown>;
      after = table.keys.map((key) => last[key]);
      if (rows.length < BATCH_SIZE) break;
    }
    log(
      `${table.table}: ${result.scanned[table.table]} rows read, ${table.columns.map((column) => `${result.rewritten[`${table.table}.${column.column}`]} ${column.column} values rewritten`).join(', ')}`,
    );
  }

  const em = db.fork();
  const others = await em.find(EncryptionKeySchema, { retiredAt: null, ...(db.cipher.current ? { id: { $ne: db.cipher.current.id } } : {}) });
  if (others.length > 0) {
    await em.nativeUpdate(EncryptionKeySchema, { id: { $in: others.map((key) => key.id) } }, { retiredAt: new Date() });
    result.retiredKeys = others.map((key) => key.id);
  }
  return result;
}
