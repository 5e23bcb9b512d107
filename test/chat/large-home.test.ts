import { afterAll, describe, expect, it } from 'vitest';
import { loadHome } from '../../src/simulators/home-assistant/index.js';
import { collectSse } from '../support/clients.js';
import { requireFixtures } from '../support/fixtures.js';
import { CHAT_STREAM, eventsOf, joinDeltas, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack | undefined;

afterAll(async () => {
  await stack?.close();
});

describe('large real home', () => {
  it('builds the context of the 1,572-entity home and completes a turn', async (ctx) => {
    const folder = requireFixtures(ctx, 'ha', 'crow11111-core');
    stack = await startTestStack({ home: loadHome(folder) });
    const key = await stack.apiKey('alice');
    expect(stack.homeAssistant.states()).toHaveLength(1572);

    const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Which lights are on?' } });
    await stream.done;
    const events = eventsOf(stream.results, 'chatStream');
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
    expect(joinDeltas(events).length).toBeGreaterThan(0);

    const request = stack.model.requests[0]?.body;
    const context = request.messages[1].content as string;
    expect(context).toContain('1572 entities');
    expect(context).toContain('light 193');
    expect(context).toContain('sensor 301');
    const reads = events.filter((event) => event.__typename === 'ToolCallFinished');
    expect(reads.length).toBeGreaterThan(0);
    const result = (reads[0]?.toolCall as { result: { total: number; truncated?: boolean; states: unknown[] } }).result;
    expect(result.total).toBe(193);
    expect(result.truncated).toBe(true);
    expect(result.states).toHaveLength(100);
  });
});
