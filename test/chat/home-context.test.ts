import { MIN_REFRESH_INTERVAL_MS } from '../../src/home-assistant/home-context-provider.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from 'gpt-tokenizer';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { collectSse, postGraphQL, waitFor } from '../support/clients.js';
import { fixturesDir, requireFixtures } from '../support/fixtures.js';
import { startTestServer } from '../support/server.js';
import { CHAT_STREAM, eventsOf, joinDeltas, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

const HOME = `query($refresh: Boolean) { home(refresh: $refresh) { available configured problem haVersion updatedAt ageSeconds syncedAt totalTokens maxTokens entityListDetail entityCount exposedEntityCount sections { name tokens text } text } }`;

interface Home {
  available: boolean;
  configured: boolean;
  problem: string | null;
  updatedAt: string | null;
  ageSeconds: number | null;
  syncedAt: string | null;
  totalTokens: number;
  maxTokens: number;
  entityListDetail: string;
  entityCount: number;
  exposedEntityCount: number;
  sections: { name: string; tokens: number; text: string }[];
  text: string;
}

async function home(stack: TestStack, key: string, refresh = false): Promise<Home> {
  const response = await postGraphQL(stack.graphqlUrl, HOME, { refresh }, key);
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
  return response.body.data?.home as Home;
}

async function turn(stack: TestStack, key: string, message: string): Promise<StreamedEvent[]> {
  const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message } });
  await stream.done;
  return eventsOf(stream.results, 'chatStream');
}

/**
 * Token counts of the context of every home, measured with the o200k tokenizer. They change only when
 * the context's wording or the homes change; the budget is HA_CONTEXT_MAX_TOKENS, 4,000 by default.
 */
const HOMES = [
  { name: 'demo home', fixture: undefined, entities: 55, exposed: 49, detail: 'FULL', tokens: 1018 },
  { name: 'crow11111-core', fixture: 'crow11111-core', entities: 1572, exposed: 1572, detail: 'PRIMARY', tokens: 3984 },
  { name: 'alexing0805-obsidian-hub', fixture: 'alexing0805-obsidian-hub', entities: 450, exposed: 450, detail: 'PRIMARY', tokens: 3989 },
  { name: 'fsniper-cyd-nightstand', fixture: 'fsniper-cyd-nightstand', entities: 131, exposed: 131, detail: 'FULL', tokens: 2696 },
  { name: 'ha-mcp-demo-storage', fixture: 'ha-mcp-demo-storage', entities: 19, exposed: 2, detail: 'FULL', tokens: 118 },
];

describe('home context of each home', () => {
  for (const entry of HOMES) {
    it(`fits the budget for the ${entry.name}`, async (ctx) => {
      const path = entry.fixture ? requireFixtures(ctx, 'ha', entry.fixture) : DEMO_HOME_PATH;
      const stack = await startTestStack({ home: loadHome(path) });
      try {
        const key = await stack.apiKey('alice');
        const context = await home(stack, key);
        expect(context).toMatchObject({
          available: true,
          configured: true,
          maxTokens: 4000,
          entityCount: entry.entities,
          exposedEntityCount: entry.exposed,
          entityListDetail: entry.detail,
        });
        expect(context.totalTokens).toBe(entry.tokens);
        expect(context.totalTokens).toBeLessThanOrEqual(4000);
        expect(context.sections.map((section) => section.name)).toEqual(['summary', 'entities', 'states']);
        for (const section of context.sections) expect(section.tokens).toBe(countTokens(section.text));
        // The two blocks are counted apart, as the prompt holds them in two messages.
        const [stable, volatile] = [
          context.text.slice(0, context.text.indexOf('</home_context>') + 15),
          context.text.slice(context.text.indexOf('<home_state>')),
        ];
        expect(countTokens(stable) + countTokens(volatile)).toBe(context.totalTokens);
      } finally {
        await stack.close();
      }
    });
  }
});

