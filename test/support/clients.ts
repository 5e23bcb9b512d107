import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';

export interface GraphQLResponse<Data = Record<string, any>> {
  status: number;
  headers: Headers;
  body: { data?: Data | null; errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[] };
}

/** Sends one operation over HTTP POST with plain fetch. */
export async function postGraphQL<Data = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<GraphQLResponse<Data>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse<Data>['body'] };
}

export function wsClient(url: string, token: string | undefined, options: { lazy?: boolean } = {}): WsClient {
  return createWsClient({
    url,
    webSocketImpl: WebSocket,
    lazy: options.lazy ?? true,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
}

export interface Collected<T = Record<string, any>> {
  results: { data?: T | null; errors?: readonly { message: string; extensions?: Record<string, any> }[] }[];
  /** Resolves when the server completes the operation; rejects on a transport error. */
  done: Promise<void>;
  /** Stops the subscription early. */
  cancel(): void;
}

/** Runs a subscription over graphql-ws and collects every result until the server completes it. */
export function collectWs<T = Record<string, any>>(client: WsClient, query: string, variables: Record<string, unknown> = {}): Collected<T> {
  const results: Collected<T>['results'] = [];
  let cancel = () => {};
  const done = new Promise<void>((resolve, reject) => {
    cancel = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => results.push(value as Collected<T>['results'][number]),
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => resolve(),
      },
    );
  });
  return { results, done, cancel: () => cancel() };
}

/** Runs a subscription over SSE (GraphQL over SSE, distinct connections mode) and collects every result. */
export function collectSse<T = Record<string, any>>(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Collected<T> {
  const client = createSseClient({ url, headers: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
  const results: Collected<T>['results'] = [];
  let cancel = () => {};
  const done = new Promise<void>((resolve, reject) => {
    cancel = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => results.push(value as Collected<T>['results'][number]),
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => resolve(),
      },
    );
  }).finally(() => client.dispose());
  return { results, done, cancel: () => cancel() };
}

/** Polls until `check` returns a value that is not undefined, or fails after timeoutMs. */
export async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
