import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, postGraphQL } from '../support/clients.js';
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
