import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, postGraphQL } from '../support/clients.js';
import { requireFixtures } from '../support/fixtures.js';
import { CHAT_STREAM, eventsOf, joinDeltas, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack();
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

interface Expected {
  text: string;
  toolCalls: { id: string; name: string; arguments: unknown }[];
  usage: { prompt_tokens: number; completion_tokens: number } | undefined;
}

/** Reads what a recorded SSE body says, independently of the service's own stream parser. */
function expectedFromSse(body: string): Expected {
  let text = '';
  const calls: { id: string; name: string; arguments: string }[] = [];
  let usage: Expected['usage'];
  for (const line of body.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const chunk = JSON.parse(line.slice(6));
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      if (choice.delta?.content) text += choice.delta.content;
      for (const delta of choice.delta?.tool_calls ?? []) {
        calls[delta.index] ??= { id: '', name: '', arguments: '' };
        const call = calls[delta.index] as { id: string; name: string; arguments: string };
        if (delta.id) call.id = delta.id;
        if (delta.function?.name) call.name = delta.function.name;
        if (delta.function?.arguments) call.arguments += delta.function.arguments;
      }
    }
  }
  return { text, toolCalls: calls.map((call) => ({ ...call, arguments: JSON.parse(call.arguments) })), usage };
}

const REPLY = `query($id: ID!) { message(id: $id) { content status usage { promptTokens completionTokens estimated } toolCalls { name arguments status error { code } } } }`;

async function runTurn(message: string) {
  const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message } });
  await stream.done;
  const events = eventsOf(stream.results, 'chatStream');
  const messageId = events[0]?.messageId as string;
  const stored = await postGraphQL(stack.graphqlUrl, REPLY, { id: messageId }, key);
  return { events, reply: stored.body.data?.message };
}

describe('recorded OpenAI streams', () => {
  it('turns each recorded stream into the recorded text or tool calls', async (ctx) => {
    const folder = requireFixtures(ctx, 'openai', 'openai-python');
    const files = readdirSync(folder)
      .filter((file) => file.endsWith('.sse.txt'))
      .sort();
    expect(files).toHaveLength(4);

    for (const file of files) {
      const expected = expectedFromSse(readFileSync(path.join(folder, file), 'utf8'));
      const requestsBefore = stack.model.requests.length;
      stack.model.enqueue({ kind: 'recording', file: path.join(folder, file) });
      if (expected.toolCalls.length > 0) stack.model.enqueue({ kind: 'text', text: 'Follow-up after the tools.' });

      const { events, reply } = await runTurn(`Recording ${file}`);

      expect(reply.status, file).toBe('COMPLETED');
      expect(
        reply.toolCalls.map((call: { name: string; arguments: unknown }) => ({ name: call.name, arguments: call.arguments })),
        file,
      ).toEqual(expected.toolCalls.map((call) => ({ name: call.name, arguments: call.arguments })));
      // The recorded tools are not tools of this service, so each call is answered with NOT_FOUND.
      for (const call of reply.toolCalls) expect(call.error.code, file).toBe('NOT_FOUND');

      if (expected.toolCalls.length === 0) {
        expect(reply.content, file).toBe(expected.text);
        expect(reply.usage, file).toEqual({
          promptTokens: expected.usage?.prompt_tokens,
          completionTokens: expected.usage?.completion_tokens,
          estimated: false,
        });
      } else {
        expect(reply.content, file).toBe(`${expected.text}${expected.text ? '\n\n' : ''}Follow-up after the tools.`);
        // The second model request carries the recorded call ids back with the tool results.
        const followUp = stack.model.requests[requestsBefore + 1]?.body.messages as { role: string; tool_call_id?: string; tool_calls?: { id: string }[] }[];
        const assistant = followUp.find((message) => message.role === 'assistant' && message.tool_calls);
        expect(
          assistant?.tool_calls?.map((call) => call.id),
          file,
        ).toEqual(expected.toolCalls.map((call) => call.id));
        expect(
          followUp.filter((message) => message.role === 'tool').map((message) => message.tool_call_id),
          file,
        ).toEqual(expected.toolCalls.map((call) => call.id));
      }
      expect(joinDeltas(events), file).toBe(reply.content);
    }
  });

  it('replays the recorded pydantic-ai conversation with usage', async (ctx) => {
    const file = requireFixtures(ctx, 'openai', 'pydantic-ai', 'test_run_stream_sync_streams_real_model.yaml');
    const cassette = parseYaml(readFileSync(file, 'utf8')) as { interactions: { response: { body: { string: string } } }[] };
    const first = expectedFromSse(cassette.interactions[0]?.response.body.string ?? '');
    const second = expectedFromSse(cassette.interactions[1]?.response.body.string ?? '');
    expect(first.toolCalls.map((call) => call.name)).toEqual(['get_capital']);

    stack.model.enqueue({ kind: 'cassette', file, interaction: 0 }, { kind: 'cassette', file, interaction: 1 });
    const { reply } = await runTurn('What is the capital of the UK? Use the tool, then answer.');

    expect(reply.toolCalls).toEqual([{ name: 'get_capital', arguments: first.toolCalls[0]?.arguments, status: 'FAILED', error: { code: 'NOT_FOUND' } }]);
    expect(reply.content).toBe(second.text);
    expect(reply.usage).toEqual({
      promptTokens: (first.usage?.prompt_tokens ?? 0) + (second.usage?.prompt_tokens ?? 0),
      completionTokens: (first.usage?.completion_tokens ?? 0) + (second.usage?.completion_tokens ?? 0),
      estimated: false,
    });
  });
});
