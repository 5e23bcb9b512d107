import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

import {
  COMPATIBILITY_MODES,
  SCRIPTED_MODEL_NAME,
  startScriptedModel,
  type CompatibilityMode,
  type ScriptedModel,
} from '../../src/simulators/scripted-model/index.js';
import { requireFixtures } from '../support/fixtures.js';

let model: ScriptedModel;
let client: OpenAI;

beforeEach(async () => {
  model = await startScriptedModel();
  client = new OpenAI({ baseURL: model.url, apiKey: 'test-key', maxRetries: 0 });
});

afterEach(async () => {
  await model.close();
});

const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_states',
      description: 'Reads entity states.',
      parameters: {
        type: 'object',
        properties: { domain: { type: 'string' }, entity_ids: { type: 'array', items: { type: 'string' } } },
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'call_service',
      description: 'Calls a Home Assistant service.',
      parameters: {
        type: 'object',
        properties: {
          domain: { type: 'string' },
          service: { type: 'string' },
          entity_ids: { type: 'array', items: { type: 'string' } },
          data: { type: 'object' },
        },
        required: ['domain', 'service', 'entity_ids'],
      },
    },
  },
];

interface Assembled {
  text: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  finishReason: string | null;
  chunks: ChatCompletionChunk[];
}

/** Joins the deltas of choice 0 by hand, the way a client that reads raw chunks has to. */
function assemble(chunks: ChatCompletionChunk[]): Assembled {
  const result: Assembled = { text: '', toolCalls: [], finishReason: null, chunks };
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      if (choice.index !== 0) {
        continue;
      }
      result.text += choice.delta.content ?? '';
      for (const call of choice.delta.tool_calls ?? []) {
        result.toolCalls[call.index] ??= { id: '', name: '', arguments: '' };
        const entry = result.toolCalls[call.index] as { id: string; name: string; arguments: string };
        entry.id = call.id ?? entry.id;
        entry.name += call.function?.name ?? '';
        entry.arguments += call.function?.arguments ?? '';
      }
      result.finishReason = choice.finish_reason ?? result.finishReason;
    }
  }
  return result;
}

async function streamChunks(params: Omit<ChatCompletionCreateParamsStreaming, 'model' | 'stream'>): Promise<ChatCompletionChunk[]> {
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, ...params });
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
  }
  return chunks;
}

function user(content: string): ChatCompletionMessageParam[] {
  return [
    { role: 'system', content: 'You control a home.' },
    { role: 'user', content },
  ];
}

