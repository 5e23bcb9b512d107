import type { EventBus } from '../agent/event-bus.js';
import type { Database } from '../db/orm.js';
import { SCOPES, type Scope } from '../config.js';
import { ApiKeySchema, type ApiKey } from './api-key.entity.js';
import { generateApiKey, hashSecret, parseApiKey, secretMatches } from './api-key-format.js';
import { apiKeyRevokedTopic } from './credential-lifetime.js';

/** Last-used times are written at most this often per key, so busy keys do not cause a write per request. */
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/** A throwaway hash compared against when a key id is unknown, so unknown and wrong keys take the same time. */
const DUMMY_HASH = hashSecret('no such key');

export interface CreatedApiKey {
  record: ApiKey;
  /** The full key. It is shown once and cannot be recovered later. */
  key: string;
}

export class ApiKeyService {
  /** With a bus, a revocation also ends the key's open sockets and streams at once. */
  constructor(
    private readonly db: Database,
    private readonly bus?: EventBus,
  ) {}

  async create(userId: string, options: { name?: string; scopes?: readonly Scope[] } = {}): Promise<CreatedApiKey> {
    const scopes = [...new Set(options.scopes ?? ['chat', 'read', 'control'])];
    const unknown = scopes.filter((scope) => !(SCOPES as readonly string[]).includes(scope));
    if (unknown.length > 0) throw new Error(`Unknown scope: ${unknown.join(', ')}. Valid scopes: ${SCOPES.join(', ')}.`);

    const generated = generateApiKey();
    const em = this.db.fork();
    const record = em.create(ApiKeySchema, {
      id: generated.id,
      userId,
      name: options.name ?? 'default',
      secretHash: generated.secretHash,
      scopes: scopes.join(' '),
      createdAt: new Date(),
      lastUsedAt: null,
      revokedAt: null,
    });
    await em.flush();
    return { record, key: generated.key };
  }

  async list(userId?: string): Promise<ApiKey[]> {
    return this.db.fork().find(ApiKeySchema, userId ? { userId } : {}, { orderBy: { createdAt: 'asc' } });
  }

  /** Marks a key revoked. Returns the key, or undefined when no key has that id. */
  async revoke(id: string): Promise<ApiKey | undefined> {
    const em = this.db.fork();
    const record = await em.findOne(ApiKeySchema, { id });
    if (!record) return undefined;
    record.revokedAt ??= new Date();
    await em.flush();
    this.bus?.publish(apiKeyRevokedTopic(id), { keyId: id });
    return record;
  }

  /** Returns the active key record for a presented key, or undefined when it is malformed, unknown, wrong or revoked. */
  async verify(presented: string): Promise<ApiKey | undefined> {
    const parts = parseApiKey(presented);
    if (!parts) return undefined;

    const em = this.db.fork();
    const record = await em.findOne(ApiKeySchema, { id: parts.id });
    const matches = secretMatches(parts.secret, record?.secretHash ?? DUMMY_HASH);
    if (!record || !matches || record.revokedAt) return undefined;

    const now = Date.now();
    if (!record.lastUsedAt || now - record.lastUsedAt.getTime() > LAST_USED_WRITE_INTERVAL_MS) {
      await em.nativeUpdate(ApiKeySchema, { id: record.id }, { lastUsedAt: new Date(now) });
    }
    return record;
  }
}
