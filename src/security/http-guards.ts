import { getOperationAST, GraphQLError } from 'graphql';
import type { CORSOptions, Plugin } from 'graphql-yoga';
import { countRootFields } from './root-fields.js';

/** Content types a POST to the GraphQL endpoint may use. Browsers send none of them without a preflight. */
const ACCEPTED_POST_TYPES = ['application/json', 'application/graphql-response+json', 'application/graphql+json'];

function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function errorResponse(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/**
 * Blocks cross-site request forgery through "simple" requests, which a browser sends from any page
 * without asking the server first: a POST to the GraphQL endpoint must be JSON, so form posts and
 * text/plain bodies (also multipart) are rejected with 415 before anything is parsed. Mutations over GET
 * are rejected by Yoga itself with 405. Credentials travel only in the Authorization header, which a
 * foreign page cannot set without a CORS preflight that the allow-list answers.
 */
export function useCsrfPrevention(graphqlPath: string): Plugin {
  return {
    onRequest({ request, url, endResponse }) {
      if (url.pathname !== graphqlPath || request.method !== 'POST') return;
      if (ACCEPTED_POST_TYPES.includes(mediaType(request.headers.get('content-type')))) return;
      endResponse(errorResponse(415, 'Unsupported Content-Type: send GraphQL requests as application/json.', { accept: 'application/json' }));
    },
  };
}

/**
 * Refuses, over GET, the subscriptions that change data. Yoga blocks mutations over GET, but a
 * subscription such as chatStream stores a message and runs the agent too, and a GET would also put the
 * message in URLs that proxies log. They get 405 with `Allow: POST`, as mutations do.
 */
export function usePostOnlySubscriptions(fields: readonly string[]): Plugin {
  return {
    onParse() {
      return ({ result, context }) => {
        const { request, params } = context as { request?: Request; params?: { operationName?: string | null } };
        // graphql-ws operations have no request; only HTTP GET is refused.
        if (request?.method !== 'GET' || result instanceof Error) return;
        const operation = getOperationAST(result, params?.operationName);
        if (operation?.operation !== 'subscription') return;
        const field = [...countRootFields(result, operation.selectionSet).keys()].find((name) => fields.includes(name));
        if (!field) return;
        throw new GraphQLError(`${field} sends a message, so it needs a POST request.`, {
          extensions: { code: 'BAD_USER_INPUT', http: { status: 405, headers: { Allow: 'POST' } } },
        });
      };
    },
  };
}

/**
 * Headers for every HTTP response: no MIME sniffing, no framing, no referrer, and no caching of
 * responses that carry a user's data. The API sends only JSON and event streams, so its content
 * security policy allows nothing. The GraphiQL page (development only) keeps just the framing rule.
 */
export function useSecurityHeaders(): Plugin {
  return {
    onResponse({ response }) {
      const headers = response.headers;
      headers.set('x-content-type-options', 'nosniff');
      headers.set('x-frame-options', 'DENY');
      headers.set('referrer-policy', 'no-referrer');
      headers.set('cross-origin-resource-policy', 'same-site');
      const isHtml = mediaType(headers.get('content-type')) === 'text/html';
      headers.set('content-security-policy', isHtml ? "frame-ancestors 'none'" : "default-src 'none'; frame-ancestors 'none'");
      if (!headers.has('cache-control')) headers.set('cache-control', 'no-store');
      const vary = headers.get('vary');
      if (!vary?.toLowerCase().includes('origin')) headers.set('vary', vary ? `${vary}, Origin` : 'Origin');
    },
  };
}

/**
 * Builds the CORS options per request: only an origin on the allow-list gets CORS headers. Any other
 * origin, `null` included, gets none at all, so the browser blocks it. The allowed origin is echoed exactly, never `*`, and no
 * credentials mode is offered, because the API uses bearer tokens rather than cookies.
 */
export function corsForAllowedOrigins(allowedOrigins: readonly string[]): (request: Request) => CORSOptions {
  const allowed = new Set(allowedOrigins);
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.has(origin)) return false;
    return {
      origin: [origin],
      credentials: false,
      methods: ['GET', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'accept', 'x-request-id'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      maxAge: 600,
    };
  };
}
