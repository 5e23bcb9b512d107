import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectWs, postGraphQL, wsClient } from '../support/clients.js';
import { requireFixtures } from '../support/fixtures.js';
import { CHAT_MUTATION, CHAT_STREAM, eventsOf, startTestStack, type TestStack } from '../support/stack.js';

const BUDGET = `{ viewer { tokenBudget { limit used remaining estimated estimatedTokens resetsAt } } }`;
const USAGE = `query($id: ID!) { message(id: $id) { status content usage { promptTokens completionTokens totalTokens estimated } } }`;

function nextUtcMidnight(): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
}

async function budgetOf(stack: TestStack, key: string) {
  const response = await postGraphQL(stack.graphqlUrl, BUDGET, {}, key);
  return response.body.data?.viewer.tokenBudget;
}

/** Runs one chatStream to its end and returns the stored reply. */
async function runTurn(stack: TestStack, key: string, message: string) {
  const client = wsClient(stack.wsUrl, key);
  const stream = collectWs(client, CHAT_STREAM, { input: { message } });
  await stream.done;
  await client.dispose();
  const messageId = eventsOf(stream.results, 'chatStream')[0]?.messageId as string;
  const reply = await postGraphQL(stack.graphqlUrl, USAGE, { id: messageId }, key);
  return reply.body.data?.message;
}

describe('token budget', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({ env: { TOKEN_BUDGET_PER_DAY: '1000000' } });
  });

  afterAll(async () => {
    await stack.close();
  });

  it('starts each day with the whole budget', async () => {
    const key = await stack.apiKey('fresh-user');
    expect(await budgetOf(stack, key)).toEqual({
      limit: 1_000_000,
      used: 0,
      remaining: 1_000_000,
      estimated: false,
      estimatedTokens: 0,
      resetsAt: nextUtcMidnight(),
    });
  });

  it('charges the usage chunks of every model call in a turn', async () => {
    const key = await stack.apiKey('tool-user');
    const requestsBefore = stack.model.requests.length;

    const reply = await runTurn(stack, key, 'Turn on the kitchen light');

    // This turn sends three model requests: read states, call the service, reply.
    expect(stack.model.requests.length - requestsBefore).toBe(3);
    expect(reply.status).toBe('COMPLETED');
    expect(reply.usage.estimated).toBe(false);
    expect(reply.usage.totalTokens).toBe(reply.usage.promptTokens + reply.usage.completionTokens);
    const budget = await budgetOf(stack, key);
    expect(budget.used).toBe(reply.usage.totalTokens);
    expect(budget.remaining).toBe(1_000_000 - reply.usage.totalTokens);
    expect(budget.estimated).toBe(false);
  });

  it('charges the usage of a recorded OpenAI stream', async (ctx) => {
    const folder = requireFixtures(ctx, 'openai', 'openai-python');
    const file = path.join(folder, 'plain_text_content_with_usage.e2aad469b71d1d4894ff833ea147020a9d875eb7ce644a0ff355581690a4cbfd.sse.txt');
    const usageLine = readFileSync(file, 'utf8')
      .split('\n')
      .find((line) => line.startsWith('data: {') && line.includes('"usage":{'));
    const recorded = JSON.parse(usageLine?.slice('data: '.length) ?? '{}').usage as { prompt_tokens: number; completion_tokens: number };
    const key = await stack.apiKey('recording-user');
    stack.model.enqueue({ kind: 'recording', file });

    await runTurn(stack, key, 'Play the recording');

    expect((await budgetOf(stack, key)).used).toBe(recorded.prompt_tokens + recorded.completion_tokens);
  });

  it('counts estimates when the endpoint sends no usage', async () => {
    const key = await stack.apiKey('estimate-user');
    stack.model.mode = 'no-usage';
    try {
      const reply = await runTurn(stack, key, 'Say hello');

      expect(reply.usage.estimated).toBe(true);
      const budget = await budgetOf(stack, key);
      expect(budget.used).toBe(reply.usage.totalTokens);
      expect(budget.estimatedTokens).toBe(reply.usage.totalTokens);
      expect(budget.estimated).toBe(true);
    } finally {
      stack.model.mode = 'openai';
    }
  });

  it('charges an estimate for the text of a stream cut short', async () => {
    const key = await stack.apiKey('cut-user');
    stack.model.enqueue({ kind: 'cut', afterChunks: 4 });

    const reply = await runTurn(stack, key, 'Say hello');

    expect(reply.status).toBe('FAILED');
    expect(reply.content.length).toBeGreaterThan(0);
    expect(reply.usage.estimated).toBe(true);
    expect(reply.usage.completionTokens).toBeGreaterThan(0);
    const budget = await budgetOf(stack, key);
    expect(budget.used).toBe(reply.usage.totalTokens);
    expect(budget.estimatedTokens).toBe(reply.usage.totalTokens);
  });

  it('shows no limit when no budget is set', async () => {
    const unlimited = await startTestStack();
    try {
      const key = await unlimited.apiKey('alice');
      await runTurn(unlimited, key, 'Say hello');
      const budget = await budgetOf(unlimited, key);

      expect(budget.limit).toBeNull();
      expect(budget.remaining).toBeNull();
      expect(budget.used).toBeGreaterThan(0);
    } finally {
      await unlimited.close();
    }
  });
});

describe('exhausted token budget', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({ env: { TOKEN_BUDGET_PER_DAY: '50' } });
  });

  afterAll(async () => {
    await stack.close();
  });

  it('lets the turn that crosses the limit finish, then refuses new turns', async () => {
    const key = await stack.apiKey('spender');
    const first = await runTurn(stack, key, 'Say hello');
    expect(first.status).toBe('COMPLETED');
    expect(first.usage.totalTokens).toBeGreaterThan(50);

    const refused = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello again' } }, key);
    const client = wsClient(stack.wsUrl, key);
    const refusedStream = collectWs(client, CHAT_STREAM, { input: { message: 'And over the socket' } });
    await refusedStream.done;
    await client.dispose();

    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'BUDGET_EXHAUSTED', resetsAt: nextUtcMidnight() });
    expect(refused.body.errors?.[0]?.message).toBe(`Your daily token budget is used up. It resets at ${nextUtcMidnight()}.`);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(refusedStream.results[0]?.errors?.[0]?.extensions?.code).toBe('BUDGET_EXHAUSTED');
    expect(await budgetOf(stack, key)).toMatchObject({ limit: 50, used: first.usage.totalTokens, remaining: 0 });
    const conversations = await postGraphQL(stack.graphqlUrl, '{ conversations { edges { node { id } } } }', {}, key);
    expect(conversations.body.data?.conversations.edges).toHaveLength(1);
  });

  it('keeps other users to their own budget', async () => {
    const key = await stack.apiKey('saver');
    const response = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'Say hello' } }, key);
    expect(response.body.errors).toBeUndefined();
  });
});
