import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planFromRules, type RecordedRequest, type ScriptedResponse } from '../../src/simulators/scripted-model/index.js';
import { collectSse, postGraphQL } from '../support/clients.js';
import { CHAT_STREAM, eventsOf, joinDeltas, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

const REPLY = `query($id: ID!) { message(id: $id) { status content error { code message retryable } toolCalls { name status error { code message } } } }`;

/** Returns the text the scripted model's rules send for a plain chat message. */
function ruleText(message: string): string {
  return planFromRules({ messages: [{ role: 'user', content: message }] }, () => 'call_unused').text;
}

interface TurnOutcome {
  events: StreamedEvent[];
  reply: {
    status: string;
    content: string;
    error: { code: string; message: string; retryable: boolean } | null;
    toolCalls: { name: string; status: string; error: { code: string; message: string } | null }[];
  };
  /** The requests the model received during the turn, retries included. */
  requests: RecordedRequest[];
}

async function runTurn(stack: TestStack, key: string, message: string, ...script: ScriptedResponse[]): Promise<TurnOutcome> {
  const before = stack.model.requests.length;
  stack.model.enqueue(...script);
  const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message } });
  await stream.done;
  const events = eventsOf(stream.results, 'chatStream');
  const stored = await postGraphQL(stack.graphqlUrl, REPLY, { id: events[0]?.messageId }, key);
  return { events, reply: stored.body.data?.message, requests: stack.model.requests.slice(before) };
}

function gapsBetween(requests: RecordedRequest[]): number[] {
  return requests.slice(1).map((request, index) => request.receivedAt - (requests[index] as RecordedRequest).receivedAt);
}

const UNAVAILABLE = { code: 'LLM_UNAVAILABLE', message: 'The language model is unavailable. Try again later.', retryable: true };

