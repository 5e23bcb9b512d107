import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { RateLimits } from '../../src/security/rate-limit/rate-limits.js';
import type { RateLimitStore } from '../../src/security/rate-limit/store.js';
import { MemoryRateLimitStore } from '../../src/security/rate-limit/memory-store.js';
import { startTestServer } from '../support/server.js';

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, lines };
}

const SETTINGS = { chatPerMinute: 2, operationsPerMinute: 2, authFailuresPerMinute: 2 };

describe('RateLimits', () => {
  it('lets requests through when the store fails, and logs it once', async () => {
    const failing: RateLimitStore = {
      consume: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
      },
      release: async () => {},
      close: async () => {},
    };
    const { logger, lines } = capturingLogger();
    const limits = new RateLimits(failing, SETTINGS, logger);

    for (let index = 0; index < 5; index += 1) await limits.countOperation('alice');

    const failures = lines.filter((line) => line.event === 'rate_limit.store_failed');
    expect(failures).toHaveLength(1);
    expect(failures[0]?.level).toBe('error');
  });

  it('logs the first rejection of a window only', async () => {
    const { logger, lines } = capturingLogger();
    const limits = new RateLimits(new MemoryRateLimitStore(), SETTINGS, logger);
    await limits.reserveChatTurn('alice');
    await limits.reserveChatTurn('alice');

    for (let index = 0; index < 3; index += 1) await expect(limits.reserveChatTurn('alice')).rejects.toMatchObject({ code: 'RATE_LIMITED' });

    const rejections = lines.filter((line) => line.event === 'rate_limit.exceeded');
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ limit: 'chat', userId: 'alice', max: 2, windowMs: 60_000 });
  });

  it('gives a reserved chat turn back on release', async () => {
    const { logger } = capturingLogger();
    const limits = new RateLimits(new MemoryRateLimitStore(), SETTINGS, logger);
    const release = await limits.reserveChatTurn('alice');
    await limits.reserveChatTurn('alice');
    await release();

    await expect(limits.reserveChatTurn('alice')).resolves.toBeTypeOf('function');
    await expect(limits.reserveChatTurn('alice')).rejects.toMatchObject({ code: 'RATE_LIMITED', retryable: true });
  });
});

describe('startup with REDIS_URL', () => {
  it('fails when Redis cannot be reached', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-redis-down-'));
    try {
      // Nothing listens on port 1 of the loopback address, so the connection is refused at once.
      await expect(startTestServer({ dataDir, env: { REDIS_URL: 'redis://127.0.0.1:1' } })).rejects.toThrow(/^Redis at REDIS_URL could not be reached/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