describe('scripted model streaming', () => {
  it('streams the same text it returns unstreamed', async () => {
    const chunks = await streamChunks({ messages: user('Hello there, who are you') });
    const streamed = assemble(chunks);
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('Hello there, who are you') });

    expect(streamed.text).toBe(completion.choices[0]!.message.content);
    expect(streamed.text).toContain('scripted demo model');
    expect(streamed.text).toContain('"Hello there, who are you"');
    expect(streamed.finishReason).toBe('stop');
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.model).toBe(SCRIPTED_MODEL_NAME);
    expect(completion.usage?.total_tokens).toBe((completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0));
  });

  it('frames chunks like OpenAI', async () => {
    const chunks = await streamChunks({ messages: user('Hello there') });
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '', refusal: null });
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks[0]!.id).toMatch(/^chatcmpl-/);
    for (const chunk of chunks) {
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.model).toBe(SCRIPTED_MODEL_NAME);
      expect(chunk.system_fingerprint).toBe('fp_scripted');
      expect(chunk).not.toHaveProperty('usage');
    }
    const last = chunks.at(-1)!;
    expect(last.choices[0]!.delta).toEqual({});
    expect(last.choices[0]!.finish_reason).toBe('stop');
    const contentChunks = chunks.filter((chunk) => chunk.choices[0]?.delta.content);
    expect(contentChunks.length).toBeGreaterThan(3);
  });

  it('splits tool-call arguments over several chunks', async () => {
    const args = { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'], data: { brightness_pct: 40 } };
    model.enqueue({ kind: 'tool_calls', calls: [{ name: 'call_service', arguments: args }] });
    const chunks = await streamChunks({ messages: user('dim the kitchen'), tools: TOOLS });
    const assembled = assemble(chunks);

    expect(assembled.toolCalls).toHaveLength(1);
    expect(assembled.toolCalls[0]!.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(assembled.toolCalls[0]!.name).toBe('call_service');
    expect(JSON.parse(assembled.toolCalls[0]!.arguments)).toEqual(args);
    expect(assembled.finishReason).toBe('tool_calls');
    expect(assembled.text).toBe('');

    const header = chunks.find((chunk) => chunk.choices[0]?.delta.tool_calls?.[0]?.id)!;
    expect(header.choices[0]!.delta.tool_calls![0]).toEqual({
      index: 0,
      id: assembled.toolCalls[0]!.id,
      type: 'function',
      function: { name: 'call_service', arguments: '' },
    });
    const fragments = chunks.filter((chunk) => {
      const call = chunk.choices[0]?.delta.tool_calls?.[0];
      return call && call.id === undefined;
    });
    expect(fragments.length).toBeGreaterThanOrEqual(3);
    for (const fragment of fragments) {
      expect(Object.keys(fragment.choices[0]!.delta.tool_calls![0]!).sort()).toEqual(['function', 'index']);
    }
  });

  it('streams parallel tool calls with leading text', async () => {
    model.enqueue({
      kind: 'tool_calls',
      text: 'Let me check both.',
      calls: [
        { name: 'get_states', arguments: { domain: 'light' } },
        { name: 'get_states', arguments: '{"domain":"lock"}' },
      ],
    });
    const assembled = assemble(await streamChunks({ messages: user('check'), tools: TOOLS }));
    expect(assembled.text).toBe('Let me check both.');
    expect(assembled.toolCalls.map((call) => JSON.parse(call.arguments))).toEqual([{ domain: 'light' }, { domain: 'lock' }]);
    expect(assembled.toolCalls[0]!.id).not.toBe(assembled.toolCalls[1]!.id);

    model.enqueue({ kind: 'tool_calls', calls: [{ name: 'get_states', arguments: { domain: 'light' } }] });
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('check'), tools: TOOLS });
    const message = completion.choices[0]!.message;
    expect(message.content).toBeNull();
    expect(message.tool_calls?.[0]).toMatchObject({ type: 'function', function: { name: 'get_states', arguments: '{"domain":"light"}' } });
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('sends a usage chunk only with include_usage', async () => {
    const without = await streamChunks({ messages: user('Hello') });
    expect(without.every((chunk) => !('usage' in chunk))).toBe(true);

    const withUsage = await streamChunks({ messages: user('Hello'), stream_options: { include_usage: true } });
    const last = withUsage.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(last.usage?.completion_tokens).toBeGreaterThan(0);
    expect(last.usage?.total_tokens).toBe(last.usage!.prompt_tokens + last.usage!.completion_tokens);
    for (const chunk of withUsage.slice(0, -1)) {
      expect(chunk.usage).toBeNull();
    }

    const again = await streamChunks({ messages: user('Hello'), stream_options: { include_usage: true } });
    expect(again.at(-1)!.usage).toEqual(last.usage);
  });
});

