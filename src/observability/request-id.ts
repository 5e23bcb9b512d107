import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

const storage = new AsyncLocalStorage<{ requestId: string }>();

/** A client-supplied X-Request-Id is kept only when it is short and plain, so it cannot inject into logs. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

export function newRequestId(clientValue?: string | null): string {
  return clientValue && CLIENT_REQUEST_ID.test(clientValue) ? clientValue : randomUUID();
}

/** Runs `work` with a request id that currentRequestId() returns anywhere below it, across awaits. */
export function withRequestId<T>(requestId: string, work: () => T): T {
  return storage.run({ requestId }, work);
}

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}
