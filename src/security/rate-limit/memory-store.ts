import { randomUUID } from 'node:crypto';
import type { ConsumeResult, RateLimit, RateLimitStore } from './store.js';

interface Hit {
  at: number;
  id: string;
}

/** How often keys whose hits have all expired are dropped, in milliseconds. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Keeps the hits of each key in this process. Each call runs synchronously from check to count, so no
 * two hits can interleave. Limits are per instance: run several instances with REDIS_URL instead.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly hits = new Map<string, { windowMs: number; list: Hit[] }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async consume(key: string, limit: RateLimit): Promise<ConsumeResult> {
    const now = this.now();
    const entry = this.hits.get(key) ?? { windowMs: limit.windowMs, list: [] };
    entry.windowMs = limit.windowMs;
    entry.list = entry.list.filter((hit) => hit.at > now - limit.windowMs);

    if (entry.list.length >= limit.max) {
      this.hits.set(key, entry);
      const oldest = entry.list[0] as Hit;
      return { allowed: false, retryAfterMs: oldest.at + limit.windowMs - now };
    }
    const hit = { at: now, id: randomUUID() };
    entry.list.push(hit);
    this.hits.set(key, entry);
    return { allowed: true, remaining: limit.max - entry.list.length, hitId: hit.id };
  }

  async release(key: string, hitId: string): Promise<void> {
    const entry = this.hits.get(key);
    if (entry) entry.list = entry.list.filter((hit) => hit.id !== hitId);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.hits.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.hits) {
      if (entry.list.every((hit) => hit.at <= now - entry.windowMs)) this.hits.delete(key);
    }
  }
}