describe('scripted model compatibility modes', () => {
  const toolReply = {
    kind: 'tool_calls' as const,
    text: 'Switching it on now.',
    calls: [
      { name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'] } },
      { name: 'get_states', arguments: { entity_ids: ['light.kitchen'] } },
    ],
  };

  async function runIn(mode: CompatibilityMode): Promise<{ text: Assembled; tools: Assembled; toolsOnly: Assembled }> {
    model.mode = mode;
    const streamOptions = mode === 'rejects-stream-options' ? {} : { stream_options: { include_usage: true } };
    const text = assemble(await streamChunks({ messages: user('Good morning, house'), ...streamOptions }));
    model.enqueue(toolReply);
    const tools = assemble(await streamChunks({ messages: user('kitchen light'), tools: TOOLS, ...streamOptions }));
    model.enqueue({ kind: 'tool_calls', calls: toolReply.calls });
    const toolsOnly = assemble(await streamChunks({ messages: user('kitchen light'), tools: TOOLS, ...streamOptions }));
    return { text, tools, toolsOnly };
  }

  function withoutIds(assembled: Assembled) {
    return { text: assembled.text, calls: assembled.toolCalls.map(({ name, arguments: args }) => ({ name, args: JSON.parse(args) })) };
  }

  it.each(COMPATIBILITY_MODES.filter((mode) => mode !== 'openai'))('yields the openai result in %s', async (mode) => {
    const reference = await runIn('openai');
    const result = await runIn(mode);

    expect(withoutIds(result.text)).toEqual(withoutIds(reference.text));
    expect(withoutIds(result.tools)).toEqual(withoutIds(reference.tools));
    expect(withoutIds(result.toolsOnly)).toEqual(withoutIds(reference.toolsOnly));
    for (const call of [...result.tools.toolCalls, ...result.toolsOnly.toolCalls]) {
      expect(call.id).toMatch(/^call_/);
    }
  });

  it('frames each mode in its own way', async () => {
    const reference = await runIn('openai');
    expect(reference.tools.chunks.at(-1)!.usage?.total_tokens).toBeGreaterThan(0);

    const whole = await runIn('whole-tool-calls');
    const toolChunks = whole.tools.chunks.filter((chunk) => chunk.choices[0]?.delta.tool_calls);
    expect(toolChunks).toHaveLength(2);
    expect(toolChunks[0]!.choices[0]!.delta.tool_calls![0]!.function?.arguments).toBe(reference.tools.toolCalls[0]!.arguments);

    const multi = await runIn('multi-choice');
    const secondChoice = multi.text.chunks.filter((chunk) => chunk.choices[0]?.index === 1);
    expect(secondChoice.length).toBeGreaterThan(2);
    const secondText = secondChoice.map((chunk) => chunk.choices[0]!.delta.content ?? '').join('');
    expect(secondText).not.toBe(multi.text.text);
    expect(secondText).toContain('choice 1');

    const mixed = await runIn('content-with-tool-calls');
    expect(mixed.tools.chunks.some((chunk) => chunk.choices[0]?.delta.content && chunk.choices[0]?.delta.tool_calls)).toBe(true);

    const noFinish = await runIn('no-finish-reason');
    expect(noFinish.tools.chunks.every((chunk) => chunk.choices.every((choice) => choice.finish_reason === null))).toBe(true);
    expect(noFinish.tools.chunks.some((chunk) => chunk.usage)).toBe(false);

    const noUsage = await runIn('no-usage');
    expect(noUsage.text.chunks.some((chunk) => 'usage' in chunk)).toBe(false);
  });

  it('rejects stream_options in rejects-stream-options', async () => {
    model.mode = 'rejects-stream-options';
    const attempt = streamChunks({ messages: user('Hello'), stream_options: { include_usage: true } });
    await expect(attempt).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(attempt).rejects.toMatchObject({
      status: 400,
      error: { message: 'Unrecognized request argument supplied: stream_options' },
    });
  });
});

describe('scripted model replay', () => {
  it('replays every recording byte for byte', async (ctx) => {
    const dir = requireFixtures(ctx, 'openai', 'openai-python');
    const files = readdirSync(dir).filter((name) => name.endsWith('.sse.txt'));
    expect(files.length).toBe(4);

    for (const name of files) {
      const file = path.join(dir, name);
      model.enqueue({ kind: 'recording', file });
      const response = await fetch(`${model.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      const body = Buffer.from(await response.arrayBuffer());
      expect(body.equals(readFileSync(file)), name).toBe(true);
    }
  });

  it('parses a recording with the SDK', async (ctx) => {
    const dir = requireFixtures(ctx, 'openai', 'openai-python');
    const file = readdirSync(dir).find((name) => name.startsWith('two_parallel_tool_calls'))!;
    model.enqueue({ kind: 'recording', file: path.join(dir, file) });
    const assembled = assemble(await streamChunks({ messages: user('weather and stock') }));
    expect(assembled.toolCalls.map((call) => call.name)).toEqual(['GetWeatherArgs', 'get_stock_price']);
    expect(JSON.parse(assembled.toolCalls[1]!.arguments)).toEqual({ ticker: 'AAPL', exchange: 'NASDAQ' });
    expect(assembled.chunks.at(-1)!.usage?.total_tokens).toBe(209);
  });

  it('replays cassette interactions', async (ctx) => {
    const file = path.join(requireFixtures(ctx, 'openai', 'pydantic-ai'), 'test_run_stream_sync_streams_real_model.yaml');
    const cassette = parseYaml(readFileSync(file, 'utf8')) as { interactions: { response: { body: { string: string } } }[] };

    for (const interaction of [0, 1]) {
      model.enqueue({ kind: 'cassette', file, interaction });
      const response = await fetch(`${model.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'capital?' }], stream: true }),
      });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(cassette.interactions[interaction]!.response.body.string);
    }

    model.enqueue({ kind: 'cassette', file, interaction: 1 });
    const answer = assemble(await streamChunks({ messages: user('capital?') }));
    expect(answer.text).toBe('The capital of the UK is London.');
  });
});

