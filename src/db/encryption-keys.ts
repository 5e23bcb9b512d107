import type { EntityManager } from '@mikro-orm/knex';
import { DataCipher, DecryptionError, encryptedKeyId, type DataKey } from '../security/data-cipher.js';
import { EncryptionKeySchema } from './encryption-key.entity.js';

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

/**
 * Checks that the configured keys can read what this database holds, and registers the current key:
 * - a configured key whose id is registered must be the same key (its check value must decrypt);
 * - every registered key that still has data (not retired) must be configured;
 * - the newest message texts must decrypt.
 * Throws EncryptionKeyError with a message naming the variable to fix, so a wrong or missing key stops
 * the server at startup instead of failing on reads later.
 */
export async function verifyEncryptionKeys(em: EntityManager, cipher: DataCipher): Promise<void> {
  const registered = await em.find(EncryptionKeySchema, {}, { orderBy: { createdAt: 'asc' } });
  const configured = [...(cipher.current ? [cipher.current] : []), ...cipher.old];

  for (const key of configured) {
    const row = registered.find((candidate) => candidate.id === key.id);
    if (row && !DataCipher.matchesKeyCheck(key, row.checkValue)) {
      throw new EncryptionKeyError(
        `${describeKey(cipher, key)} is not the key that encrypted this database's data under that id. ` +
          'Configure the original key with that id, or give a new key a new id.',
      );
    }
  }

  const missing = registered.filter((row) => !row.retiredAt && !cipher.hasKey(row.id)).map((row) => `"${row.id}"`);
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

  if (cipher.current)
    await registerKey(
      em,
      cipher.current,
      registered.some((row) => row.id === cipher.current?.id),
    );
}

async function registerKey(em: EntityManager, key: DataKey, exists: boolean): Promise<void> {
  if (exists) {
    // A retired key that is current again will encrypt new data.
    await em.nativeUpdate(EncryptionKeySchema, { id: key.id }, { retiredAt: null });
    return;
  }
  try {
    await em.insert(EncryptionKeySchema, { id: key.id, checkValue: DataCipher.keyCheck(key), createdAt: new Date(), retiredAt: null });
  } catch (error) {
    // Another instance that started at the same moment registered it; it must be the same key.
    if (!(error instanceof Error && error.name === 'UniqueConstraintViolationException')) throw error;
    const row = await em.fork().findOneOrFail(EncryptionKeySchema, { id: key.id });
    if (!DataCipher.matchesKeyCheck(key, row.checkValue)) {
      throw new EncryptionKeyError(`DATA_ENCRYPTION_KEY "${key.id}" is not the key another instance registered under that id.`);
    }
  }
}
