import { handleStreamOrSingleExecutionResult, type OnExecuteDoneHookResultOnNextHook } from '@envelop/core';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from './context.js';
import type { MaskError } from './errors.js';

/**
 * Masks the errors of each operation with the operation's request id, so an unexpected error is logged
 * under the id the client receives and the other log lines of that request carry. It runs before
 * Yoga's own masking, which then passes the already masked errors on unchanged.
 */
export function useRequestErrorMasking(maskError: MaskError): Plugin<GraphQLContext> {
  const maskResult =
    (requestId: string): OnExecuteDoneHookResultOnNextHook<GraphQLContext> =>
    ({ result, setResult }) => {
      if (result.errors && result.errors.length > 0) setResult({ ...result, errors: result.errors.map((error) => maskError(error, requestId)) });
    };

  return {
    onExecute({ args }) {
      const handle = maskResult(args.contextValue.requestId);
      return { onExecuteDone: (payload) => handleStreamOrSingleExecutionResult(payload, handle) };
    },
    onSubscribe({ args }) {
      const { requestId } = args.contextValue;
      const handle = maskResult(requestId);
      return {
        onSubscribeResult: (payload) => handleStreamOrSingleExecutionResult(payload, handle),
        onSubscribeError: ({ error, setError }) => setError(maskError(error, requestId)),
      };
    },
  };
}
