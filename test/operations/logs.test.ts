import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, postGraphQL, waitFor, wsClient } from '../support/clients.js';
import { startTestServer } from '../support/server.js';
import { CHAT_STREAM, eventsOf, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack({ env: { OPENAI_MAX_RETRIES: '1', OPENAI_RETRY_AFTER_MAX_SECONDS: '1' } });
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

const linesOf = (event: string) => stack.logs.filter((line) => line.event === event);

describe('failed turn logs', () => {
  it('carry turn ids and upstream status', async () => {
    stack.model.enqueue(
      { kind: 'http_error', status: 503, headers: { 'retry-after': '0' } },
      { kind: 'http_error', status: 503, headers: { 'retry-after': '0' } },
    );
    const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Say hello' } });
    await stream.done;
    const started = eventsOf(stream.results, 'chatStream')[0];
    const messageId = started?.messageId;
    const conversationId = started?.conversationId;
    expect(messageId).toBeTypeOf('string');

    const retry = linesOf('llm.retry').find((line) => line.messageId === messageId);
    expect(retry).toMatchObject({ userId: 'alice', conversationId, kind: 'status', status: 503, attempt: 1 });
    const failed = linesOf('llm.failed').find((line) => line.messageId === messageId);
    expect(failed).toMatchObject({ userId: 'alice', conversationId, kind: 'status', status: 503, attempt: 2 });
    const replyFailed = linesOf('reply.failed').find((line) => line.messageId === messageId);
    expect(replyFailed).toMatchObject({ code: 'LLM_UNAVAILABLE', cause: { upstream: 'model', kind: 'status', status: 503 } });
    expect(JSON.stringify(replyFailed)).not.toContain('scripted');
  });
});

/** Returns a loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('failed connection logs', () => {
  it('carry the connection error code', async () => {
    // A port that was free a moment ago, so the connection is refused.
    const port = await closedPort();
    const server = await startTestServer({
      env: { OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, OPENAI_API_KEY: 'sk-test-unreachable-0000', OPENAI_MAX_RETRIES: '0' },
    });
    try {
      const serverKey = await server.apiKey('bob');
      const stream = collectSse(server.graphqlUrl, serverKey, CHAT_STREAM, { input: { message: 'Say hello' } });
      await stream.done;
      const messageId = eventsOf(stream.results, 'chatStream')[0]?.messageId;

      const failed = server.logs.find((line) => line.event === 'llm.failed' && line.messageId === messageId);
      expect(failed).toMatchObject({ userId: 'bob', kind: 'connection', errorCode: 'ECONNREFUSED' });
      const replyFailed = server.logs.find((line) => line.event === 'reply.failed' && line.messageId === messageId);
      expect(replyFailed).toMatchObject({ cause: { upstream: 'model', kind: 'connection', errorCode: 'ECONNREFUSED' } });
    } finally {
      await server.close();
    }
  });
});

describe('auth.rejected', () => {
  it('names the client address and the unknown key id', async () => {
    const unknownKey = `haa_0123456789abcdef_${'x'.repeat(43)}`;
    await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, unknownKey);
    const malformedKey = 'haa_fedcba9876543210_short';
    await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, malformedKey);

    const rejected = linesOf('auth.rejected');
    expect(rejected.find((line) => line.keyId === '0123456789abcdef')).toMatchObject({ credential: 'api-key', clientIp: '127.0.0.1' });
    expect(rejected.find((line) => line.keyId === 'fedcba9876543210')).toMatchObject({ credential: 'api-key', clientIp: '127.0.0.1' });
    expect(JSON.stringify(rejected)).not.toContain('x'.repeat(43));
  });

  it('names the client address for a bad JWT', async () => {
    await postGraphQL(stack.graphqlUrl, '{ viewer { id } }', {}, 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad-signature');
    expect(linesOf('auth.rejected').find((line) => line.credential === 'jwt')).toMatchObject({ clientIp: '127.0.0.1' });
  });
});

describe('http.request', () => {
  it('logs one line per GraphQL request', async () => {
    const longName = `Viewer${'X'.repeat(300)}`;
    const secretVariable = 'variable-value-never-logged';
    const response = await fetch(stack.graphqlUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': 'request-log-test-0001' },
      body: JSON.stringify({ query: `query ${longName}($id: ID!) { viewer { id } message(id: $id) { id } }`, variables: { id: secretVariable } }),
    });
    await response.text();

    const line = await waitFor(() => linesOf('http.request').find((entry) => entry.requestId === 'request-log-test-0001'));
    expect(line).toMatchObject({ level: 'info', userId: 'alice', operationType: 'query', path: '/graphql', status: response.status, clientIp: '127.0.0.1' });
    expect(line.durationMs).toBeTypeOf('number');
    expect(String(line.operationName).length).toBeLessThanOrEqual(101);
    expect(String(line.operationName).startsWith('ViewerXXX')).toBe(true);
    const text = JSON.stringify(line);
    expect(text).not.toContain(secretVariable);
    expect(text).not.toContain('message(id');
    expect(text).not.toContain(key.slice(-20));
  });

  it('logs probes at debug only', async () => {
    for (const path of ['/health', '/ready', '/metrics']) await (await fetch(`${stack.url}${path}`)).text();
    const probes = await waitFor(() => {
      const lines = linesOf('http.request').filter((entry) => entry.path !== '/graphql');
      return lines.length >= 3 ? lines : undefined;
    });
    expect(probes.map((entry) => entry.level)).toEqual(['debug', 'debug', 'debug']);
  });

  it('logs WebSocket operations at debug', async () => {
    const client = wsClient(stack.wsUrl, key);
    const result = await new Promise<unknown>((resolve, reject) => {
      client.subscribe({ query: 'query WsViewer { viewer { id } }' }, { next: resolve, error: reject, complete: () => {} });
    });
    expect(result).toMatchObject({ data: { viewer: { id: 'alice' } } });
    await client.dispose();

    const started = await waitFor(() => linesOf('websocket.operation_started').find((entry) => entry.operationName === 'WsViewer'));
    expect(started).toMatchObject({ level: 'debug', userId: 'alice', operationType: 'query' });
    const ended = await waitFor(() => linesOf('websocket.operation_ended').find((entry) => entry.requestId === started.requestId));
    expect(ended).toMatchObject({ level: 'debug', userId: 'alice' });
  });
});
