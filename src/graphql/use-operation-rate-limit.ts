import type { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isAppError } from '../security/errors.js';
import type { RateLimits } from '../security/rate-limit/rate-limits.js';
import type { GraphQLContext } from './context.js';
import { appErrorToGraphQL } from './errors.js';

/**
 * Counts every operation against the caller's RATE_LIMIT_OPERATIONS_PER_MINUTE, on every transport:
 * queries and mutations when they execute, subscriptions when they start. An operation over the limit
 * ends with RATE_LIMITED (HTTP 429 with Retry-After) before any resolver runs.
 */
export function useOperationRateLimit(limits: RateLimits): Plugin<GraphQLContext> {
  const check = async (context: GraphQLContext): Promise<GraphQLError | undefined> => {
    try {
      await limits.countOperation(context.caller.userId);
      return undefined;
    } catch (error) {
      if (!isAppError(error)) throw error;
      return appErrorToGraphQL(error);
    }
  };

  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const rejected = await check(args.contextValue);
      if (rejected) setResultAndStopExecution({ errors: [rejected] });
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const rejected = await check(args.contextValue);
      if (rejected) setResultAndStopExecution({ errors: [rejected] });
    },
  };
}