describe('home context in the prompt', () => {
  let stack: TestStack;
  let key: string;

  beforeAll(async () => {
    stack = await startTestStack({ env: { OPENAI_PROMPT_CACHE_KEY: 'true' } });
    key = await stack.apiKey('alice');
  });

  afterAll(async () => {
    await stack.close();
  });

  it('keeps the prefix and shows pushed states', async () => {
    stack.homeAssistant.setState('light.porch', 'off');
    const first = stack.model.requests.length;
    await turn(stack, key, 'Hello there');
    stack.homeAssistant.setState('light.porch', 'on');
    await waitFor(async () => ((await home(stack, key)).text.includes('light.porch: on') ? true : undefined), 5_000, 'the pushed state');
    await turn(stack, key, 'Hello again');

    const [before, after] = [stack.model.requests[first]!.body, stack.model.requests[first + 1]!.body];
    expect(after.messages[0]).toEqual(before.messages[0]);
    expect(after.messages[1]).toEqual(before.messages[1]);
    expect(after.messages[1].content).toMatch(/^<home_context>\nHome: Demo Home \(simulated\)/);
    expect(before.messages[0].content).not.toMatch(/Current time/);
    expect(after.prompt_cache_key).toBe(before.prompt_cache_key);
    expect(after.prompt_cache_key).toMatch(/^ha-ai-agent-[0-9a-f]{24}$/);

    const turnContext = (body: { messages: { role: string; content: string }[] }) => body.messages.at(-2)!;
    expect(turnContext(before)).toMatchObject({ role: 'system' });
    expect(turnContext(before).content).toContain('light.porch: off');
    expect(turnContext(after).content).toContain('light.porch: on');
    expect(turnContext(after).content).toMatch(/Current time: \d{4}-\d\d-\d\dT[\d:.]+Z, local time .+ \(Europe\/Amsterdam\)\.$/);
  });

  it('follows registry changes without a refresh', async () => {
    stack.homeAssistant.upsertArea({ area_id: 'kitchen', name: 'Cooking Area', floor_id: 'ground_floor' });
    const renamed = await waitFor(
      async () => {
        const context = await home(stack, key);
        return context.text.includes('Ground Floor > Cooking Area (kitchen): ') ? context : undefined;
      },
      5_000,
      'the renamed area',
    );
    expect(renamed.text).not.toContain('Kitchen (kitchen)');
  });

  it('hides an entity no longer exposed', async () => {
    const entry = { entity_id: 'light.bedside_lamp', device_id: 'd11412f91fd23451c39fc6d2f30a8009', options: { conversation: { should_expose: false } } };
    stack.homeAssistant.upsertEntityEntry(entry);
    try {
      await waitFor(async () => (!(await home(stack, key)).text.includes('light.bedside_lamp') ? true : undefined), 5_000, 'the entity to disappear');
      const callsBefore = stack.homeAssistant.serviceCalls.length;
      stack.model.enqueue({
        kind: 'tool_calls',
        calls: [{ name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: ['light.bedside_lamp'] } }],
      });
      const events = await turn(stack, key, 'Turn on the bedside lamp');
      const refused = events.find((event) => event.__typename === 'ToolCallFinished')?.toolCall as { status: string; error: { code: string; message: string } };
      expect(refused.status).toBe('REJECTED');
      expect(refused.error.code).toBe('NOT_FOUND');
      expect(refused.error.message).toContain('light.bedside_lamp');
      expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
    } finally {
      stack.homeAssistant.upsertEntityEntry({ ...entry, options: { conversation: { should_expose: true } } });
    }
  });

  it('reads the whole home again on refresh', async () => {
    const before = await home(stack, key);
    await new Promise((resolve) => setTimeout(resolve, MIN_REFRESH_INTERVAL_MS));
    const refreshed = await home(stack, key, true);
    expect(Date.parse(refreshed.syncedAt!)).toBeGreaterThan(Date.parse(before.syncedAt!));

    // Refreshes at once after that, however many, reuse it instead of loading Home Assistant again.
    const burst = await Promise.all(Array.from({ length: 5 }, () => home(stack, key, true)));
    expect(burst.map((snapshot) => snapshot.syncedAt)).toEqual(Array(5).fill(refreshed.syncedAt));

    await new Promise((resolve) => setTimeout(resolve, MIN_REFRESH_INTERVAL_MS));
    const first = stack.model.requests.length;
    const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Hello', refreshContext: true } });
    await stream.done;
    expect(stack.model.requests.length).toBe(first + 1);
    expect(Date.parse((await home(stack, key)).syncedAt!)).toBeGreaterThan(Date.parse(refreshed.syncedAt!));
  });
});

