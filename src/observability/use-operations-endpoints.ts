import { createHash, timingSafeEqual } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from './metrics.js';
import type { Readiness } from './readiness.js';

export interface OperationsEndpointsOptions {
  readiness: Readiness;
  metrics: Metrics;
  /** Bearer token that /metrics requires; undefined leaves it open for scraping. */
  metricsToken: string | undefined;
  /** @default '/ready' */
  readyEndpoint?: string;
  /** @default '/metrics' */
  metricsEndpoint?: string;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Compares in constant time; hashing first makes the lengths equal. */
function tokenMatches(presented: string | undefined, expected: string): boolean {
  return presented !== undefined && timingSafeEqual(digest(presented), digest(expected));
}

/**
 * Serves `GET /ready` (readiness with JSON details: 200 when ready, 503 otherwise) and `GET /metrics`
 * (Prometheus text format, behind `Authorization: Bearer METRICS_TOKEN` when that is set). Neither needs
 * a GraphQL caller. Liveness stays at yoga's `/health`.
 */
export function useOperationsEndpoints(options: OperationsEndpointsOptions): Plugin {
  const readyEndpoint = options.readyEndpoint ?? '/ready';
  const metricsEndpoint = options.metricsEndpoint ?? '/metrics';

  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      if (url.pathname !== readyEndpoint && url.pathname !== metricsEndpoint) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
        return;
      }

      if (url.pathname === readyEndpoint) {
        const report = await options.readiness.report();
        endResponse(
          new fetchAPI.Response(JSON.stringify(report), {
            status: report.status === 'ready' ? 200 : 503,
            headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
          }),
        );
        return;
      }

      if (options.metricsToken) {
        const presented = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '')?.[1];
        if (!tokenMatches(presented, options.metricsToken)) {
          endResponse(
            new fetchAPI.Response('Send METRICS_TOKEN as "Authorization: Bearer <token>".\n', {
              status: 401,
              headers: { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain; charset=utf-8' },
            }),
          );
          return;
        }
      }
      const body = await options.metrics.registry.metrics();
      endResponse(new fetchAPI.Response(body, { status: 200, headers: { 'content-type': options.metrics.registry.contentType, 'cache-control': 'no-store' } }));
    },
  };
}