describe('model errors and retries', () => {
  let stack: TestStack;
  let key: string;
  let scratch: string;

  beforeAll(async () => {
    stack = await startTestStack({ env: { OPENAI_MAX_RETRIES: '2' } });
    key = await stack.apiKey('alice');
    scratch = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-faults-'));
  });

  afterAll(async () => {
    await stack.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('waits for Retry-After on 429, then completes', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'http_error', status: 429, headers: { 'retry-after': '1' } });

    expect(outcome.requests).toHaveLength(2);
    expect(gapsBetween(outcome.requests)[0]).toBeGreaterThanOrEqual(950);
    expect(outcome.reply.status).toBe('COMPLETED');
    expect(outcome.reply.content).toBe(ruleText('Say hello'));
  });

  it('fails at once when Retry-After exceeds the cap', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'http_error', status: 429, headers: { 'retry-after': '120' } });

    expect(outcome.requests).toHaveLength(1);
    expect(outcome.reply.status).toBe('FAILED');
    expect(outcome.reply.error).toEqual(UNAVAILABLE);
  });

  it('backs off on 429 without Retry-After and gives up after the retries', async () => {
    const tooMany = { kind: 'http_error', status: 429 } as const;
    const outcome = await runTurn(stack, key, 'Say hello', tooMany, tooMany, tooMany);

    // OPENAI_MAX_RETRIES=2: the first attempt and two retries.
    expect(outcome.requests).toHaveLength(3);
    const [first, second] = gapsBetween(outcome.requests);
    // Full jitter over half the ceiling: at least 250 ms, then at least 500 ms.
    expect(first).toBeGreaterThanOrEqual(240);
    expect(second).toBeGreaterThanOrEqual(490);
    expect(outcome.reply.status).toBe('FAILED');
    expect(outcome.reply.error).toEqual(UNAVAILABLE);
    const last = outcome.events.at(-1) as StreamedEvent & { code: string; errorMessage: string; retryable: boolean };
    expect(last).toMatchObject({ __typename: 'ReplyFailed', code: 'LLM_UNAVAILABLE', errorMessage: UNAVAILABLE.message, retryable: true });
  });

  it('retries a 500 and completes', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'http_error', status: 500 });

    expect(outcome.requests).toHaveLength(2);
    expect(outcome.reply.status).toBe('COMPLETED');
    expect(outcome.reply.content).toBe(ruleText('Say hello'));
  });

  it('retries 408 and 409', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'http_error', status: 408 }, { kind: 'http_error', status: 409 });

    expect(outcome.requests).toHaveLength(3);
    expect(outcome.reply.status).toBe('COMPLETED');
  });

  it('gives up after repeated 503s', async () => {
    const unavailable = { kind: 'http_error', status: 503 } as const;
    const outcome = await runTurn(stack, key, 'Say hello', unavailable, unavailable, unavailable);

    expect(outcome.requests).toHaveLength(3);
    expect(outcome.reply.error).toEqual(UNAVAILABLE);
  });

  it('does not retry a 400', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'http_error', status: 400 });

    expect(outcome.requests).toHaveLength(1);
    expect(outcome.reply.status).toBe('FAILED');
    expect(outcome.reply.error).toEqual({ code: 'LLM_UNAVAILABLE', message: 'The language model rejected the request (HTTP 400).', retryable: false });
  });

  it('retries a connection cut before any text from scratch', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'cut', afterChunks: 1 });

    expect(outcome.requests).toHaveLength(2);
    expect(outcome.reply.status).toBe('COMPLETED');
    expect(outcome.reply.content).toBe(ruleText('Say hello'));
    expect(joinDeltas(outcome.events)).toBe(ruleText('Say hello'));
  });

  it('keeps the text of a connection cut mid-stream and fails', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'cut', afterChunks: 4 });

    expect(outcome.requests).toHaveLength(1);
    expect(outcome.reply.status).toBe('FAILED');
    expect(outcome.reply.error).toEqual(UNAVAILABLE);
    expect(outcome.reply.content.length).toBeGreaterThan(0);
    expect(outcome.reply.content).toBe(joinDeltas(outcome.events));
    expect(ruleText('Say hello').startsWith(outcome.reply.content)).toBe(true);
  });

  it('fails cleanly on a malformed chunk and keeps the text', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'malformed', afterChunks: 3 });

    expect(outcome.requests).toHaveLength(1);
    expect(outcome.reply.status).toBe('FAILED');
    expect(outcome.reply.error).toEqual({ code: 'LLM_UNAVAILABLE', message: 'The language model sent an invalid response.', retryable: true });
    expect(outcome.reply.content.length).toBeGreaterThan(0);
    expect(outcome.reply.content).toBe(joinDeltas(outcome.events));
  });

  it('fails cleanly on a chunk of the wrong shape', async () => {
    const file = path.join(scratch, 'wrong-shape.sse.txt');
    const chunk = {
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, delta: { content: 'Partial' } }],
    };
    writeFileSync(file, `data: ${JSON.stringify(chunk)}\n\ndata: {"choices": 5}\n\ndata: [DONE]\n\n`);

    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'recording', file });

    expect(outcome.requests).toHaveLength(1);
    expect(outcome.reply.status).toBe('FAILED');
    expect(outcome.reply.error?.message).toBe('The language model sent an invalid response.');
    expect(outcome.reply.content).toBe('Partial');
  });

  it('retries an error object sent in the stream before any text', async () => {
    const file = path.join(scratch, 'stream-error.sse.txt');
    writeFileSync(file, `data: ${JSON.stringify({ error: { message: 'The server had an error.', type: 'server_error', code: null } })}\n\n`);

    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'recording', file });

    expect(outcome.requests).toHaveLength(2);
    expect(outcome.reply.status).toBe('COMPLETED');
    expect(outcome.reply.content).toBe(ruleText('Say hello'));
  });

  it('keeps the reply text out of the logs on a malformed chunk', async () => {
    const logsBefore = stack.logs.length;
    await runTurn(stack, key, 'Say hello', { kind: 'malformed', afterChunks: 3 });

    const lines = stack.logs.slice(logsBefore).map((line) => JSON.stringify(line));
    expect(lines.some((line) => line.includes('"event":"llm.sdk"'))).toBe(true);
    expect(lines.filter((line) => line.includes('not json') || line.includes('Hello!'))).toEqual([]);
  });

  it('goes on without a tool when Home Assistant goes down mid-turn', async () => {
    const message = 'Turn on the kitchen light';
    const firstRequest = stack.model.waitForRequest((request) => request.body.messages?.at(-1)?.content === message, 5_000);
    stack.model.chunkDelayMs = 50;
    try {
      const running = runTurn(stack, key, message);
      await firstRequest;
      stack.homeAssistant.faults.unavailable = true;
      const outcome = await running;

      expect(outcome.reply.status).toBe('COMPLETED');
      expect(outcome.reply.toolCalls).toHaveLength(1);
      expect(outcome.reply.toolCalls[0]).toMatchObject({ name: 'search_entities', status: 'FAILED', error: { code: 'HOME_ASSISTANT_UNAVAILABLE' } });
      expect(outcome.reply.toolCalls[0]?.error?.message).toMatch(/^Home Assistant has been unavailable for \d+ s\. /);
      expect(outcome.reply.content).toContain('Sorry, I could not search your home');
    } finally {
      stack.model.chunkDelayMs = 0;
      stack.homeAssistant.faults.unavailable = false;
    }
  });
});

