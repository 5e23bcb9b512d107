import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key-service.js';
import { openDatabase } from '../../src/db/orm.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { postGraphQL } from '../support/clients.js';
import { startServerProcess, type ServerProcess } from '../support/process.js';
import { deleteRedisKeys, redisReachable, requireRedis, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/redis.js';
import { CHAT_MUTATION } from '../support/stack.js';

let redisUp = false;
let dataDir: string;
let model: ScriptedModel | undefined;
const processes: ServerProcess[] = [];
/** API keys per process, each stored in that process's own SQLite file. */
const keys: Record<string, string>[] = [];
const prefix = uniqueRedisPrefix();

beforeAll(async () => {
  redisUp = await redisReachable();
  if (!redisUp) return;
  dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-shared-limits-'));
  model = await startScriptedModel();

  const databaseUrls = ['first', 'second'].map((name) => `sqlite:${path.join(dataDir, `${name}.db`)}`);
  for (const databaseUrl of databaseUrls) {
    const db = await openDatabase(databaseUrl);
    const apiKeys = new ApiKeyService(db);
    keys.push({ alice: (await apiKeys.create('alice')).key, bob: (await apiKeys.create('bob')).key });
    await db.close();
  }
  const env = {
    OPENAI_BASE_URL: model.url,
    OPENAI_MODEL: SCRIPTED_MODEL_NAME,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    RATE_LIMIT_CHAT_PER_MINUTE: '2',
    MAX_CONCURRENT_REPLIES_PER_USER: '10',
  };
  processes.push(...(await Promise.all(databaseUrls.map((databaseUrl) => startServerProcess({ ...env, DATABASE_URL: databaseUrl })))));
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((server) => server.stop()));
  await model?.close();
  if (redisUp) await deleteRedisKeys(prefix);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const chat = (index: number, user: string, message: string) =>
  postGraphQL(`${processes[index]?.url}/graphql`, CHAT_MUTATION, { input: { message } }, keys[index]?.[user]);

describe('rate limits shared through Redis', () => {
  it('rejects on the second process once the first used the limit', async (ctx) => {
    requireRedis(redisUp, ctx);
    const first = await chat(0, 'alice', 'Say hello');
    const second = await chat(0, 'alice', 'Say hello again');
    const third = await chat(1, 'alice', 'Say hello from the other instance');

    expect(first.body.errors).toBeUndefined();
    expect(second.body.errors).toBeUndefined();
    expect(third.status).toBe(429);
    expect(third.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('lets exactly two of six parallel chats across both processes pass', async (ctx) => {
    requireRedis(redisUp, ctx);
    const responses = await Promise.all(Array.from({ length: 6 }, (_, index) => chat(index % 2, 'bob', `Say hello ${index}`)));

    const passed = responses.filter((response) => response.body.errors === undefined);
    const limited = responses.filter((response) => response.body.errors?.[0]?.extensions?.code === 'RATE_LIMITED');
    expect(passed).toHaveLength(2);
    expect(limited).toHaveLength(4);
  });
});
