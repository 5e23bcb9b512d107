import type { ConsumeResult, RateLimit, RateLimitStore } from './store.js';

interface Hit {
  at: number;
  id: string;
}

interface Window {
  windowMs: number;
  /** Hits in time order; `start` is the first that has not expired, so old ones are skipped in O(1). */
  hits: Hit[];
  start: number;
}

/** How often keys whose hits have all expired are dropped, in milliseconds. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Keeps the hits of each key in this process, as a sliding log. Each call runs synchronously from check
 * to count, so no two hits can interleave. Limits are per instance: run several instances with REDIS_URL
 * instead.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper: NodeJS.Timeout;
  private nextId = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async consume(key: string, limit: RateLimit): Promise<ConsumeResult> {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window) {
      window = { windowMs: limit.windowMs, hits: [], start: 0 };
      this.windows.set(key, window);
    }
    window.windowMs = limit.windowMs;
    this.dropExpired(window, now);

    const count = window.hits.length - window.start;
    if (count >= limit.max) {
      const oldest = window.hits[window.start] as Hit;
      return { allowed: false, retryAfterMs: oldest.at + limit.windowMs - now };
    }
    this.nextId += 1;
    const hit = { at: now, id: String(this.nextId) };
    window.hits.push(hit);
    return { allowed: true, remaining: limit.max - count - 1, hitId: hit.id };
  }

  async release(key: string, hitId: string): Promise<void> {
    const window = this.windows.get(key);
    if (!window) return;
    // Releases come soon after their hit, so the newest hits are searched first.
    for (let index = window.hits.length - 1; index >= window.start; index -= 1) {
      if (window.hits[index]?.id === hitId) {
        window.hits.splice(index, 1);
        return;
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.windows.clear();
  }

  private dropExpired(window: Window, now: number): void {
    while (window.start < window.hits.length && (window.hits[window.start] as Hit).at <= now - window.windowMs) window.start += 1;
    // Compact once the expired prefix is at least half of the array, which keeps each hit's cost constant.
    if (window.start > 0 && window.start * 2 >= window.hits.length) {
      window.hits = window.hits.slice(window.start);
      window.start = 0;
    }
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, window] of this.windows) {
      this.dropExpired(window, now);
      if (window.hits.length === 0) this.windows.delete(key);
    }
  }
}