describe('model timeouts', () => {
  let stack: TestStack;
  let key: string;

  beforeAll(async () => {
    stack = await startTestStack({ env: { OPENAI_MAX_RETRIES: '1', OPENAI_TIMEOUT_SECONDS: '2', OPENAI_IDLE_TIMEOUT_SECONDS: '2' } });
    key = await stack.apiKey('alice');
  });

  afterAll(async () => {
    await stack.close();
  });

  it('retries a stream that stalls before any text', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'stall', afterChunks: 1 });

    expect(outcome.requests).toHaveLength(2);
    expect(outcome.requests[0]?.aborted).toBe(true);
    expect(gapsBetween(outcome.requests)[0]).toBeGreaterThanOrEqual(2_000);
    expect(outcome.reply.status).toBe('COMPLETED');
    expect(outcome.reply.content).toBe(ruleText('Say hello'));
  });

  it('keeps the text of a stream that stalls mid-way and fails', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'stall', afterChunks: 4 });

    expect(outcome.requests).toHaveLength(1);
    await expect.poll(() => outcome.requests[0]?.aborted).toBe(true);
    expect(outcome.reply.status).toBe('FAILED');
    expect(outcome.reply.error).toEqual({ code: 'LLM_UNAVAILABLE', message: 'The language model stopped sending its reply.', retryable: true });
    expect(outcome.reply.content.length).toBeGreaterThan(0);
    expect(outcome.reply.content).toBe(joinDeltas(outcome.events));
  });

  it('retries a response whose headers are too slow', async () => {
    const outcome = await runTurn(stack, key, 'Say hello', { kind: 'slow', delayMs: 5_000 });

    expect(outcome.requests).toHaveLength(2);
    expect(outcome.requests[0]?.aborted).toBe(true);
    expect(outcome.reply.status).toBe('COMPLETED');
  });

  it('fails when every attempt is too slow', async () => {
    const slow = { kind: 'slow', delayMs: 5_000 } as const;
    const outcome = await runTurn(stack, key, 'Say hello', slow, slow);

    expect(outcome.requests).toHaveLength(2);
    expect(outcome.reply.status).toBe('FAILED');
    expect(outcome.reply.error).toEqual(UNAVAILABLE);
  });
});

describe('turn deadline', () => {
  it('ends a turn that runs past the deadline and keeps its text', async () => {
    const stack = await startTestStack({ env: { AGENT_TURN_DEADLINE_SECONDS: '2' }, model: { chunkDelayMs: 100 } });
    try {
      const key = await stack.apiKey('alice');
      const message = 'Please write a long answer that runs past the deadline';

      const outcome = await runTurn(stack, key, message);

      expect(outcome.requests).toHaveLength(1);
      await expect.poll(() => outcome.requests[0]?.aborted).toBe(true);
      expect(outcome.reply.status).toBe('FAILED');
      expect(outcome.reply.error).toEqual({
        code: 'LLM_UNAVAILABLE',
        message: 'The reply did not finish within 2 s (AGENT_TURN_DEADLINE_SECONDS).',
        retryable: true,
      });
      expect(outcome.reply.content.length).toBeGreaterThan(0);
      expect(outcome.reply.content.length).toBeLessThan(ruleText(message).length);
      expect(outcome.reply.content).toBe(joinDeltas(outcome.events));
    } finally {
      await stack.close();
    }
  });
});
