import { randomUUID } from 'node:crypto';

/** A client-supplied X-Request-Id is kept only when it is short and plain, so it cannot inject into logs. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Returns the client's X-Request-Id when it is safe to log, or a new UUID. The id travels with the
 * request explicitly (Yoga's server context, then the GraphQL context) rather than through
 * AsyncLocalStorage, whose promise hooks would slow every promise in the process.
 */
export function newRequestId(clientValue?: string | null): string {
  return clientValue && CLIENT_REQUEST_ID.test(clientValue) ? clientValue : randomUUID();
}
