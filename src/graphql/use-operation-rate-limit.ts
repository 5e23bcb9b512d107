import type { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isAppError } from '../security/errors.js';
import type { RateLimits } from '../security/rate-limit/rate-limits.js';
import type { GraphQLContext } from './context.js';
import { appErrorToGraphQL } from './errors.js';
import type { ServerContext } from './yoga.js';

/**
 * Counts every operation against the caller's RATE_LIMIT_OPERATIONS_PER_MINUTE, on every transport.
 * HTTP requests count before their document is parsed, so invalid documents count too; the WebSocket
 * adapter counts its operations the same way. An operation that reaches execution uncounted (when
 * neither ran) counts there. Over the limit, it ends with RATE_LIMITED (HTTP 429 with Retry-After)
 * before any resolver runs.
 */
export function useOperationRateLimit(limits: RateLimits): Plugin<GraphQLContext> {
  const check = async (userId: string): Promise<GraphQLError | undefined> => {
    try {
      await limits.countOperation(userId);
      return undefined;
    } catch (error) {
      if (!isAppError(error)) throw error;
      return appErrorToGraphQL(error);
    }
  };

  return {
    async onParams({ context, setResult }) {
      const server = context as ServerContext;
      // No caller means authentication has already ended the request.
      if (!server.caller || server.operationCounted) return;
      server.operationCounted = true;
      const rejected = await check(server.caller.userId);
      if (rejected) setResult({ errors: [rejected] });
    },
    async onExecute({ args, setResultAndStopExecution }) {
      if (args.contextValue.operationCounted) return;
      const rejected = await check(args.contextValue.caller.userId);
      if (rejected) setResultAndStopExecution({ errors: [rejected] });
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      if (args.contextValue.operationCounted) return;
      const rejected = await check(args.contextValue.caller.userId);
      if (rejected) setResultAndStopExecution({ errors: [rejected] });
    },
  };
}
