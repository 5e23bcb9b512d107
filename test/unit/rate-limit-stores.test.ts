import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRateLimitStore } from '../../src/security/rate-limit/memory-store.js';
import { RedisRateLimitStore } from '../../src/security/rate-limit/redis-store.js';
import type { RateLimitStore } from '../../src/security/rate-limit/store.js';
import { deleteRedisKeys, redisReachable, requireRedis, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/redis.js';

let redisUp = false;
let redis: Redis | undefined;
const prefix = uniqueRedisPrefix();

beforeAll(async () => {
  redisUp = await redisReachable();
  if (redisUp) redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  redis?.disconnect();
  if (redisUp) await deleteRedisKeys(prefix);
});

describe.each([
  { name: 'memory', open: (): RateLimitStore | undefined => new MemoryRateLimitStore() },
  { name: 'Redis', open: (): RateLimitStore | undefined => (redis ? new RedisRateLimitStore(redis, prefix) : undefined) },
])('$name rate-limit store', ({ name, open }) => {
  const storeFor = (ctx: { skip: (note?: string) => never }): RateLimitStore => {
    if (name === 'Redis') requireRedis(redisUp, ctx);
    return open() as RateLimitStore;
  };

  it('admits exactly max of many parallel hits', async (ctx) => {
    const store = storeFor(ctx);
    const results = await Promise.all(Array.from({ length: 20 }, () => store.consume('parallel', { max: 5, windowMs: 60_000 })));

    expect(results.filter((result) => result.allowed)).toHaveLength(5);
    expect(
      results
        .filter((result) => result.allowed)
        .map((result) => (result.allowed ? result.remaining : -1))
        .sort(),
    ).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives the wait until the oldest hit expires', async (ctx) => {
    const store = storeFor(ctx);
    await store.consume('wait', { max: 1, windowMs: 60_000 });
    const rejected = await store.consume('wait', { max: 1, windowMs: 60_000 });

    expect(rejected.allowed).toBe(false);
    expect(rejected.allowed ? 0 : rejected.retryAfterMs).toBeGreaterThan(55_000);
    expect(rejected.allowed ? 0 : rejected.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('frees a slot when a hit is released', async (ctx) => {
    const store = storeFor(ctx);
    const first = await store.consume('release', { max: 1, windowMs: 60_000 });
    if (!first.allowed) throw new Error('the first hit must be allowed');
    await store.release('release', first.hitId);

    expect((await store.consume('release', { max: 1, windowMs: 60_000 })).allowed).toBe(true);
  });

  it('does not count rejected hits', async (ctx) => {
    const store = storeFor(ctx);
    await store.consume('rejected', { max: 1, windowMs: 200 });
    for (let index = 0; index < 5; index += 1) await store.consume('rejected', { max: 1, windowMs: 200 });
    await new Promise((resolve) => setTimeout(resolve, 250));

    expect((await store.consume('rejected', { max: 1, windowMs: 200 })).allowed).toBe(true);
  });

  it('keeps keys apart', async (ctx) => {
    const store = storeFor(ctx);
    await store.consume('key-a', { max: 1, windowMs: 60_000 });

    expect((await store.consume('key-b', { max: 1, windowMs: 60_000 })).allowed).toBe(true);
  });
});

describe('memory rate-limit store', () => {
  it('slides the window by the clock', async () => {
    let now = 1_000_000;
    const store = new MemoryRateLimitStore(() => now);
    const limit = { max: 2, windowMs: 1_000 };
    await store.consume('slide', limit);
    now += 600;
    await store.consume('slide', limit);
    const full = await store.consume('slide', limit);
    now += 400;
    const afterFirstExpired = await store.consume('slide', limit);
    await store.close();

    expect(full).toEqual({ allowed: false, retryAfterMs: 400 });
    expect(afterFirstExpired.allowed).toBe(true);
  });
});
