import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientIpResolver } from '../security/client-ip.js';
import type { Logger } from './logger.js';
import type { RequestLogFields } from './use-request-log.js';

/** Paths that probes and scrapers call every few seconds, so their requests are logged at debug only. */
const PROBE_PATHS = new Set(['/health', '/ready', '/metrics']);

export interface RequestLogContext {
  requestId?: string;
  requestLog?: RequestLogFields;
}

/**
 * Writes one `http.request` line when the response ends or the connection closes: GraphQL requests at
 * info, everything else at debug. The line carries ids, the operation's type and name, the status, the
 * duration and the client address, and never variables, the query text or headers.
 */
export function logRequestWhenDone(
  logger: Logger,
  request: IncomingMessage,
  response: ServerResponse,
  context: RequestLogContext,
  resolveClientIp: ClientIpResolver,
): void {
  const startedAt = performance.now();
  const path = (request.url ?? '/').split('?')[0] ?? '/';
  // The address is read now, because Node no longer has the peer address once the socket has closed.
  const clientIp = resolveClientIp(request);
  response.once('close', () => {
    const level = path === '/graphql' ? 'info' : 'debug';
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      {
        event: 'http.request',
        requestId: context.requestId,
        userId: context.requestLog?.userId,
        method: request.method,
        // Other paths are chosen by the client, so they are not copied into the line.
        path: PROBE_PATHS.has(path) || path === '/graphql' ? path : 'other',
        operationType: context.requestLog?.operationType,
        operationName: context.requestLog?.operationName,
        status: response.statusCode,
        // A response cut off by the client never finished writing.
        completed: response.writableFinished,
        durationMs: Math.round(performance.now() - startedAt),
        clientIp,
      },
      'HTTP request ended',
    );
  });
}
