import type { IncomingMessage } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { Authenticator } from '../auth/authenticator.js';
import type { Caller } from '../auth/caller.js';
import { newRequestId } from '../observability/request-id.js';
import type { ClientIpResolver } from '../security/client-ip.js';
import type { GraphQLContext } from './context.js';
import type { MaskError } from './errors.js';

/** Fields the HTTP authentication sets in Yoga's server context, for the plugins and the context after it. */
export interface AuthenticatedServerContext {
  requestId?: string;
  /** Node's request, which the adapter passes as `req`; the only place the peer address is known. */
  req?: IncomingMessage;
  caller?: Caller;
}

export interface HttpAuthenticationOptions {
  authenticator: Authenticator;
  resolveClientIp: ClientIpResolver;
  maskError: MaskError;
}

/**
 * Authenticates each HTTP request (POST, GET and SSE) before its document is parsed or validated, so a
 * client without valid credentials learns nothing about the schema, not even from validation errors,
 * and the failed-attempt limit counts it. The caller is left in the server context for the rest.
 */
export function useHttpAuthentication(options: HttpAuthenticationOptions): Plugin<GraphQLContext> {
  return {
    async onParams({ request, context, setResult }) {
      const server = context as AuthenticatedServerContext;
      server.requestId ??= newRequestId();
      const clientIp = server.req ? options.resolveClientIp(server.req) : undefined;
      try {
        server.caller = await options.authenticator.authenticate(request.headers.get('authorization'), clientIp);
      } catch (error) {
        setResult({ errors: [options.maskError(error, server.requestId)] });
      }
    },
  };
}
