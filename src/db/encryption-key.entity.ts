import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * Every data encryption key that has encrypted data in this database, by id. The check value proves at
 * startup that a configured key with this id is the same key; the key itself is never stored.
 */
export const EncryptionKeySchema = defineEntity({
  name: 'EncryptionKey',
  tableName: 'encryption_keys',
  properties: (p) => ({
    id: p.string().primary().length(32),
    /** A fixed text encrypted under the key (see DataCipher.keyCheck). */
    checkValue: p.text(),
    createdAt: p.datetime(3),
    /** Set by `db:reencrypt` once no stored value uses the key any more. */
    retiredAt: p.datetime(3).nullable(),
  }),
});

export type EncryptionKey = InferEntity<typeof EncryptionKeySchema>;
