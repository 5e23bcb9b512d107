import type { Logger } from '../../observability/logger.js';
import { rateLimitKeyForAddress } from '../client-ip.js';
import { AppError } from '../errors.js';
import type { RateLimit, RateLimitStore } from './store.js';

export interface RateLimitSettings {
  /** Chat turns (chat and chatStream together) per user per minute. */
  chatPerMinute: number;
  /** GraphQL operations of any kind per user per minute. */
  operationsPerMinute: number;
  /** Failed authentication attempts per client address per minute. */
  authFailuresPerMinute: number;
}

/** Gives a reserved hit back, for work that was counted but did not happen. */
export type Release = () => Promise<void>;

const MINUTE_MS = 60_000;

/** Shortest pause between two log lines about an unreachable store, in milliseconds. */
const STORE_ERROR_LOG_INTERVAL_MS = 10_000;

/** Most keys remembered for "already logged in this window"; older entries are dropped first. */
const MAX_LOGGED_KEYS = 10_000;

const noRelease: Release = async () => {};

/**
 * The service's rate limits: chat turns and operations per user, failed authentication attempts per
 * client address. Every check is one atomic store call, so aliased fields, parallel requests and other
 * instances sharing the store are each counted. When the store fails (Redis unreachable) the request is
 * let through and the failure logged, because an outage of the counters should not stop the service.
 *
 * The useRateLimiter plugin of @envelop/rate-limiter 10.2.1 is not used. Its limiter reads a key's
 * timestamps, decides and writes them back in separate store calls, so with its Redis store five aliased
 * copies of a field limited to 2 all passed. It also has no hook for subscriptions such as chatStream.
 */
export class RateLimits {
  private readonly loggedUntil = new Map<string, number>();
  private lastStoreErrorLogAt = 0;
  private suppressedStoreErrors = 0;

  constructor(
    private readonly store: RateLimitStore,
    private readonly settings: RateLimitSettings,
    private readonly logger: Logger,
  ) {}

  /** Counts a chat turn of the user; throws RATE_LIMITED when the user started too many this minute. */
  reserveChatTurn(userId: string): Promise<Release> {
    return this.reserve(`chat:${userId}`, { max: this.settings.chatPerMinute, windowMs: MINUTE_MS }, 'chat messages', { userId });
  }

  /** Counts a GraphQL operation of the user; throws RATE_LIMITED when the user sent too many this minute. */
  async countOperation(userId: string): Promise<void> {
    await this.reserve(`operation:${userId}`, { max: this.settings.operationsPerMinute, windowMs: MINUTE_MS }, 'requests', { userId });
  }

  /**
   * Counts an authentication attempt from the address before its credential is checked, and throws
   * RATE_LIMITED once the address has used up its attempts. The caller releases the attempt when the
   * credential was valid, so in effect only failures count, yet parallel guesses cannot overrun the limit.
   */
  reserveAuthAttempt(clientIp: string): Promise<Release> {
    const key = `auth-failure:${rateLimitKeyForAddress(clientIp)}`;
    return this.reserve(key, { max: this.settings.authFailuresPerMinute, windowMs: MINUTE_MS }, 'failed authentication attempts', { clientIp });
  }

  private async reserve(key: string, limit: RateLimit, label: string, ids: Record<string, string>): Promise<Release> {
    let result: Awaited<ReturnType<RateLimitStore['consume']>>;
    try {
      result = await this.store.consume(key, limit);
    } catch (error) {
      this.logStoreError(error);
      return noRelease;
    }

    if (!result.allowed) {
      this.logRejection(key, limit, result.retryAfterMs, ids);
      throw AppError.rateLimited(result.retryAfterMs / 1000, label);
    }
    const { hitId } = result;
    return async () => {
      try {
        await this.store.release(key, hitId);
      } catch (error) {
        this.logStoreError(error);
      }
    };
  }

  /** Logs the first rejection of a key in each window; the rest of the window stays quiet. */
  private logRejection(key: string, limit: RateLimit, retryAfterMs: number, ids: Record<string, string>): void {
    const now = Date.now();
    if ((this.loggedUntil.get(key) ?? 0) > now) return;
    if (this.loggedUntil.size >= MAX_LOGGED_KEYS) this.loggedUntil.delete(this.loggedUntil.keys().next().value as string);
    this.loggedUntil.set(key, now + retryAfterMs);
    this.logger.warn(
      { event: 'rate_limit.exceeded', limit: key.split(':')[0], max: limit.max, windowMs: limit.windowMs, retryAfterMs, ...ids },
      'Rate limit reached',
    );
  }

  private logStoreError(error: unknown): void {
    const now = Date.now();
    if (now - this.lastStoreErrorLogAt < STORE_ERROR_LOG_INTERVAL_MS) {
      this.suppressedStoreErrors += 1;
      return;
    }
    this.logger.error(
      { event: 'rate_limit.store_failed', err: error, suppressed: this.suppressedStoreErrors },
      'Rate limit store failed; letting the request through',
    );
    this.lastStoreErrorLogAt = now;
    this.suppressedStoreErrors = 0;
  }
}