describe('scripted model failures', () => {
  it('returns 429 with Retry-After', async () => {
    model.enqueue({ kind: 'http_error', status: 429, headers: { 'retry-after': '7' } });
    const attempt = client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('Hello') });
    await expect(attempt).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    const error = (await attempt.catch((caught: unknown) => caught)) as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error.status).toBe(429);
    expect(error.headers.get('retry-after')).toBe('7');
    expect(error.code).toBe('rate_limit_exceeded');
    expect(error.requestID).toMatch(/^req_/);
  });

  it('lets the SDK retry after a 500', async () => {
    const retrying = new OpenAI({ baseURL: model.url, apiKey: 'test-key', maxRetries: 1 });
    model.enqueue({ kind: 'http_error', status: 500, headers: { 'retry-after-ms': '5' } }, { kind: 'text', text: 'Recovered after a retry.' });
    const completion = await retrying.chat.completions.create({ model: 'gpt-4o-mini', messages: user('Hello') });
    expect(completion.choices[0]!.message.content).toBe('Recovered after a retry.');
    expect(model.requests).toHaveLength(2);
    expect(model.requests[0]!.finished).toBe(true);
  });

  it('passes a custom error body through', async () => {
    model.enqueue({
      kind: 'http_error',
      status: 400,
      body: { error: { message: 'context too long', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } },
    });
    await expect(client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('Hello') })).rejects.toMatchObject({
      status: 400,
      code: 'context_length_exceeded',
      param: 'messages',
    });
  });

  it('cuts the stream mid-way', async () => {
    model.enqueue({ kind: 'cut', afterChunks: 3 });
    const received: ChatCompletionChunk[] = [];
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('Hello there') });
    await expect(
      (async () => {
        for await (const chunk of stream) {
          received.push(chunk);
        }
      })(),
    ).rejects.toThrow();
    expect(received).toHaveLength(3);
    const record = model.requests.at(-1)!;
    expect(record.aborted).toBe(false);
    expect(record.finished).toBe(false);
  });

  it('sends malformed JSON after some chunks', async () => {
    // The SDK logs the unparsable line before it throws; keep the test output clean.
    const quiet = new OpenAI({ baseURL: model.url, apiKey: 'test-key', maxRetries: 0, logLevel: 'off' });
    model.enqueue({ kind: 'malformed', afterChunks: 2 });
    const received: ChatCompletionChunk[] = [];
    const stream = await quiet.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('Hello there') });
    await expect(
      (async () => {
        for await (const chunk of stream) {
          received.push(chunk);
        }
      })(),
    ).rejects.toBeInstanceOf(SyntaxError);
    expect(received).toHaveLength(2);
  });

  it('marks a stalled request aborted when the client gives up', async () => {
    model.enqueue({ kind: 'stall', afterChunks: 1 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('Hello there') }, { signal: controller.signal });
    const received: ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      received.push(chunk);
      controller.abort();
    }
    expect(received).toHaveLength(1);
    const record = await model.waitForRequest();
    await expect.poll(() => record.aborted).toBe(true);
    expect(record.finished).toBe(false);
  });

  it('marks a slow stream aborted when the client stops reading', async () => {
    model.chunkDelayMs = 30;
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('Hello there') });
    let count = 0;
    for await (const _chunk of stream) {
      count++;
      if (count === 2) {
        break;
      }
    }
    const record = model.requests.at(-1)!;
    await expect.poll(() => record.aborted).toBe(true);
    expect(record.finished).toBe(false);
  });

  it('delays the headers of a slow response', async () => {
    model.enqueue({ kind: 'slow', delayMs: 300 });
    const started = Date.now();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('Hello there') });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(assemble(chunks).text.length).toBeGreaterThan(0);
  });

  it('marks a slow response aborted when the client times out', async () => {
    model.enqueue({ kind: 'slow', delayMs: 2_000 });
    const attempt = client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('Hello there') }, { timeout: 100 });
    await expect(attempt).rejects.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    const record = await model.waitForRequest();
    await expect.poll(() => record.aborted).toBe(true);
    expect(record.finished).toBe(false);
  });

  it('records finished for a complete stream', async () => {
    await streamChunks({ messages: user('Hello') });
    const record = model.requests.at(-1)!;
    await expect.poll(() => record.finished).toBe(true);
    expect(record.aborted).toBe(false);
    expect(record.body.stream).toBe(true);
    expect(record.headers.authorization).toBe('Bearer test-key');
  });
});

