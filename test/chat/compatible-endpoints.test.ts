import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPATIBILITY_MODES, type CompatibilityMode } from '../../src/simulators/scripted-model/index.js';
import { collectSse, postGraphQL } from '../support/clients.js';
import { CHAT_STREAM, eventsOf, joinDeltas, setHomeState, startTestStack, type TestStack } from '../support/stack.js';

const REPLY = `query($id: ID!) { message(id: $id) { content status usage { promptTokens completionTokens totalTokens estimated } toolCalls { name arguments result status } } }`;

interface Outcome {
  content: string;
  status: string;
  toolCalls: { name: string; arguments: unknown; result: unknown; status: string }[];
  usage: { promptTokens: number; completionTokens: number; totalTokens: number; estimated: boolean };
  streamed: string;
}

async function turnIn(stack: TestStack, key: string, message: string): Promise<Outcome> {
  await setHomeState(stack, 'light.kitchen', 'off');
  const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message } });
  await stream.done;
  const events = eventsOf(stream.results, 'chatStream');
  const response = await postGraphQL(stack.graphqlUrl, REPLY, { id: events[0]?.messageId }, key);
  return { ...response.body.data?.message, streamed: joinDeltas(events) };
}

describe('OpenAI-compatible endpoints', () => {
  let stack: TestStack;
  let key: string;
  let reference: Outcome;

  beforeAll(async () => {
    stack = await startTestStack();
    key = await stack.apiKey('alice');
    reference = await turnIn(stack, key, 'Turn on the kitchen light');
  });

  afterAll(async () => {
    await stack.close();
  });

  it('stores the reference turn from the well-behaved stream', () => {
    expect(reference.status).toBe('COMPLETED');
    expect(reference.toolCalls.map((call) => call.name)).toEqual(['search_entities', 'call_service']);
    expect(reference.usage.estimated).toBe(false);
    expect(reference.content).toBe(reference.streamed);
  });

  for (const mode of COMPATIBILITY_MODES.filter((candidate) => candidate !== 'openai')) {
    it(`gives the same reply and tool calls in ${mode} mode`, async () => {
      const modeStack = await startTestStack({ model: { mode: mode as CompatibilityMode } });
      try {
        const modeKey = await modeStack.apiKey('alice');
        const outcome = await turnIn(modeStack, modeKey, 'Turn on the kitchen light');
        expect(outcome.status).toBe('COMPLETED');
        expect(outcome.content).toBe(reference.content);
        expect(outcome.streamed).toBe(reference.content);
        expect(outcome.toolCalls).toEqual(reference.toolCalls);
        expect(modeStack.homeAssistant.getState('light.kitchen')?.state).toBe('on');

        const sendsUsage = mode === 'whole-tool-calls' || mode === 'multi-choice' || mode === 'content-with-tool-calls';
        expect(outcome.usage.estimated).toBe(!sendsUsage);
        expect(outcome.usage.promptTokens).toBeGreaterThan(0);
        expect(outcome.usage.completionTokens).toBeGreaterThan(0);
        expect(outcome.usage.totalTokens).toBe(outcome.usage.promptTokens + outcome.usage.completionTokens);
      } finally {
        await modeStack.close();
      }
    });
  }

  it('retries once without stream_options and remembers it', async () => {
    const modeStack = await startTestStack({ model: { mode: 'rejects-stream-options' } });
    try {
      const modeKey = await modeStack.apiKey('alice');
      await turnIn(modeStack, modeKey, 'Hello there');
      await turnIn(modeStack, modeKey, 'Hello again');
      const withOptions = modeStack.model.requests.filter((request) => 'stream_options' in request.body);
      expect(withOptions).toHaveLength(1);
      expect(modeStack.model.requests[0]?.body.stream_options).toEqual({ include_usage: true });
      expect(modeStack.model.requests.length).toBe(3);
    } finally {
      await modeStack.close();
    }
  });
});
