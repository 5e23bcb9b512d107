import { auditServer } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer();
  key = await server.apiKey('auditor', ['read']);
});

afterAll(async () => {
  await server.close();
});

describe('GraphQL over HTTP audit', () => {
  it('passes every MUST of the graphql-http audit', async () => {
    const results = await auditServer({
      url: server.graphqlUrl,
      fetchFn: (input: RequestInfo | URL, init?: RequestInit) => {
        const headers = new Headers(init?.headers);
        headers.set('authorization', `Bearer ${key}`);
        return fetch(input, { ...init, headers });
      },
    });
    const mustFailures = results.filter((result) => result.name.startsWith('MUST') && result.status !== 'ok');
    expect(mustFailures.map((result) => `${result.name}: ${result.status === 'ok' ? '' : result.reason}`)).toEqual([]);
    expect(results.filter((result) => result.name.startsWith('MUST')).length).toBeGreaterThan(10);

    const shoulds = results.filter((result) => result.name.startsWith('SHOULD'));
    const summary = shoulds.map((result) => `${result.status.padEnd(6)} ${result.name}`).join('\n');
    console.log(`graphql-http SHOULD results:\n${summary}`);
  });
});
