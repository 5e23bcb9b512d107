import { afterAll, describe, expect, it } from 'vitest';
import { countTokens } from 'gpt-tokenizer';
import { loadHome } from '../../src/simulators/home-assistant/index.js';
import { collectSse, postGraphQL } from '../support/clients.js';
import { requireFixtures } from '../support/fixtures.js';
import { CHAT_STREAM, eventsOf, joinDeltas, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack | undefined;

afterAll(async () => {
  await stack?.close();
});

const HOME = `{ home { available totalTokens maxTokens entityListDetail entityCount exposedEntityCount sections { name tokens } text } }`;

describe('large real home', () => {
  it('fits the largest home and finds entities', async (ctx) => {
    const folder = requireFixtures(ctx, 'ha', 'crow11111-core');
    stack = await startTestStack({ home: loadHome(folder) });
    const key = await stack.apiKey('alice');
    expect(stack.homeAssistant.states()).toHaveLength(1572);

    const home = (await postGraphQL(stack.graphqlUrl, HOME, {}, key)).body.data?.home;
    expect(home).toMatchObject({ available: true, maxTokens: 4000, entityListDetail: 'PRIMARY', entityCount: 1572, exposedEntityCount: 1572 });
    expect(home.totalTokens).toBeLessThanOrEqual(4000);
    expect(countTokens(home.text)).toBeLessThanOrEqual(4000);
    expect(home.text).toContain('Entities you can use: 1572.');
    expect(home.text).toContain('light 193');
    expect(home.text).toContain('sensor 301');
    // A secondary entity is only counted in the context, so the search tool has to find it.
    expect(home.text).not.toContain('input_datetime.wecker');

    const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Find the Wecker' } });
    await stream.done;
    const events = eventsOf(stream.results, 'chatStream');
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
    const search = events.find((event) => event.__typename === 'ToolCallFinished')?.toolCall as {
      name: string;
      result: { total: number; entities: { entity_id: string }[] };
    };
    expect(search.name).toBe('search_entities');
    expect(search.result.entities[0]?.entity_id).toBe('input_datetime.wecker');
    expect(joinDeltas(events)).toBe('I found 1 match: Wecker (input_datetime.wecker).');

    const request = stack.model.requests[0]?.body;
    const stable = request.messages[1].content as string;
    expect(home.text.startsWith(stable)).toBe(true);
    expect(countTokens(stable)).toBeLessThan(4000);

    const lights = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Which lights are on?' } });
    await lights.done;
    const read = eventsOf(lights.results, 'chatStream').find((event) => event.__typename === 'ToolCallFinished')?.toolCall as {
      name: string;
      result: { total: number; more: number; states: unknown[] };
    };
    expect(read.name).toBe('get_states');
    expect(read.result.total).toBe(193);
    expect(read.result.states).toHaveLength(50);
    expect(read.result.more).toBe(143);
  });
});