describe('scripted model requests', () => {
  it('enforces the API key', async () => {
    await model.close();
    model = await startScriptedModel({ apiKey: 'sk-scripted' });

    const wrong = new OpenAI({ baseURL: model.url, apiKey: 'sk-wrong', maxRetries: 0 });
    await expect(wrong.chat.completions.create({ model: 'gpt-4o-mini', messages: user('Hello') })).rejects.toMatchObject({
      status: 401,
      code: 'invalid_api_key',
    });
    await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const missing = await fetch(`${model.url}/chat/completions`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(401);
    const body = (await missing.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toContain('Authorization');

    const right = new OpenAI({ baseURL: model.url, apiKey: 'sk-scripted', maxRetries: 0 });
    const completion = await right.chat.completions.create({ model: 'gpt-4o-mini', messages: user('Hello') });
    expect(completion.choices[0]!.message.content).toContain('scripted demo model');
    expect(model.requests).toHaveLength(3);
  });

  it('lists the scripted model', async () => {
    const models = [];
    for await (const entry of client.models.list()) {
      models.push(entry.id);
    }
    expect(models).toEqual([SCRIPTED_MODEL_NAME]);
    const entry = await client.models.retrieve(SCRIPTED_MODEL_NAME);
    expect(entry.owned_by).toBe('ha-ai-agent-simulators');
    await expect(client.models.retrieve('gpt-4o')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  const invalidRequests: [string, Record<string, unknown>, string][] = [
    ['missing messages', { model: 'm' }, 'messages'],
    ['messages not an array', { model: 'm', messages: 'hi' }, 'messages'],
    ['empty messages', { model: 'm', messages: [] }, 'messages'],
    ['missing model', { messages: [{ role: 'user', content: 'hi' }] }, 'model'],
    ['unknown role', { model: 'm', messages: [{ role: 'robot', content: 'hi' }] }, 'messages[0].role'],
    [
      'stray tool message',
      {
        model: 'm',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'tool', tool_call_id: 'call_1', content: '{}' },
        ],
      },
      'messages[1].role',
    ],
    [
      'unanswered tool call',
      {
        model: 'm',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_states', arguments: '{}' } }] },
          { role: 'user', content: 'and?' },
        ],
      },
      'messages[1].role',
    ],
    ['stream_options without stream', { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } }, 'stream_options'],
    [
      'bad tool name',
      { model: 'm', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'get states' } }] },
      'tools[0].function.name',
    ],
  ];

  it.each(invalidRequests)('rejects %s with 400', async (_name, body, param) => {
    const response = await fetch(`${model.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(400);
    const error = (await response.json()) as { error: { type: string; param: string | null; message: string } };
    expect(error.error.type).toBe('invalid_request_error');
    expect(error.error.param).toBe(param);
    expect(error.error.message.length).toBeGreaterThan(10);
  });

  it('rejects a body that is not JSON', async () => {
    const response = await fetch(`${model.url}/chat/completions`, { method: 'POST', body: '{"model":' });
    expect(response.status).toBe(400);
    expect(model.requests.at(-1)!.body).toBe('{"model":');
  });

  it('waits for a matching request', async () => {
    const waiting = model.waitForRequest((request) => request.body?.messages?.[1]?.content === 'second');
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('first') });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('second') });
    const matched = await waiting;
    expect(matched).toBe(model.requests[1]);
    await expect(model.waitForRequest(() => false, 50)).rejects.toThrow(/within 50 ms/);
  });
});
