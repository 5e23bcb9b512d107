import type { EntityManager } from '@mikro-orm/knex';
import { DataCipher, DecryptionError, encryptedKeyId, type DataKey } from '../security/data-cipher.js';
import { EncryptionKeySchema } from './encryption-key.entity.js';
import { InstanceSchema, type Instance } from './instance.entity.js';
import { findColumnEncryptedWith } from './sealed-columns.js';

/** Raised at startup when the configured keys cannot read this database. The message names the variable to change. */
export class EncryptionKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncryptionKeyError';
  }
}

/** Recent message texts read at startup to catch encrypted data whose key was never registered. */
const SAMPLED_MESSAGES = 20;

function describeKey(cipher: DataCipher, key: DataKey): string {
  return cipher.current?.id === key.id ? `DATA_ENCRYPTION_KEY "${key.id}"` : `the DATA_ENCRYPTION_OLD_KEYS entry "${key.id}"`;
}

export interface KeyCheckOptions {
  /**
   * Whether to register the current key and drop the records of keys that nothing uses. `db:reencrypt`
   * turns this off, so a run that a later check rejects writes nothing. It registers the key together
   * with the first value it encrypts.
   */
  register: boolean;
  /**
   * Heartbeat age in milliseconds after which an instance counts as gone. Without it every row in
   * `instances` counts as a running instance.
   */
  instanceTimeoutMs?: number;
  /** Receives the id of each key record dropped because no stored value and no running instance uses the key. */
  onUnusedKeyDropped?: (keyId: string) => void;
}

/** The reason a key record is still needed: a column with a value encrypted with the key, or a running instance that encrypts with it. */
interface KeyUse {
  column?: string;
  instance?: Instance;
}

/**
 * Returns where the key `keyId` is in use, or undefined when nothing needs its record any more. A record
 * can outlive its key's data: an instance registers its key at startup, before it writes anything.
 */
async function findKeyUse(em: EntityManager, keyId: string, instanceTimeoutMs: number | undefined): Promise<KeyUse | undefined> {
  const column = await findColumnEncryptedWith(em, keyId);
  if (column) return { column };
  const since = instanceTimeoutMs === undefined ? undefined : new Date(Date.now() - instanceTimeoutMs);
  const instance = await em.findOne(InstanceSchema, { encryptionKeyId: keyId, ...(since ? { heartbeatAt: { $gt: since } } : {}) });
  return instance ? { instance } : undefined;
}

function describeInstance(instance: Instance): string {
  return `${instance.id} on ${instance.hostname} (pid ${instance.pid})`;
}

/**
 * Checks that the configured keys can read what this database holds, and registers the current key:
 * - a configured key whose id is registered must be the same key (its check value must decrypt);
 * - every registered key that still has data (not retired) must be configured;
 * - the newest message texts must decrypt.
 * A conflicting record whose key no stored value and no running instance uses does not stop startup: it
 * is dropped (when `options.register` is set), because nothing can need that key. Every check runs before
 * anything is written. Throws EncryptionKeyError with a message naming the variable to fix, so a wrong or
 * missing key stops the server at startup instead of failing on reads later.
 */
