export interface BackoffSettings {
  /** First delay, in milliseconds. */
  baseMs: number;
  /** Longest computed delay, in milliseconds. */
  maxMs: number;
  /** Longest Retry-After the service will wait; a longer request fails at once. */
  maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { baseMs: 500, maxMs: 8_000, maxRetryAfterMs: 30_000 };

/**
 * Delay before retry number `attempt` (1 for the first retry): exponential with full jitter, or the
 * endpoint's Retry-After when it sent one. Returns undefined when the endpoint asks for a longer wait
 * than the cap, since holding a chat turn open that long helps nobody.
 */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, settings: BackoffSettings, random = Math.random): number | undefined {
  if (retryAfterMs !== undefined) return retryAfterMs <= settings.maxRetryAfterMs ? retryAfterMs : undefined;
  const ceiling = Math.min(settings.maxMs, settings.baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function sleep(milliseconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, milliseconds);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
