import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis the tests use: REDIS_URL, or the local server. */
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of its own for each test run, since other runs share the same Redis. */
export function uniqueRedisPrefix(): string {
  return `ha-ai-agent-test:${randomUUID()}:`;
}

/** Returns whether TEST_REDIS_URL answers a PING within a second. */
export async function redisReachable(): Promise<boolean> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Skips the test with a printed reason when Redis is not reachable, except in CI (`CI=true`), where a
 * silent skip would hide lost coverage and the test fails instead.
 */
export function requireRedis(reachable: boolean, ctx: { skip: (note?: string) => never }): void {
  if (reachable) return;
  if (process.env.CI === 'true') throw new Error(`Redis is not reachable at ${TEST_REDIS_URL}; CI must run with Redis.`);
  const reason = `skipped: Redis is not reachable at ${TEST_REDIS_URL}`;
  console.warn(reason);
  ctx.skip(reason);
}

/** Deletes every key under the prefix. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
