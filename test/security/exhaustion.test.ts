import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL } from '../support/clients.js';
import { openAuthenticatedSocket, openRawSocket, tryConnectionInit } from '../support/raw-graphql-ws.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { CONVERSATION_EVENTS, storeConversation } from '../support/transports.js';
import { MessageSchema } from '../../src/conversations/message.entity.js';
import { uuidv7 } from '../../src/db/uuid.js';

/**
 * Threat: exhausting memory or connections with oversized bodies and frames, or with a socket that
 * multiplexes an unbounded number of subscriptions.
 */

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer({ env: { HTTP_MAX_BODY_BYTES: '4096', WS_MAX_PAYLOAD_BYTES: '4096', WS_MAX_SUBSCRIPTIONS: '3' } });
  key = await server.apiKey('alice');
});

afterAll(async () => {
  await server.close();
});

/** Sends a body without Content-Length (chunked), so only the streaming limit can stop it. */
function postChunked(url: string, token: string, chunks: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'transfer-encoding': 'chunked' } },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    outgoing.on('error', reject);
    for (const chunk of chunks) outgoing.write(chunk);
    outgoing.end();
  });
}

describe('HTTP body size', () => {
  it('rejects a body over HTTP_MAX_BODY_BYTES with 413', async () => {
    const response = await postGraphQL(server.graphqlUrl, '{ viewer { id } }', { pad: 'x'.repeat(5000) }, key);
    expect(response.status).toBe(413);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(response.body.data).toBeUndefined();
  });

  it('rejects an oversized chunked body that declares no length', async () => {
    const padding = 'x'.repeat(1000);
    const chunks = ['{"query":"{ viewer { id } }","variables":{"pad":"', ...Array.from({ length: 8 }, () => padding), '"}}'];
    const response = await postChunked(server.graphqlUrl, key, chunks);
    expect(response.status).toBe(413);
    expect(response.body).not.toContain('"viewer"');
  });

  it('accepts a body under the limit', async () => {
    const response = await postGraphQL(server.graphqlUrl, '{ viewer { id } }', { pad: 'x'.repeat(2000) }, key);
    expect(response.body).toEqual({ data: { viewer: { id: 'alice' } } });
  });
});

