import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL } from '../support/clients.js';
import { openRawSocket } from '../support/raw-graphql-ws.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { storeConversation } from '../support/transports.js';

/**
 * Threat: a page on another site making the browser act for the user (CSRF), or reading responses
 * through a lax CORS policy. Mutations must need a POST with a JSON body, and only allow-listed origins
 * get CORS headers, over HTTP and for WebSocket upgrades.
 */

const ALLOWED = 'https://app.example.test';
const EVIL = 'https://evil.example.test';

let server: TestServer;
let key: string;
let conversationId: string;

beforeAll(async () => {
  server = await startTestServer({ env: { HA_AI_AGENT_ALLOWED_ORIGINS: `${ALLOWED},http://localhost:3000` } });
  key = await server.apiKey('alice');
  conversationId = await storeConversation(server.app, 'alice');
});

afterAll(async () => {
  await server.close();
});

const renameMutation = (title: string) => `mutation { renameConversation(id: "${conversationId}", title: "${title}") { title } }`;

async function currentTitle(): Promise<string> {
  const response = await postGraphQL(server.graphqlUrl, `{ conversation(id: "${conversationId}") { title } }`, {}, key);
  return response.body.data?.conversation.title;
}

describe('CSRF', () => {
  it('rejects a mutation over GET', async () => {
    const response = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent(renameMutation('Renamed by GET'))}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await currentTitle()).toBe('Test conversation');
  });

  it('rejects chatStream over GET', async () => {
    const queries = [
      'subscription { chatStream(input: { message: "Sent by GET" }) { __typename } }',
      'subscription { ... on Subscription { chatStream(input: { message: "Sent by GET" }) { __typename } } }',
      'subscription { ...Send } fragment Send on Subscription { ... on Subscription { chatStream(input: { message: "Sent by GET" }) { __typename } } }',
    ];
    for (const query of queries) {
      for (const accept of ['text/event-stream', 'application/json']) {
        const response = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent(query)}`, {
          headers: { authorization: `Bearer ${key}`, accept },
        });
        const text = await response.text();
        expect(response.status, `${accept} ${query}`).toBe(405);
        expect(response.headers.get('allow')).toBe('POST');
        expect(text).toContain('chatStream sends a message, so it needs a POST request.');
      }
    }
    const conversations = await postGraphQL(server.graphqlUrl, '{ conversations(first: 50) { edges { node { id } } } }', {}, key);
    expect(conversations.body.data?.conversations.edges).toHaveLength(1);
  });

  it('still serves read-only subscriptions over GET', async () => {
    const query = `subscription { conversationEvents(conversationId: "${conversationId}") { __typename } }`;
    const controller = new AbortController();
    const response = await fetch(`${server.graphqlUrl}?query=${encodeURIComponent(query)}`, {
      headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    controller.abort();
  });

  it('rejects simple-request content types', async () => {
    const bodies: [string, string | FormData][] = [
      ['text/plain', JSON.stringify({ query: renameMutation('Renamed by text/plain') })],
      ['text/plain;charset=UTF-8', JSON.stringify({ query: renameMutation('Renamed by text/plain') })],
      ['application/x-www-form-urlencoded', `query=${encodeURIComponent(renameMutation('Renamed by a form'))}`],
      ['application/graphql', renameMutation('Renamed as a GraphQL string')],
    ];
    for (const [contentType, body] of bodies) {
      const response = await fetch(server.graphqlUrl, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${key}` }, body });
      expect(response.status, contentType).toBe(415);
      expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe('BAD_USER_INPUT');
    }

    const form = new FormData();
    form.set('operations', JSON.stringify({ query: renameMutation('Renamed by multipart') }));
    const multipart = await fetch(server.graphqlUrl, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    expect(multipart.status).toBe(415);

    const noType = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: new TextEncoder().encode(JSON.stringify({ query: renameMutation('Renamed without a type') })),
    });
    expect(noType.status).toBe(415);

    expect(await currentTitle()).toBe('Test conversation');
  });

  it('runs a mutation sent as application/json', async () => {
    const response = await postGraphQL(server.graphqlUrl, renameMutation('Renamed properly'), {}, key);
    expect(response.body).toEqual({ data: { renameConversation: { title: 'Renamed properly' } } });
  });
});

describe('CORS', () => {
  const preflight = (origin: string) =>
    fetch(server.graphqlUrl, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });

  it('answers an allowed origin with that origin and no credentials mode', async () => {
    const response = await preflight(ALLOWED);
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(response.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(response.headers.get('vary')).toContain('Origin');

    const actual = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { origin: ALLOWED, 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ viewer { id } }' }),
    });
    expect(actual.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(actual.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });

  it('gives a disallowed origin no CORS headers at all', async () => {
    for (const origin of [EVIL, 'null', `${ALLOWED}.evil.test`, 'http://app.example.test', ALLOWED.toUpperCase()]) {
      const response = await preflight(origin);
      expect(response.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(response.headers.get('access-control-allow-credentials'), origin).toBeNull();

      const actual = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      });
      expect(actual.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });

  it('rejects WebSocket upgrades from foreign origins', async () => {
    await expect(openRawSocket(server.wsUrl, { origin: EVIL })).rejects.toThrow('upgrade rejected with HTTP 403');
    await expect(openRawSocket(server.wsUrl, { origin: 'null' })).rejects.toThrow('upgrade rejected with HTTP 403');
    const allowed = await openRawSocket(server.wsUrl, { origin: ALLOWED });
    allowed.close();
    const sameOrigin = await openRawSocket(server.wsUrl, { origin: server.url });
    sameOrigin.close();
    const nonBrowser = await openRawSocket(server.wsUrl);
    nonBrowser.close();
  });
});

describe('security headers', () => {
  it('are on API answers, errors and /health', async () => {
    const answers = [
      await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      }),
      await fetch(server.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ viewer { id } }' }) }),
      await fetch(server.graphqlUrl, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }),
      await fetch(`${server.url}/health`),
    ];
    for (const response of answers) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('x-powered-by')).toBeNull();
    }
  });
});
