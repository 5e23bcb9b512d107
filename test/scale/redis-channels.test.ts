import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { postGraphQL } from '../support/clients.js';
import { deleteRedisKeys, redisReachable, requireRedis, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/redis.js';
import { CHAT_MUTATION, startTestStack } from '../support/stack.js';

const redisUp = await redisReachable();

describe('Redis channels', () => {
  it('start with REDIS_KEY_PREFIX', async (ctx) => {
    requireRedis(redisUp, ctx);
    const prefix = uniqueRedisPrefix();
    const watcher = new Redis(TEST_REDIS_URL);
    const channels = new Set<string>();
    watcher.on('pmessage', (_pattern: string, channel: string) => channels.add(channel));
    await watcher.psubscribe('*');
    const stack = await startTestStack({ env: { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix } });
    try {
      const key = await stack.apiKey('alice');
      const started = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello' } }, key);
      const replyId = started.body.data?.chat.reply.id as string;
      const deadline = Date.now() + 10_000;
      while (![...channels].some((channel) => channel.endsWith(replyId)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));

      const ours = [...channels].filter((channel) => channel.includes(replyId));
      expect(ours.length).toBeGreaterThan(0);
      for (const channel of ours) expect(channel.startsWith(prefix), channel).toBe(true);
    } finally {
      await stack.close();
      await watcher.quit();
      await deleteRedisKeys(prefix);
    }
  });
});
