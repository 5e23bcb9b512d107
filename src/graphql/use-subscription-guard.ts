import { isAsyncIterable } from '@envelop/core';
import type { Plugin } from 'graphql-yoga';
import type { ExecutionResult, GraphQLError } from 'graphql';
import type { CredentialEnd, CredentialLifetime } from '../auth/credential-lifetime.js';
import { AppError } from '../security/errors.js';
import type { GraphQLContext } from './context.js';
import type { MaskError } from './errors.js';

export interface SubscriptionGuardOptions {
  lifetime: CredentialLifetime;
  maskError: MaskError;
}

/** Builds the error that ends a stream whose credential stopped being valid. */
export function credentialEndedError(reason: CredentialEnd): AppError {
  return AppError.unauthenticated(
    reason === 'expired'
      ? 'Your token has expired. Authenticate again and resubscribe.'
      : 'Your API key has been revoked. Use another credential and resubscribe.',
  );
}

type Step = IteratorResult<ExecutionResult, undefined>;

/**
 * Wraps a subscription's result stream so that it always ends with a result, never a transport error.
 * When the caller's credential expires or is revoked, the stream yields one UNAUTHENTICATED error and
 * completes. When the stream itself fails, it yields the masked error and completes. A consumer that
 * stops early closes the source without waiting for it, because a source waiting for its next event
 * would otherwise hold the consumer until that event arrives.
 */
function guardStream(
  source: AsyncIterable<ExecutionResult>,
  watch: (onEnd: (reason: CredentialEnd) => void) => () => void,
  maskError: (error: unknown) => GraphQLError,
): AsyncIterableIterator<ExecutionResult> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  let ended: CredentialEnd | undefined;
  let wake: (() => void) | undefined;
  const stopWatching = watch((reason) => {
    ended = reason;
    wake?.();
  });

  const finish = () => {
    if (finished) return;
    finished = true;
    stopWatching();
    // Not awaited, so the client sees the end at once. The chat service's streams end their wait for
    // the next event when closed, so their cleanup runs now too.
    Promise.resolve()
      .then(() => iterator.return?.())
      .catch(() => undefined);
  };
  const endWith = (error: GraphQLError): Step => {
    finish();
    return { done: false, value: { errors: [error] } };
  };

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<Step> {
      if (finished) return { done: true, value: undefined };
      if (ended) return endWith(maskError(credentialEndedError(ended)));

      const pending = iterator.next();
      pending.catch(() => undefined);
      const credentialEnded = new Promise<'ended'>((resolve) => {
        wake = () => resolve('ended');
      });
      try {
        const step = await Promise.race([pending, credentialEnded]);
        if (step === 'ended') return endWith(maskError(credentialEndedError(ended ?? 'expired')));
        if (step.done) {
          finished = true;
          stopWatching();
        }
        return step as Step;
      } catch (error) {
        return endWith(maskError(error));
      } finally {
        wake = undefined;
      }
    },
    async return(): Promise<Step> {
      finish();
      return { done: true, value: undefined };
    },
    async throw(): Promise<Step> {
      finish();
      return { done: true, value: undefined };
    },
  };
}

/**
 * Wraps the stream of an HTTP response so that it closes when the request's signal aborts.
 *
 * Yoga closes a stream only by cancelling the response body it reads from. A client that disconnects
 * before the server has sent the response headers leaves a body that is never read or cancelled, because
 * @whatwg-node/server (0.11) skips sending a response whose socket has already closed. Its stream
 * would hold a subscription slot and a gauge count until restart. @whatwg-node/server aborts
 * `request.signal` when the Node response closes before it finished, so listening to that signal
 * closes the stream in every case. Closing the outermost stream runs every plugin's end hook.
 */
function closeOnAbort<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let closed = false;

  const close = () => {
    if (closed) return;
    closed = true;
    signal.removeEventListener('abort', close);
    Promise.resolve()
      .then(() => iterator.return?.())
      .catch(() => undefined);
  };
  if (signal.aborted) close();
  else signal.addEventListener('abort', close, { once: true });

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<T, undefined>> {
      if (closed) return { done: true, value: undefined };
      const step = await iterator.next();
      if (step.done) {
        closed = true;
        signal.removeEventListener('abort', close);
      }
      return step;
    },
    async return(): Promise<IteratorResult<T, undefined>> {
      close();
      return { done: true, value: undefined };
    },
    async throw(): Promise<IteratorResult<T, undefined>> {
      close();
      return { done: true, value: undefined };
    },
  };
}

/**
 * Guards every subscription stream, on SSE and graphql-ws alike (see guardStream), and closes an SSE
 * stream whose client has disconnected (see closeOnAbort). It runs before Yoga's error masking, which
 * then handles the errors it yields like any other result errors.
 */
export function useSubscriptionGuard(options: SubscriptionGuardOptions): Plugin<GraphQLContext> {
  return {
    onResultProcess({ request, result, setResult }) {
      if (isAsyncIterable(result)) setResult(closeOnAbort(result, request.signal));
    },
    onSubscribe({ args }) {
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable(result)) return;
          const context = args.contextValue;
          setResult(
            guardStream(
              result,
              (onEnd) => options.lifetime.watch(context.caller, onEnd),
              (error) => options.maskError(error, context.requestId),
            ),
          );
        },
      };
    },
  };
}
