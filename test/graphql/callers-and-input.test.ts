import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { postGraphQL, wsClient, collectWs } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let aliceKey: string;

beforeAll(async () => {
  server = await startTestServer();
  aliceKey = await server.apiKey('alice');
});

afterAll(async () => {
  await server.close();
});

describe('callers', () => {
  it('rejects HTTP requests without credentials', async () => {
    const response = await postGraphQL(server.graphqlUrl, '{ viewer { id } }');
    expect(response.status).toBe(401);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(response.body.data).toBeUndefined();
  });

  it('rejects a wrong API key and a forged JWT alike', async () => {
    const wrongKey = `${aliceKey.slice(0, -4)}AAAA`;
    const forged = await server.jwt('alice');
    const tampered = `${forged.split('.').slice(0, 2).join('.')}.${'A'.repeat(43)}`;
    for (const token of [wrongKey, tampered, 'haa_nonsense', 'not-a-token']) {
      const response = await postGraphQL(server.graphqlUrl, '{ viewer { id } }', {}, token);
      expect(response.status).toBe(401);
      expect(response.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
  });

  it('resolves an API key to its user and scopes', async () => {
    const response = await postGraphQL(server.graphqlUrl, '{ viewer { id scopes } }', {}, aliceKey);
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ viewer: { id: 'alice', scopes: ['chat', 'read', 'control'] } });
  });

  it('resolves a JWT subject and scope claim', async () => {
    const token = await server.jwt('bob', { scope: 'read chat' });
    const response = await postGraphQL(server.graphqlUrl, '{ viewer { id scopes } }', {}, token);
    expect(response.body.data).toEqual({ viewer: { id: 'bob', scopes: ['chat', 'read'] } });
  });

  it('gives a JWT without scope claim the default scopes', async () => {
    const token = await server.jwt('carol');
    const response = await postGraphQL(server.graphqlUrl, '{ viewer { scopes } }', {}, token);
    expect(response.body.data).toEqual({ viewer: { scopes: ['chat', 'read', 'control'] } });
  });

  it('refuses fields outside the caller scopes', async () => {
    const readOnly = await server.apiKey('dave', ['read']);
    const response = await postGraphQL(server.graphqlUrl, 'mutation { chat(input: { message: "hi" }) { reply { id } } }', {}, readOnly);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('closes a graphql-ws socket without credentials with 4401', async () => {
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    expect(closed).toEqual({ code: 4401, reason: 'Unauthorized' });
  });

  it('accepts the credential in the connection_init payload', async () => {
    const client = wsClient(server.wsUrl, aliceKey);
    const result = collectWs(client, '{ viewer { id } }');
    await result.done;
    expect(result.results).toEqual([{ data: { viewer: { id: 'alice' } } }]);
    await client.dispose();
  });

  it('answers /health without credentials', async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
  });
});

describe('input validation', () => {
  it('names every invalid field of a chat input', async () => {
    const response = await postGraphQL(
      server.graphqlUrl,
      'mutation { chat(input: { message: "   ", conversationId: "not-a-uuid", clientMessageId: "" }) { reply { id } } }',
      {},
      aliceKey,
    );
    const error = response.body.errors?.[0];
    expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(error?.extensions?.fields).toEqual([
      { field: 'input.message', message: 'must not be blank' },
      { field: 'input.conversationId', message: 'must be a UUID such as 0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d' },
      { field: 'input.clientMessageId', message: 'must not be empty' },
    ]);
    expect(response.status).toBe(400);
  });

  it('rejects a message over CHAT_MAX_MESSAGE_CHARS', async () => {
    const small = await startTestServer({ env: { CHAT_MAX_MESSAGE_CHARS: '10' } });
    try {
      const key = await small.apiKey('alice');
      const response = await postGraphQL(
        small.graphqlUrl,
        'mutation($m: String!) { chat(input: { message: $m }) { reply { id } } }',
        { m: '12345678901' },
        key,
      );
      expect(response.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.fields).toEqual([
        { field: 'input.message', message: 'must be at most 10 characters (CHAT_MAX_MESSAGE_CHARS)' },
      ]);
    } finally {
      await small.close();
    }
  });

  it('rejects malformed ids with BAD_USER_INPUT', async () => {
    for (const query of [
      '{ conversation(id: "42") { id } }',
      '{ message(id: "x") { id } }',
      'mutation { renameConversation(id: "x", title: "t") { id } }',
      'mutation { deleteConversation(id: "x") { deleted } }',
    ]) {
      const response = await postGraphQL(server.graphqlUrl, query, {}, aliceKey);
      expect(response.body.errors?.[0]?.extensions?.code, query).toBe('BAD_USER_INPUT');
    }
  });

  it('treats unknown UUIDs as not found', async () => {
    for (const id of ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '0193A5C4-8F3E-0C1A-1B2D-4E5F6A7B8C9D']) {
      const read = await postGraphQL(server.graphqlUrl, 'query($id: ID!) { conversation(id: $id) { id } }', { id }, aliceKey);
      const rename = await postGraphQL(server.graphqlUrl, 'mutation($id: ID!) { renameConversation(id: $id, title: "t") { id } }', { id }, aliceKey);
      expect(read.body, id).toEqual({ data: { conversation: null } });
      expect(rename.body.errors?.[0]?.extensions?.code, id).toBe('NOT_FOUND');
    }
  });

  it('rejects page sizes out of range', async () => {
    const response = await postGraphQL(server.graphqlUrl, '{ conversations(first: 101) { edges { cursor } } }', {}, aliceKey);
    expect(response.body.errors?.[0]?.extensions?.fields).toEqual([{ field: 'first', message: 'must be at most 100' }]);
  });

  it('rejects a cursor this API did not make', async () => {
    const id = '0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d';
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const cursors = [
      'bm9wZQ',
      forged({ u: 1e300, i: id }),
      forged({ u: -1e300, i: id }),
      forged({ u: -8.64e15, i: id }),
      forged({ u: 8.64e15, i: id }),
      forged({ u: -3e14, i: id }),
      forged({ u: 'soon', i: id }),
      forged({ u: 1, i: 'x' }),
    ];
    for (const cursor of cursors) {
      const response = await postGraphQL(
        server.graphqlUrl,
        'query($after: String) { conversations(after: $after) { edges { cursor } } }',
        { after: cursor },
        aliceKey,
      );
      expect(response.status, cursor).toBe(400);
      expect(response.body.errors?.[0]?.extensions?.code, cursor).toBe('BAD_USER_INPUT');
      expect(response.body.errors?.[0]?.extensions?.fields, cursor).toEqual([{ field: 'after', message: 'not a cursor returned by this API' }]);
    }
  });

  it('gives document errors the BAD_USER_INPUT code', async () => {
    const invalid = await postGraphQL(server.graphqlUrl, '{ viewer { nope } }', {}, aliceKey);
    expect(invalid.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const syntax = await postGraphQL(server.graphqlUrl, '{ viewer { ', {}, aliceKey);
    expect(syntax.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('unknown and foreign ids', () => {
  const unknownId = '0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d';

  it('returns null from conversation and message', async () => {
    const response = await postGraphQL(server.graphqlUrl, `{ conversation(id: "${unknownId}") { id } message(id: "${unknownId}") { id } }`, {}, aliceKey);
    expect(response.body).toEqual({ data: { conversation: null, message: null } });
  });

  it('returns NOT_FOUND from mutations and subscriptions', async () => {
    const rename = await postGraphQL(server.graphqlUrl, `mutation { renameConversation(id: "${unknownId}", title: "x") { id } }`, {}, aliceKey);
    expect(rename.body.errors?.[0]).toMatchObject({ message: 'Conversation not found.', extensions: { code: 'NOT_FOUND' } });
    const remove = await postGraphQL(server.graphqlUrl, `mutation { deleteConversation(id: "${unknownId}") { deleted } }`, {}, aliceKey);
    expect(remove.body.errors?.[0]).toMatchObject({ message: 'Conversation not found.', extensions: { code: 'NOT_FOUND' } });

    const client = wsClient(server.wsUrl, aliceKey);
    const stream = collectWs(client, `subscription { replyStream(messageId: "${unknownId}") { __typename } }`);
    await stream.done;
    expect(stream.results[0]?.errors?.[0]).toMatchObject({ message: 'Reply not found.', extensions: { code: 'NOT_FOUND' } });
    await client.dispose();
  });
});
