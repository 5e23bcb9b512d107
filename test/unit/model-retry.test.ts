import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, retryDelayMs } from '../../src/llm/backoff.js';
import { classifyModelError, retryAfterMs } from '../../src/llm/model-errors.js';

describe('retryDelayMs', () => {
  it('doubles the ceiling per retry with full jitter over its upper half', () => {
    const bounds = [1, 2, 3, 4, 5, 6].map((attempt) => [
      retryDelayMs(attempt, undefined, DEFAULT_BACKOFF, () => 0),
      retryDelayMs(attempt, undefined, DEFAULT_BACKOFF, () => 1),
    ]);
    expect(bounds).toEqual([
      [250, 500],
      [500, 1_000],
      [1_000, 2_000],
      [2_000, 4_000],
      [4_000, 8_000],
      [4_000, 8_000],
    ]);
  });

  it('honours Retry-After up to the cap', () => {
    expect(retryDelayMs(1, 7_000, DEFAULT_BACKOFF)).toBe(7_000);
    expect(retryDelayMs(1, 30_000, DEFAULT_BACKOFF)).toBe(30_000);
    expect(retryDelayMs(1, 30_001, DEFAULT_BACKOFF)).toBeUndefined();
    expect(retryDelayMs(1, 1, { ...DEFAULT_BACKOFF, maxRetryAfterMs: 0 })).toBeUndefined();
  });
});

describe('retryAfterMs', () => {
  const headers = (values: Record<string, string>) => new Headers(values);

  it('reads seconds, milliseconds and HTTP dates', () => {
    expect(retryAfterMs(headers({ 'retry-after': '3' }))).toBe(3_000);
    expect(retryAfterMs(headers({ 'retry-after-ms': '250', 'retry-after': '3' }))).toBe(250);
    expect(retryAfterMs(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:10 GMT' }), Date.parse('2026-01-01T00:00:00Z'))).toBe(10_000);
  });

  it('ignores missing and malformed values', () => {
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs(headers({}))).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }))).toBeUndefined();
  });
});

describe('classifyModelError', () => {
  const status = (code: number) => APIError.generate(code, { message: 'upstream text' }, undefined, new Headers());

  it('retries 408, 409, 429 and 5xx only', () => {
    const retryable = [400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504].map((code) => [code, classifyModelError(status(code)).retryable]);
    expect(retryable).toEqual([
      [400, false],
      [401, false],
      [403, false],
      [404, false],
      [408, true],
      [409, true],
      [422, false],
      [429, true],
      [500, true],
      [502, true],
      [503, true],
      [504, true],
    ]);
  });

  it('retries connection errors and timeouts', () => {
    expect(classifyModelError(new APIConnectionError({ message: 'refused' }))).toMatchObject({ kind: 'connection', retryable: true });
    expect(classifyModelError(new APIConnectionTimeoutError())).toMatchObject({ kind: 'connection', retryable: true });
    expect(classifyModelError(new TypeError('terminated'))).toMatchObject({ kind: 'connection', retryable: true });
  });

  it('retries an error object sent inside a stream', () => {
    expect(classifyModelError(new APIError(undefined, { message: 'boom' }, undefined, new Headers()))).toMatchObject({
      kind: 'status',
      retryable: true,
      status: undefined,
    });
  });

  it('does not retry aborts, invalid JSON or unknown errors', () => {
    expect(classifyModelError(new APIUserAbortError())).toMatchObject({ kind: 'aborted', retryable: false });
    expect(classifyModelError(new SyntaxError('Unexpected token'))).toMatchObject({ kind: 'invalid-response', retryable: false });
    expect(classifyModelError(new Error('something else'))).toMatchObject({ kind: 'unknown', retryable: false });
  });

  it('keeps the Retry-After of a 429', () => {
    const error = APIError.generate(429, { message: 'slow down' }, undefined, new Headers({ 'retry-after': '2' }));
    expect(classifyModelError(error)).toMatchObject({ kind: 'status', status: 429, retryAfterMs: 2_000 });
  });
});
