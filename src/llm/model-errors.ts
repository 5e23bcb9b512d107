import { APIConnectionError, APIError, APIUserAbortError } from 'openai';

/** Statuses worth retrying: timeouts, conflicts, rate limits and server errors. Other 4xx will fail again. */
const RETRYABLE_STATUSES = new Set([408, 409, 429]);

export type ModelFailureKind = 'aborted' | 'connection' | 'status' | 'invalid-response' | 'idle-timeout' | 'unknown';

/** A failed model request, classified once so the turn runner can decide without matching message text. */
export class ModelError extends Error {
  constructor(
    readonly kind: ModelFailureKind,
    readonly retryable: boolean,
    readonly status: number | undefined,
    /** Delay the endpoint asked for (Retry-After), in milliseconds. */
    readonly retryAfterMs: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(`Model request failed: ${kind}${status ? ` (HTTP ${status})` : ''}`, options);
    this.name = 'ModelError';
  }
}

/** Reads `retry-after-ms` or `retry-after` (seconds or an HTTP date) from an error response. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const milliseconds = Number(headers.get('retry-after-ms'));
  if (headers.get('retry-after-ms') !== null && Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds;

  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (value.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function classifyModelError(error: unknown): ModelError {
  if (error instanceof ModelError) return error;
  if (error instanceof APIUserAbortError || (error instanceof Error && error.name === 'AbortError')) {
    return new ModelError('aborted', false, undefined, undefined, { cause: error });
  }
  if (error instanceof APIConnectionError) {
    return new ModelError('connection', true, undefined, undefined, { cause: error });
  }
  if (error instanceof APIError && error.status !== undefined) {
    const retryable = RETRYABLE_STATUSES.has(error.status) || error.status >= 500;
    return new ModelError('status', retryable, error.status, retryAfterMs(error.headers), { cause: error });
  }
  // An error object sent inside a stream that had already started has no HTTP status. It is the
  // endpoint reporting a failure of its own, so it is retried like a 5xx.
  if (error instanceof APIError) {
    return new ModelError('status', true, undefined, undefined, { cause: error });
  }
  if (error instanceof SyntaxError) {
    return new ModelError('invalid-response', false, undefined, undefined, { cause: error });
  }
  // A socket closed mid-stream surfaces from fetch as a TypeError ("terminated") or a network error code.
  if (error instanceof TypeError || (error instanceof Error && 'code' in error && typeof error.code === 'string')) {
    return new ModelError('connection', true, undefined, undefined, { cause: error });
  }
  return new ModelError('unknown', false, undefined, undefined, { cause: error });
}

/** Fields a log line may contain about a failed model request: never the upstream body or message text. */
export interface ModelFailureCause {
  kind: ModelFailureKind;
  /** The endpoint's HTTP status, when it sent a response. */
  status?: number;
  /** The connection error code, such as ECONNREFUSED or UND_ERR_SOCKET, when the connection failed. */
  errorCode?: string;
}

/** Finds the first string `code` in an error's cause chain, such as the ECONNREFUSED beneath fetch's TypeError. */
function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
    current = current.cause;
  }
  return undefined;
}

export function modelFailureCause(error: ModelError): ModelFailureCause {
  const cause: ModelFailureCause = { kind: error.kind };
  if (error.status !== undefined) cause.status = error.status;
  const errorCode = networkErrorCode(error.cause);
  if (errorCode) cause.errorCode = errorCode;
  return cause;
}

/**
 * Whether a 400 response says the endpoint does not accept `stream_options`. Some OpenAI-compatible
 * servers reject unknown request fields and give no structured code for it, so the message is the only
 * signal; it is checked here and nowhere else.
 */
export function rejectsStreamOptions(error: unknown): boolean {
  return error instanceof APIError && error.status === 400 && /stream_options/i.test(error.message);
}
