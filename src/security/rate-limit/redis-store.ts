import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ConsumeResult, RateLimit, RateLimitStore } from './store.js';

/**
 * Checks and counts one hit atomically in a sorted set of hit ids scored by time. The clock is Redis's
 * own (TIME), so instances with skewed clocks still share one window. Redis 5 and later replicate a
 * script's effects, which makes TIME safe here.
 *
 * Returns {1, remaining} when the hit was counted and {0, retryAfterMs} when the limit is reached.
 */
const CONSUME_SCRIPT = `
local key = KEYS[1]
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= max then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', key, now, ARGV[3])
redis.call('PEXPIRE', key, window)
return {1, max - count - 1}
`;

interface ConsumeCommand {
  rateLimitConsume(key: string, windowMs: number, max: number, hitId: string): Promise<[number, number]>;
}

/** Shares counters between every instance that uses the same Redis and key prefix. */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly redis: Redis & ConsumeCommand;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
  ) {
    redis.defineCommand('rateLimitConsume', { numberOfKeys: 1, lua: CONSUME_SCRIPT });
    this.redis = redis as Redis & ConsumeCommand;
  }

  async consume(key: string, limit: RateLimit): Promise<ConsumeResult> {
    const hitId = randomUUID();
    const [allowed, value] = await this.redis.rateLimitConsume(this.redisKey(key), limit.windowMs, limit.max, hitId);
    return allowed === 1 ? { allowed: true, remaining: value, hitId } : { allowed: false, retryAfterMs: value };
  }

  async release(key: string, hitId: string): Promise<void> {
    await this.redis.zrem(this.redisKey(key), hitId);
  }

  /** The Redis connection belongs to the caller, which closes it. */
  async close(): Promise<void> {}

  private redisKey(key: string): string {
    return `${this.keyPrefix}rate-limit:${key}`;
  }
}
