import { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import { MemoryRateLimitStore } from './memory-store.js';
import { RedisRateLimitStore } from './redis-store.js';
import type { RateLimitStore } from './store.js';

/** Maximum time a rate-limit command may take before the request goes on without it, in milliseconds. */
const REDIS_COMMAND_TIMEOUT_MS = 1_000;

/** Shortest pause between two log lines about a lost Redis connection, in milliseconds. */
const CONNECTION_ERROR_LOG_INTERVAL_MS = 10_000;

export interface OpenedRateLimitStore {
  store: RateLimitStore;
  close(): Promise<void>;
}

/**
 * Opens the rate-limit counters: in this process, or in Redis when a URL is given, so that every
 * instance shares them. Fails when Redis cannot be reached at startup, since a wrong REDIS_URL would
 * otherwise go unnoticed while each instance counted alone.
 */
export async function openRateLimitStore(redisUrl: string | undefined, keyPrefix: string, logger: Logger): Promise<OpenedRateLimitStore> {
  if (!redisUrl) {
    const store = new MemoryRateLimitStore();
    return { store, close: () => store.close() };
  }

  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: REDIS_COMMAND_TIMEOUT_MS });
  let lastErrorLogAt = 0;
  redis.on('error', (error: Error) => {
    if (Date.now() - lastErrorLogAt < CONNECTION_ERROR_LOG_INTERVAL_MS) return;
    lastErrorLogAt = Date.now();
    logger.error({ event: 'redis.error', err: error }, 'Redis connection failed; rate limits are not enforced until it is back');
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new Error(`Redis at REDIS_URL could not be reached: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }

  return {
    store: new RedisRateLimitStore(redis, keyPrefix),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