describe('Home Assistant outages', () => {
  it('completes a reply when Home Assistant goes away', async () => {
    const stack = await startTestStack({ model: { chunkDelayMs: 20 } });
    try {
      const key = await stack.apiKey('alice');
      const first = stack.model.requests.length;
      const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Turn off the kitchen light' } });
      await stack.model.waitForRequest((request) => stack.model.requests.indexOf(request) === first);
      stack.homeAssistant.faults.unavailable = true;
      await stream.done;

      const events = eventsOf(stream.results, 'chatStream');
      expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
      const tool = events.find((event) => event.__typename === 'ToolCallFinished')?.toolCall as {
        name: string;
        status: string;
        error: { code: string; message: string };
      };
      expect(tool).toMatchObject({ name: 'search_entities', status: 'FAILED', error: { code: 'HOME_ASSISTANT_UNAVAILABLE' } });
      expect(tool.error.message).toMatch(/^Home Assistant has been unavailable for \d+ s\. The connection to Home Assistant was lost\./);
      expect(joinDeltas(events)).toMatch(/^Sorry, I could not search your home: Home Assistant has been unavailable for \d+ s\./);
      expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('on');

      const down = await home(stack, key);
      expect(down).toMatchObject({ available: false, configured: true });
      expect(down.ageSeconds).toBeGreaterThanOrEqual(0);
      expect(down.text).toMatch(/Home Assistant is unreachable; these states are \d+ s old \(as of .+\) and may be out of date\./);
      expect(down.text).toContain('light.kitchen: on');

      const next = stack.model.requests.length;
      await turn(stack, key, 'Hello');
      expect(stack.model.requests[next]!.body.messages.at(-2).content).toContain('Home Assistant is unreachable');

      stack.homeAssistant.faults.unavailable = false;
      stack.homeAssistant.setState('light.kitchen', 'off');
      const back = await waitFor(
        async () => {
          const context = await home(stack, key);
          return context.available ? context : undefined;
        },
        15_000,
        'Home Assistant to be back',
      );
      expect(back.text).toContain('light.kitchen: off');
      expect(back.ageSeconds).toBe(0);
    } finally {
      await stack.close();
    }
  });

  it('reads changes made while disconnected', async () => {
    const stack = await startTestStack();
    try {
      const key = await stack.apiKey('alice');
      stack.homeAssistant.faults.dropWebSocket();
      stack.homeAssistant.setState('switch.garden_sprinkler', 'on');
      const synced = await waitFor(
        async () => {
          const context = await home(stack, key);
          return context.available && context.text.includes('switch.garden_sprinkler: on') ? context : undefined;
        },
        15_000,
        'the reconnect',
      );
      expect(synced.problem).toBeNull();
    } finally {
      await stack.close();
    }
  });

  it('answers at once when Home Assistant is down at startup', async () => {
    const homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
    homeAssistant.faults.unavailable = true;
    const model = await startScriptedModel();
    const server = await startTestServer({
      env: {
        OPENAI_BASE_URL: model.url,
        OPENAI_MODEL: SCRIPTED_MODEL_NAME,
        HA_URL: homeAssistant.url,
        HA_TOKEN: homeAssistant.token,
        HA_REQUEST_TIMEOUT_SECONDS: '20',
      },
    });
    try {
      const key = await server.apiKey('alice');
      await waitFor(
        () => (server.logs.some((line) => line.event === 'home_assistant.reconnect_scheduled') ? true : undefined),
        5_000,
        'the failed first connection',
      );
      const failure = server.logs.find((line) => line.event === 'home_assistant.reconnect_scheduled');
      expect(failure?.problem).toBe('Home Assistant could not be reached.');
      expect(failure?.msg).toContain('check HA_URL and that Home Assistant is running');
      expect(failure?.url).toBe(`${homeAssistant.url.replace(/^http/, 'ws')}/api/websocket`);
      expect(typeof failure?.cause).toBe('string');
      expect(JSON.stringify(failure)).not.toContain(homeAssistant.token);
      const startedAt = Date.now();
      const stream = collectSse(server.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Turn off the kitchen light' } });
      await stream.done;
      // The request timeout is 20 s; a turn that waited for the first read would take that long.
      expect(Date.now() - startedAt).toBeLessThan(10_000);

      const events = eventsOf(stream.results, 'chatStream');
      expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
      const tool = events.find((event) => event.__typename === 'ToolCallFinished')?.toolCall as { error: { code: string; message: string } };
      expect(tool.error.code).toBe('HOME_ASSISTANT_UNAVAILABLE');
      expect(tool.error.message).toMatch(/^Home Assistant has been unavailable for \d+ s\. Home Assistant could not be reached\./);
      expect(model.requests[0]!.body.messages.at(-2).content).toContain('Home Assistant is unreachable and no states have been read yet.');
    } finally {
      await server.close();
      await model.close();
      await homeAssistant.close();
    }
  });

  it('says when Home Assistant is not configured', async () => {
    const stack = await startTestStack({ env: { HA_URL: undefined, HA_TOKEN: undefined } });
    try {
      const key = await stack.apiKey('alice');
      const context = await home(stack, key);
      expect(context).toMatchObject({
        configured: false,
        available: false,
        entityCount: 0,
        problem: 'Home Assistant is not configured. Set HA_URL and HA_TOKEN.',
      });
      stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'search_entities', arguments: { query: 'kitchen' } }] });
      const events = await turn(stack, key, 'Find the kitchen');
      const tool = events.find((event) => event.__typename === 'ToolCallFinished')?.toolCall as { error: { code: string } };
      expect(tool.error.code).toBe('HOME_ASSISTANT_UNAVAILABLE');
      expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
    } finally {
      await stack.close();
    }
  });
});

