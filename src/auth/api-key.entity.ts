import { defineEntity, type InferEntity } from '@mikro-orm/core';

export const ApiKeySchema = defineEntity({
  name: 'ApiKey',
  tableName: 'api_keys',
  properties: (p) => ({
    /** Public key id, also embedded in the key text so a lookup needs no secret. */
    id: p.string().primary().length(32),
    userId: p.string().length(255),
    name: p.string().length(255),
    /** SHA-256 of the secret part, hex encoded. The key itself is never stored. */
    secretHash: p.string().length(64),
    /** Space-separated scopes. */
    scopes: p.string().length(255),
    createdAt: p.datetime(3),
    lastUsedAt: p.datetime(3).nullable(),
    revokedAt: p.datetime(3).nullable(),
  }),
});

export type ApiKey = InferEntity<typeof ApiKeySchema>;
