/** A limit of `max` hits in any sliding window of `windowMs` milliseconds. */
export interface RateLimit {
  max: number;
  windowMs: number;
}

export type ConsumeResult =
  /** The hit was counted. `hitId` gives it back through `release`. */
  | { allowed: true; remaining: number; hitId: string }
  /** The limit is reached; nothing was counted. */
  | { allowed: false; retryAfterMs: number };

/**
 * Counts hits per key in a sliding window. `consume` checks and counts in one atomic step, so hits
 * that arrive together (aliased fields, parallel requests, other instances) can never all read the
 * same count and all pass. A rejected hit is not counted.
 */
export interface RateLimitStore {
  consume(key: string, limit: RateLimit): Promise<ConsumeResult>;
  /** Removes a counted hit, for work that was reserved but then did not happen. */
  release(key: string, hitId: string): Promise<void>;
  close(): Promise<void>;
}