describe('search', () => {
  it('finds names in English and Chinese', async (ctx) => {
    const path = requireFixtures(ctx, 'ha', 'alexing0805-obsidian-hub');
    const stack = await startTestStack({ home: loadHome(path) });
    try {
      const key = await stack.apiKey('alice');
      stack.model.enqueue({
        kind: 'tool_calls',
        calls: [
          { name: 'search_entities', arguments: { query: '客厅窗帘' } },
          { name: 'search_entities', arguments: { query: 'apple tv', domain: 'media_player' } },
          { name: 'search_entities', arguments: { query: '卧室 灯', domain: 'light' } },
        ],
      });
      const events = await turn(stack, key, 'Find the curtains');
      // The three searches run in parallel and may finish in any order; their ids follow the request order.
      const results = events
        .filter((event) => event.__typename === 'ToolCallFinished')
        .map((event) => event.toolCall as { id: string; result: { total: number; entities: { entity_id: string; name: string }[] } })
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .map((call) => call.result);
      expect(results[0]?.entities[0]).toMatchObject({ entity_id: 'cover.dooya_cn_249099499_m1_s_2_curtain', name: '客厅窗帘  窗帘' });
      expect(results[1]?.entities.map((entity) => entity.entity_id)).toEqual(['media_player.appletv']);
      expect(results[2]?.entities[0]).toMatchObject({ entity_id: 'light.wo_shi_ye_deng', name: '卧室夜灯' });
    } finally {
      await stack.close();
    }
  });

  it('finds German names without their accents', async (ctx) => {
    if (!fixturesDir('ha', 'crow11111-core')) requireFixtures(ctx, 'ha', 'crow11111-core');
    const stack = await startTestStack({ home: loadHome(requireFixtures(ctx, 'ha', 'crow11111-core')) });
    try {
      const key = await stack.apiKey('alice');
      stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'search_entities', arguments: { query: 'kuche effektgeschwindigkeit' } }] });
      const events = await turn(stack, key, 'Find it');
      const finished = events.find((event) => event.__typename === 'ToolCallFinished');
      const result = (finished?.toolCall as { result: { entities: { entity_id: string }[] } } | undefined)?.result;
      expect(result?.entities[0]?.entity_id).toBe('number.led_kuche_effektgeschwindigkeit');
    } finally {
      await stack.close();
    }
  });
});