export async function verifyEncryptionKeys(em: EntityManager, cipher: DataCipher, options: KeyCheckOptions): Promise<void> {
  const registered = await em.find(EncryptionKeySchema, {}, { orderBy: { createdAt: 'asc' } });
  const configured = [...(cipher.current ? [cipher.current] : []), ...cipher.old];
  const unused: string[] = [];

  for (const key of configured) {
    const row = registered.find((candidate) => candidate.id === key.id);
    if (!row || DataCipher.matchesKeyCheck(key, row.checkValue)) continue;
    const use = await findKeyUse(em, row.id, options.instanceTimeoutMs);
    if (!use) {
      unused.push(row.id);
    } else if (use.column) {
      throw new EncryptionKeyError(
        `${describeKey(cipher, key)} is not the key that encrypted this database's data under that id. ` +
          'Configure the original key with that id, or give a new key a new id.',
      );
    } else if (use.instance) {
      throw new EncryptionKeyError(
        `${describeKey(cipher, key)} is not the key that instance ${describeInstance(use.instance)} is running with under that id. ` +
          'Give every instance the same DATA_ENCRYPTION_KEY.',
      );
    }
  }

  const missing: string[] = [];
  for (const row of registered) {
    if (row.retiredAt || cipher.hasKey(row.id)) continue;
    const use = await findKeyUse(em, row.id, options.instanceTimeoutMs);
    if (!use) {
      unused.push(row.id);
    } else if (use.column) {
      missing.push(`"${row.id}"`);
    } else if (use.instance) {
      throw new EncryptionKeyError(
        `Instance ${describeInstance(use.instance)} is running with key "${row.id}", which is not configured here. ` +
          'Give every instance the same DATA_ENCRYPTION_KEY.',
      );
    }
  }
  if (missing.length > 0) {
    const problem = `This database holds data encrypted with key ${missing.join(', ')}`;
    throw new EncryptionKeyError(
      cipher.current
        ? `${problem}, which is not configured. Add it to DATA_ENCRYPTION_OLD_KEYS (the old key stays needed until \`npm run db:reencrypt\` has run).`
        : `${problem}, but DATA_ENCRYPTION_KEY is not set. Set DATA_ENCRYPTION_KEY, and DATA_ENCRYPTION_OLD_KEYS for earlier keys.`,
    );
  }

  const rows = await em.getConnection().execute<{ content: string }[]>(`select content from messages order by id desc limit ${SAMPLED_MESSAGES}`);
  for (const row of rows) {
    const keyId = encryptedKeyId(row.content);
    if (keyId === undefined) continue;
    if (!cipher.hasKey(keyId)) {
      throw new EncryptionKeyError(
        `Stored messages are encrypted with key "${keyId}", which is not configured. Set it as DATA_ENCRYPTION_KEY or add it to DATA_ENCRYPTION_OLD_KEYS.`,
      );
    }
    try {
      cipher.open(row.content, 'messages.content');
    } catch (error) {
      if (error instanceof DecryptionError) {
        throw new EncryptionKeyError(
          `Stored messages do not decrypt with the configured key "${keyId}": the key is wrong. Configure the key that encrypted them.`,
        );
      }
      throw error;
    }
  }

  if (!options.register) return;
  for (const id of unused) {
    await em.nativeDelete(EncryptionKeySchema, { id });
    options.onUnusedKeyDropped?.(id);
  }
  if (cipher.current) await registerEncryptionKey(em, cipher.current, options.instanceTimeoutMs);
}

/**
 * Registers `key` in `encryption_keys` as a key that encrypts data here, or marks its record current again.
 * A record of another key under the same id is replaced only when no stored value and no running
 * instance uses that key. Otherwise this throws EncryptionKeyError. Runs inside the transaction of `em`,
 * if any, so `db:reencrypt` registers the key atomically with the first value it encrypts.
 */
export async function registerEncryptionKey(em: EntityManager, key: DataKey, instanceTimeoutMs: number | undefined): Promise<void> {
  const row = await em.findOne(EncryptionKeySchema, { id: key.id }, { refresh: true });
  if (row && DataCipher.matchesKeyCheck(key, row.checkValue)) {
    // A retired key that is current again will encrypt new data.
    if (row.retiredAt) await em.nativeUpdate(EncryptionKeySchema, { id: key.id }, { retiredAt: null });
    return;
  }
  if (row) {
    const use = await findKeyUse(em, key.id, instanceTimeoutMs);
    if (use) {
      throw new EncryptionKeyError(
        `DATA_ENCRYPTION_KEY "${key.id}" is not the key registered under that id in this database. Configure the original key with that id, or give a new key a new id.`,
      );
    }
    await em.nativeDelete(EncryptionKeySchema, { id: key.id });
  }
  try {
    await em.insert(EncryptionKeySchema, { id: key.id, checkValue: DataCipher.keyCheck(key), createdAt: new Date(), retiredAt: null });
  } catch (error) {
    // Another instance that started at the same moment registered it; it must be the same key.
    if (!(error instanceof Error && error.name === 'UniqueConstraintViolationException')) throw error;
    const stored = await em.fork().findOneOrFail(EncryptionKeySchema, { id: key.id });
    if (!DataCipher.matchesKeyCheck(key, stored.checkValue)) {
      throw new EncryptionKeyError(`DATA_ENCRYPTION_KEY "${key.id}" is not the key another instance registered under that id.`);
    }
  }
}