describe('WebSocket frames and subscriptions', () => {
  it('closes a socket that sends a frame over WS_MAX_PAYLOAD_BYTES', async () => {
    const socket = await openAuthenticatedSocket(server.wsUrl, key);
    socket.send({ type: 'subscribe', id: '1', payload: { query: '{ viewer { id } }', variables: { pad: 'x'.repeat(5000) } } });
    expect((await socket.closed).code).toBe(1009);
    expect(socket.messages).toEqual([{ type: 'connection_ack' }]);
  });

  it('rejects an oversized connection_init', async () => {
    const socket = await openRawSocket(server.wsUrl);
    socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${key}`, pad: 'x'.repeat(5000) } });
    expect((await socket.closed).code).toBe(1009);
  });

  it('runs at most WS_MAX_SUBSCRIPTIONS operations per socket', async () => {
    const conversationId = await storeConversation(server.app, 'alice');
    const socket = await openAuthenticatedSocket(server.wsUrl, key);
    for (const id of ['1', '2', '3', '4']) socket.send({ type: 'subscribe', id, payload: { query: CONVERSATION_EVENTS, variables: { id: conversationId } } });

    const rejected = await socket.nextMessage((message) => message.id === '4');
    expect(rejected).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'RATE_LIMITED', limit: 3 } }] });
    expect(socket.messages.filter((message) => ['1', '2', '3'].includes(message.id))).toEqual([]);

    // Completing one frees a place for the next.
    socket.send({ type: 'complete', id: '1' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.send({ type: 'subscribe', id: '5', payload: { query: '{ viewer { id } }' } });
    expect(await socket.nextMessage((message) => message.id === '5')).toMatchObject({ type: 'next', payload: { data: { viewer: { id: 'alice' } } } });
    socket.close();
  });
});

/** Stores a conversation with `count` messages of `size` characters, so exporting it takes a while. */
async function storeLargeConversation(ownerId: string, count: number, size: number): Promise<void> {
  const conversationId = await storeConversation(server.app, ownerId);
  const em = server.app.services.db.fork();
  const now = new Date();
  for (let index = 0; index < count; index += 1) {
    em.create(MessageSchema, {
      id: uuidv7(),
      conversationId,
      ownerId,
      role: 'USER',
      content: `${index} `.padEnd(size, 'x'),
      status: 'COMPLETED',
      model: null,
      usage: null,
      error: null,
      clientMessageId: null,
      replyToId: null,
      lastSequence: 0,
      createdAt: now,
      completedAt: now,
    });
  }
  await em.flush();
}

describe('WebSockets per user', () => {
  it('closes one over WS_MAX_CONNECTIONS_PER_USER', async () => {
    const limited = await startTestServer({ env: { WS_MAX_CONNECTIONS_PER_USER: '2' } });
    try {
      const busy = await limited.apiKey('busy');
      const other = await limited.apiKey('other');
      const first = await openAuthenticatedSocket(limited.wsUrl, busy);
      const second = await openAuthenticatedSocket(limited.wsUrl, busy);

      const third = await tryConnectionInit(limited.wsUrl, { authorization: `Bearer ${busy}` });
      expect(third).toEqual({ acknowledged: false, code: 4429, reason: 'Too many open connections for this user' });
      const otherUser = await tryConnectionInit(limited.wsUrl, { authorization: `Bearer ${other}` });
      expect(otherUser.acknowledged).toBe(true);

      // A closed socket gives its place back.
      first.close();
      await first.closed;
      const deadline = Date.now() + 5_000;
      let again = await tryConnectionInit(limited.wsUrl, { authorization: `Bearer ${busy}` });
      while (!again.acknowledged && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        again = await tryConnectionInit(limited.wsUrl, { authorization: `Bearer ${busy}` });
      }
      expect(again.acknowledged).toBe(true);
      second.close();
    } finally {
      await limited.close();
    }
  });
});

describe('exportMyData', () => {
  const TWICE = [
    ['aliases', '{ first: exportMyData second: exportMyData }'],
    ['a named fragment spread twice', '{ ...Export ...Export } fragment Export on Query { exportMyData }'],
    ['an alias and an inline fragment', '{ exportMyData ... on Query { copy: exportMyData } }'],
  ] as const;

  for (const [how, query] of TWICE) {
    it(`rejects two selections through ${how}`, async () => {
      const response = await postGraphQL(server.graphqlUrl, query, {}, key);
      expect(response.status).toBe(400);
      expect(response.body.data).toBeUndefined();
      expect(response.body.errors?.[0]).toMatchObject({
        message: 'exportMyData may be selected at most once per operation, found 2. Send one exportMyData field without aliases.',
        extensions: { code: 'BAD_USER_INPUT' },
      });
    });
  }

  it('rejects two selections over graphql-ws', async () => {
    const socket = await openAuthenticatedSocket(server.wsUrl, key);
    socket.send({ type: 'subscribe', id: '1', payload: { query: '{ first: exportMyData second: exportMyData }' } });
    expect(await socket.nextMessage((message) => message.id === '1')).toMatchObject({
      type: 'error',
      payload: [{ extensions: { code: 'BAD_USER_INPUT' } }],
    });
    socket.close();
  });

  it('runs one export per user at a time', async () => {
    const owner = await server.apiKey('exporter');
    const other = await server.apiKey('other-exporter');
    await storeLargeConversation('exporter', 2_000, 2_000);

    const [first, second, another] = await Promise.all([
      postGraphQL(server.graphqlUrl, '{ exportMyData }', {}, owner),
      postGraphQL(server.graphqlUrl, '{ exportMyData }', {}, owner),
      postGraphQL(server.graphqlUrl, '{ exportMyData }', {}, other),
    ]);

    const codes = [first, second].map((response) => response.body.errors?.[0]?.extensions?.code ?? 'OK').sort();
    expect(codes).toEqual(['CONFLICT', 'OK']);
    const conflict = [first, second].find((response) => response.body.errors);
    expect(conflict?.status).toBe(409);
    expect(conflict?.body.errors?.[0]?.message).toBe('An export of your data is already running; wait for it to finish.');
    const exported = [first, second].find((response) => !response.body.errors);
    expect(exported?.body.data?.exportMyData.conversations[0].messages).toHaveLength(2_000);

    expect(another.body.errors).toBeUndefined();
    expect(another.body.data?.exportMyData.userId).toBe('other-exporter');

    const again = await postGraphQL(server.graphqlUrl, '{ exportMyData }', {}, owner);
    expect(again.body.errors).toBeUndefined();
  });
});
