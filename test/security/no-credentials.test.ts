import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRawSocket, tryConnectionInit } from '../support/raw-graphql-ws.js';
import { openRawSse } from '../support/raw-sse.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Threat: a client without credentials, or with a malformed Authorization value, on any transport.
 * Every attempt must end in UNAUTHENTICATED (HTTP, SSE) or a closed socket (graphql-ws) before any
 * resolver runs.
 */

let server: TestServer;
const SUBSCRIPTION = 'subscription { conversationEvents(conversationId: "0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d") { __typename } }';

beforeAll(async () => {
  server = await startTestServer({ env: { WS_CONNECTION_INIT_TIMEOUT_SECONDS: '1' } });
});

afterAll(async () => {
  await server.close();
});

const MALFORMED_AUTHORIZATION = [
  undefined,
  '',
  'Bearer',
  'Bearer ',
  'Basic YWxpY2U6c2VjcmV0',
  'Bearer two tokens',
  'Token haa_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  `Bearer ${'A'.repeat(10_000)}`,
];

describe('HTTP without valid credentials', () => {
  it('answers POST with 401 and no data', async () => {
    for (const authorization of MALFORMED_AUTHORIZATION) {
      const response = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      });
      const body = (await response.json()) as { data?: unknown; errors: { extensions: { code: string } }[] };
      expect(response.status, String(authorization).slice(0, 40)).toBe(401);
      expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
      expect(body.data).toBeUndefined();
    }
  });

  it('answers invalid documents with 401', async () => {
    for (const query of ['{ viewer { idx } }', '{ viewer { ', '{ __schema { types { name } } }']) {
      const response = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
      });
      const text = await response.text();
      expect(response.status, query).toBe(401);
      expect(JSON.parse(text).errors[0]?.extensions.code, query).toBe('UNAUTHENTICATED');
      expect(text, query).not.toMatch(/Did you mean|Syntax Error|Cannot query/);
    }
  });

  it('answers GET with 401', async () => {
    const response = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent('{ viewer { id } }')}`);
    expect(response.status).toBe(401);
    expect(await response.text()).not.toContain('viewer":');
  });

  it('still answers /health', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe('SSE without valid credentials', () => {
  it('ends the stream with UNAUTHENTICATED before subscribing', async () => {
    for (const authorization of [undefined, 'Bearer not-a-token']) {
      const stream = await openRawSse(server.graphqlUrl, SUBSCRIPTION, {}, authorization ? { authorization } : {});
      await stream.done;
      expect(stream.status).toBe(401);
      expect(stream.events.map((event) => event.event)).toEqual(['next', 'complete']);
      expect(stream.events[0]?.data.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(stream.events[0]?.data.data).toBeUndefined();
    }
  });
});

describe('graphql-ws without valid credentials', () => {
  it('closes with 4401 on connection_init without a usable payload', async () => {
    for (const payload of [undefined, {}, { authorization: 42 }, { authorization: 'Bearer nope' }, { Authorization: 'Bearer nope' }, null]) {
      expect(await tryConnectionInit(server.wsUrl, payload), JSON.stringify(payload)).toEqual({ acknowledged: false, code: 4401, reason: 'Unauthorized' });
    }
  });

  it('closes with 4400 on a connection_init payload that is not an object', async () => {
    expect(await tryConnectionInit(server.wsUrl, 'Bearer nope')).toEqual({ acknowledged: false, code: 4400, reason: 'Invalid message received' });
  });

  it('closes with 4401 when subscribe comes before connection_init', async () => {
    const raw = await openRawSocket(server.wsUrl);
    raw.send({ type: 'subscribe', id: '1', payload: { query: '{ viewer { id } }' } });
    expect(await raw.closed).toEqual({ code: 4401, reason: 'Unauthorized' });
    expect(raw.messages).toEqual([]);
  });

  it('closes a socket that never sends connection_init', async () => {
    const raw = await openRawSocket(server.wsUrl);
    expect(await raw.closed).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
  });

  it('closes a socket without the graphql-ws subprotocol', async () => {
    const raw = await openRawSocket(server.wsUrl, { protocol: null });
    expect((await raw.closed).code).toBe(4406);
  });

  it('closes on frames that are not graphql-ws client messages', async () => {
    for (const frame of ['not json', '{"type":"next","id":"1","payload":{}}', '{"type":"connection_ack"}', '[]']) {
      const raw = await openRawSocket(server.wsUrl);
      raw.send(frame);
      expect(await raw.closed, frame).toEqual({ code: 4400, reason: 'Invalid message received' });
    }
  });

  it('accepts only one connection_init per socket', async () => {
    const key = await server.apiKey('alice');
    const raw = await openRawSocket(server.wsUrl);
    raw.send({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } });
    await raw.nextMessage((message) => message.type === 'connection_ack');
    raw.send({ type: 'connection_init', payload: { authorization: 'Bearer someone-else' } });
    expect((await raw.closed).code).toBe(4429);
  });
});
