import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createErrorMasker } from '../../src/graphql/errors.js';
import { Metrics } from '../../src/observability/metrics.js';
import { createLogger } from '../../src/observability/logger.js';
import { AppError } from '../../src/security/errors.js';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient } from '../support/clients.js';
import { startTestServer } from '../support/server.js';
import { CHAT_STREAM, CONFIRM_TOOL_CALL, eventsOf, setHomeState, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack();
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

async function scrape(url: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/** Returns the value of one sample, matched by name and exact label set; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([label, value]) => `${label}="${value}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter(Boolean)
      .sort()
      .join(',');
    if (present === wanted) return Number(match[3]);
  }
  return undefined;
}

describe('/metrics', () => {
  it('reports operations, first tokens, tokens by user class, replies and Home Assistant calls', async () => {
    const before = await scrape(stack.url);
    expect(before.status).toBe(200);
    expect(before.type).toContain('text/plain');
    expect(before.text).toContain('# HELP ha_ai_agent_graphql_operations_total');
    expect(before.text).toContain('process_cpu_user_seconds_total');

    await setHomeState(stack, 'light.kitchen', 'off');
    const stream = collectSse(
      stack.graphqlUrl,
      key,
      `subscription EvilOperationName123($input: ChatInput!) { chatStream(input: $input) { __typename ... on ReplyStarted { messageId } } }`,
      { input: { message: 'Turn on the kitchen light' } },
    );
    await stream.done;
    const messageId = (eventsOf(stream.results, 'chatStream')[0] as StreamedEvent).messageId;
    const reply = await postGraphQL(
      stack.graphqlUrl,
      `query($id: ID!) { message(id: $id) { usage { promptTokens completionTokens } } }`,
      { id: messageId },
      key,
    );
    const usage = reply.body.data?.message.usage as { promptTokens: number; completionTokens: number };

    const { text } = await scrape(stack.url);
    expect(sample(text, 'ha_ai_agent_graphql_operations_total', { type: 'subscription', field: 'chatStream' })).toBe(1);
    expect(sample(text, 'ha_ai_agent_graphql_operations_total', { type: 'query', field: 'message' })).toBe(1);
    expect(sample(text, 'ha_ai_agent_time_to_first_token_seconds_count')).toBe(1);
    expect(sample(text, 'ha_ai_agent_model_tokens_total', { user_class: 'control', kind: 'prompt' })).toBe(usage.promptTokens);
    expect(sample(text, 'ha_ai_agent_model_tokens_total', { user_class: 'control', kind: 'completion' })).toBe(usage.completionTokens);
    expect(sample(text, 'ha_ai_agent_replies_total', { status: 'COMPLETED' })).toBe(1);
    expect(sample(text, 'ha_ai_agent_home_assistant_request_duration_seconds_count', { operation: 'call_service', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'ha_ai_agent_home_assistant_request_duration_seconds_count', { operation: 'get_states', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(text).toContain('graphql_envelop_phase_execute');
    // Client-chosen names never become label values.
    expect(text).not.toContain('EvilOperationName123');
  });

  it('counts errors by code and failed Home Assistant calls', async () => {
    await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {});
    await postGraphQL(stack.graphqlUrl, 'mutation { cancelReply(messageId: "0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d") { id } }', {}, key);
    await setHomeState(stack, 'light.kitchen', 'on');
    stack.homeAssistant.faults.failNextServiceCalls = 1;
    try {
      await collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Turn off the kitchen light' } }).done;
    } finally {
      stack.homeAssistant.faults.failNextServiceCalls = 0;
    }

    const { text } = await scrape(stack.url);
    expect(sample(text, 'ha_ai_agent_graphql_errors_total', { code: 'UNAUTHENTICATED' })).toBe(1);
    expect(sample(text, 'ha_ai_agent_graphql_errors_total', { code: 'NOT_FOUND' })).toBe(1);
    expect(sample(text, 'ha_ai_agent_home_assistant_request_duration_seconds_count', { operation: 'call_service', outcome: 'rejected' })).toBe(1);
    expect(sample(text, 'ha_ai_agent_home_assistant_request_duration_seconds_count', { operation: 'get_states', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  });

  it('counts every validation error', async () => {
    const count = async () => sample((await scrape(stack.url)).text, 'ha_ai_agent_graphql_errors_total', { code: 'BAD_USER_INPUT' }) ?? 0;
    const before = await count();
    const server = await startTestServer({ env: { GRAPHQL_INTROSPECTION: 'false' } });
    try {
      const serverKey = await server.apiKey('alice');
      const serverCount = async () => sample((await scrape(server.url)).text, 'ha_ai_agent_graphql_errors_total', { code: 'BAD_USER_INPUT' }) ?? 0;
      let returned = 0;
      for (let attempt = 0; attempt < 2; attempt += 1) {
        for (const query of ['{ viewer { noSuchField } }', '{ __schema { types { name } } }']) {
          const response = await postGraphQL(server.graphqlUrl, query, {}, serverKey);
          expect(response.body.errors?.length).toBeGreaterThan(0);
          for (const error of response.body.errors ?? []) expect(error.extensions?.code).toBe('BAD_USER_INPUT');
          returned += response.body.errors?.length ?? 0;
        }
      }
      expect(await serverCount()).toBe(returned);
    } finally {
      await server.close();
    }

    // The same documents again, for which Yoga has its parse and validation caches.
    await postGraphQL(stack.graphqlUrl, '{ viewer { noSuchField } }', {}, key);
    await postGraphQL(stack.graphqlUrl, '{ viewer { noSuchField } }', {}, key);
    await postGraphQL(stack.graphqlUrl, '{ viewer {', {}, key);
    await postGraphQL(stack.graphqlUrl, '{ viewer {', {}, key);
    expect(await count()).toBe(before + 4);
  });

  it('leaves confirmation waits out of the first token time', async () => {
    const before = await scrape(stack.url);
    const countBefore = sample(before.text, 'ha_ai_agent_time_to_first_token_seconds_count') ?? 0;
    const sumBefore = sample(before.text, 'ha_ai_agent_time_to_first_token_seconds_sum') ?? 0;
    await setHomeState(stack, 'lock.front_door', 'locked');

    const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Unlock the front door' } });
    const awaiting = await waitFor(
      () =>
        eventsOf(stream.results, 'chatStream').find((event) => event.__typename === 'ToolCallAwaitingConfirmation') as
          | (StreamedEvent & { toolCall: { id: string } })
          | undefined,
      10_000,
      'a confirmation request',
    );
    const waitMs = 1_500;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    await postGraphQL(stack.graphqlUrl, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true }, key);
    await stream.done;

    const completed = stack.logs.find((line) => line.event === 'reply.completed' && line.messageId === awaiting.messageId);
    expect(completed?.firstTokenMs).toBeTypeOf('number');
    expect(completed?.firstTokenMs as number).toBeLessThan(waitMs);
    expect(completed?.durationMs as number).toBeGreaterThanOrEqual(waitMs);
    const after = await scrape(stack.url);
    expect(sample(after.text, 'ha_ai_agent_time_to_first_token_seconds_count')).toBe(countBefore + 1);
    expect((sample(after.text, 'ha_ai_agent_time_to_first_token_seconds_sum') ?? 0) - sumBefore).toBeLessThan(waitMs / 1000);
  });

  it('tracks open subscriptions', async () => {
    const start = await postGraphQL(
      stack.graphqlUrl,
      'mutation($input: ChatInput!) { chat(input: $input) { conversation { id } reply { id } } }',
      { input: { message: 'Open a conversation' } },
      key,
    );
    const conversationId = start.body.data?.chat.conversation.id as string;
    const client = wsClient(stack.wsUrl, key);
    const watchers = [0, 1].map(() =>
      collectWs(client, `subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }`, { id: conversationId }),
    );
    const open = async () => sample((await scrape(stack.url)).text, 'ha_ai_agent_active_subscriptions', { field: 'conversationEvents' });
    await waitFor(async () => ((await open()) === 2 ? true : undefined), 5_000, 'two open subscriptions');
    for (const watcher of watchers) watcher.cancel();
    await waitFor(async () => ((await open()) === 0 ? true : undefined), 5_000, 'no open subscriptions');
    await client.dispose();
  });

  it('counts rate-limit and budget rejections from the errors sent to clients', () => {
    const metrics = new Metrics();
    const mask = createErrorMasker({
      logger: createLogger({ level: 'silent' }),
      hideSuggestions: false,
      onMasked: (code) => metrics.clientError(code),
    });
    mask(AppError.rateLimited(12, 'chat turns'));
    mask(AppError.rateLimited(3));
    mask(AppError.budgetExhausted(new Date()));
    const same = AppError.notFound('Reply');
    mask(same);
    mask(same);
    return metrics.registry.metrics().then((text) => {
      expect(sample(text, 'ha_ai_agent_rate_limit_rejections_total', { code: 'RATE_LIMITED' })).toBe(2);
      expect(sample(text, 'ha_ai_agent_rate_limit_rejections_total', { code: 'BUDGET_EXHAUSTED' })).toBe(1);
      expect(sample(text, 'ha_ai_agent_graphql_errors_total', { code: 'NOT_FOUND' })).toBe(1);
    });
  });
});

describe('/metrics with METRICS_TOKEN', () => {
  it('answers only with the bearer token', async () => {
    const token = 'metrics-token-for-tests-0123456789';
    const server = await startTestServer({ env: { METRICS_TOKEN: token } });
    try {
      const missing = await scrape(server.url);
      expect(missing.status).toBe(401);
      expect(missing.text).not.toContain('ha_ai_agent');
      expect((await scrape(server.url, 'wrong-token-of-some-length')).status).toBe(401);
      const allowed = await scrape(server.url, token);
      expect(allowed.status).toBe(200);
      expect(allowed.text).toContain('ha_ai_agent_graphql_operations_total');
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
      expect(server.logs.map((line) => JSON.stringify(line)).join('\n')).not.toContain(token);
    } finally {
      await server.close();
    }
  });
});
