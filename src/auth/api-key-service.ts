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

/**
 * How long a verified key is trusted without reading its row again, in milliseconds. Revocations reach
 * the cache sooner, through the bus; this bounds how long a missed notice could matter.
 */
const VERIFIED_KEY_TTL_MS = 10_000;
/** Most keys kept verified at once; the oldest are forgotten first. */
const MAX_VERIFIED_KEYS = 10_000;

interface VerifiedKey {
  record: ApiKey;
  verifiedAt: number;
  stopListening: () => void;
}

export interface CreatedApiKey {
  record: ApiKey;
  /** The full key. It is shown once and cannot be recovered later. */
  key: string;
}

export class ApiKeyService {
  /** Keys that verified recently, by id, so a busy client does not cost a database read per request. */
  private readonly verified = new Map<string, VerifiedKey>();

  /**
   * With a bus, a revocation also ends the key's open sockets and streams at once, and verified keys are
   * kept for a few seconds; without one (the CLI) every check reads the database.
   */
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
    this.forget(id);
    this.bus?.publish(apiKeyRevokedTopic(id), { keyId: id });
    return record;
  }

  /** Returns the active key record for a presented key, or undefined when it is malformed, unknown, wrong or revoked. */
  async verify(presented: string): Promise<ApiKey | undefined> {
    const parts = parseApiKey(presented);
    if (!parts) return undefined;

    const now = Date.now();
    const cached = this.verified.get(parts.id);
    if (cached && now - cached.verifiedAt < VERIFIED_KEY_TTL_MS) {
      // The secret is still compared on every request; only the row read is saved.
      return secretMatches(parts.secret, cached.record.secretHash) ? cached.record : undefined;
    }
    this.forget(parts.id);

    const em = this.db.fork();
    const record = await em.findOne(ApiKeySchema, { id: parts.id });
    const matches = secretMatches(parts.secret, record?.secretHash ?? DUMMY_HASH);
    if (!record || !matches || record.revokedAt) return undefined;

    if (!record.lastUsedAt || now - record.lastUsedAt.getTime() > LAST_USED_WRITE_INTERVAL_MS) {
      await em.nativeUpdate(ApiKeySchema, { id: record.id }, { lastUsedAt: new Date(now) });
      record.lastUsedAt = new Date(now);
    }
    this.remember(record, now);
    return record;
  }

  /** Forgets every verified key, so the next check of each reads the database. */
  close(): void {
    for (const id of [...this.verified.keys()]) this.forget(id);
  }

  private remember(record: ApiKey, now: number): void {
    if (!this.bus) return;
    if (this.verified.size >= MAX_VERIFIED_KEYS) this.forget(this.verified.keys().next().value as string);
    const stopListening = this.bus.subscribe(apiKeyRevokedTopic(record.id), () => this.forget(record.id));
    this.verified.set(record.id, { record, verifiedAt: now, stopListening });
  }

  private forget(id: string): void {
    const cached = this.verified.get(id);
    if (!cached) return;
    cached.stopListening();
    this.verified.delete(id);
  }
}
