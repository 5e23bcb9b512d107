import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

interface RawResponse {
  status: number;
  text: string;
  body: { errors?: { message: string; extensions?: Record<string, unknown> }[] } | undefined;
}

async function send(url: string, init: RequestInit): Promise<RawResponse> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: RawResponse['body'];
  try {
    body = JSON.parse(text) as RawResponse['body'];
  } catch {
    body = undefined;
  }
  return { status: response.status, text, body };
}

for (const nodeEnv of ['production', 'development'] as const) {
  describe(`request parsing errors (${nodeEnv})`, () => {
    let server: TestServer;
    let key: string;

    beforeAll(async () => {
      server = await startTestServer({ env: { NODE_ENV: nodeEnv } });
      key = await server.apiKey('alice');
    });

    afterAll(async () => {
      await server.close();
    });

    const post = (body: string, contentType = 'application/json') =>
      send(server.graphqlUrl, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': contentType }, body });

    it('invalid JSON body is a catalogued error', async () => {
      const response = await post('{bad');
      expect(response.status).toBe(400);
      expect(response.body?.errors).toHaveLength(1);
      expect(response.body?.errors?.[0]?.message).toBe('The request body is not valid JSON.');
      expect(response.body?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(response.body?.errors?.[0]?.extensions).not.toHaveProperty('originalError');
      expect(response.text).not.toContain('SyntaxError');
      expect(response.text).not.toContain('{bad');
    });

    it('GET with invalid variables JSON is a catalogued error', async () => {
      const url = `${server.graphqlUrl}?query=${encodeURIComponent('{ viewer { id } }')}&variables=${encodeURIComponent('{bad')}`;
      const response = await send(url, { headers: { authorization: `Bearer ${key}`, accept: 'application/json' } });
      expect(response.body?.errors?.[0]?.message).toBe('The variables or extensions parameter is not valid JSON.');
      expect(response.body?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(response.status).toBe(400);
      expect(response.text).not.toContain('SyntaxError');
      expect(server.logs.filter((line) => line.event === 'graphql.unexpected_error')).toEqual([]);
    });

    it('missing query is a catalogued error', async () => {
      const response = await post('{"variables":{}}');
      expect(response.body?.errors?.[0]?.message).toBe('Must provide query string.');
      expect(response.body?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(response.body?.errors?.[0]?.extensions).not.toHaveProperty('originalError');
    });

    it('non-object body is a catalogued error', async () => {
      const response = await post('42');
      expect(response.body?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(response.body?.errors?.[0]?.extensions).not.toHaveProperty('originalError');
    });

    it('unsupported content type gets 415 without detail', async () => {
      const response = await post('{bad', 'text/plain');
      expect(response.status).toBe(415);
      expect(response.text).not.toContain('SyntaxError');
    });
  });
}
