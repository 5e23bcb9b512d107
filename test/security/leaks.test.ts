import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { openAuthenticatedSocket, openRawSocket, type RawSocket } from '../support/raw-graphql-ws.js';
import { openRawSse } from '../support/raw-sse.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { CHAT_STREAM, REPLY_STREAM } from '../support/stack.js';

/**
 * Threat: a response or a log line that gives away a secret, a stack trace, SQL, a file path or an
 * upstream service's own error text. The sweep configures known secret values, drives the server
 * through failures of every kind on every transport, keeps every byte it answered and every log line,
 * and then searches them all.
 */

const random = () => randomBytes(12).toString('hex');

/** Patterns that give away internals, whatever secret values are configured. */
const INTERNALS: [string, RegExp][] = [
  ['stack frame', /\bat (?:async )?[\w.<>]+ \(|\n\s+at |\.[jt]s:\d+:\d+/],
  ['node_modules path', /node_modules/],
  ['SQL statement', /\b(?:select|insert into|update|delete from|alter table)\b[^"\n]{0,80}`\w+`/i],
  ['upstream wording', /Traceback|\/srv\/models|upstream exploded/],
];

for (const nodeEnv of ['development', 'production'] as const) {
  describe(`leak sweep (${nodeEnv})`, () => {
    const secrets = {
      openai: `sk-sweep-${random()}`,
      homeAssistant: `ha-sweep-${random()}`,
      jwt: `jwt-sweep-secret-${random()}${random()}`,
    };
    const marker = `sweep-marker-${random()}`;
    const responses: string[] = [];
    const sockets: RawSocket[] = [];
    let dataDir: string;
    let homeAssistant: HomeAssistantSimulator;
    let model: ScriptedModel;
    let server: TestServer;
    let apiKey: string;
    let jwt: string;

    const record = (text: string) => responses.push(text);

    async function http(query: string, variables: Record<string, unknown> = {}, token: string | undefined = apiKey) {
      const response = await fetch(server.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const text = await response.text();
      record(`${response.status} ${[...response.headers.entries()].join(' ')} ${text}`);
      return JSON.parse(text) as { data?: any; errors?: { message: string; extensions?: Record<string, any> }[] };
    }

    async function sse(query: string, variables: Record<string, unknown> = {}, token: string | undefined = apiKey) {
      const stream = await openRawSse(server.graphqlUrl, query, variables, token ? { authorization: `Bearer ${token}` } : {});
      await stream.done;
      record(stream.text());
      return stream.events;
    }

    async function ws(query: string, variables: Record<string, unknown> = {}, token = apiKey) {
      const socket = await openAuthenticatedSocket(server.wsUrl, token);
      sockets.push(socket);
      socket.send({ type: 'subscribe', id: 'op', payload: { query, variables } });
      await socket.nextMessage((message) => message.id === 'op' && (message.type === 'complete' || message.type === 'error'), 10_000);
      socket.close();
      return socket.messages.filter((message) => message.id === 'op');
    }

    /** Renames a table for the duration of `work`, so every query on it fails inside the server. */
    async function withoutTable<T>(table: string, work: () => Promise<T>): Promise<T> {
      const connection = server.app.services.db.fork().getConnection();
      await connection.execute(`alter table ${table} rename to ${table}_hidden`);
      try {
        return await work();
      } finally {
        await connection.execute(`alter table ${table}_hidden rename to ${table}`);
      }
    }

    const expectUnexpected = (error: { message: string; extensions?: Record<string, any> } | undefined) => {
      expect(error?.message).toBe('Unexpected error.');
      expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(error?.extensions?.requestId).toMatch(/^[\w.-]{8,64}$/);
    };

    beforeAll(async () => {
      dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-sweep-'));
      homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH), token: secrets.homeAssistant });
      model = await startScriptedModel({ apiKey: secrets.openai });
      server = await startTestServer({
        dataDir,
        env: {
          NODE_ENV: nodeEnv,
          JWT_SECRET: secrets.jwt,
          OPENAI_API_KEY: secrets.openai,
          OPENAI_BASE_URL: model.url,
          OPENAI_MODEL: SCRIPTED_MODEL_NAME,
          OPENAI_MAX_RETRIES: '0',
          HA_URL: homeAssistant.url,
          HA_TOKEN: secrets.homeAssistant,
        },
      });
      apiKey = await server.apiKey('alice');
      jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('1h').sign(new TextEncoder().encode(secrets.jwt));
    });

    afterAll(async () => {
      await server.close();
      await model.close();
      await homeAssistant.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('drives the server through failures of every kind', async () => {
      // Bad and good credentials on every transport.
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(`${secrets.jwt}-wrong`));
      const expired = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
        .sign(new TextEncoder().encode(secrets.jwt));
      const wrongKey = `${apiKey.slice(0, 21)}${'A'.repeat(43)}`;
      for (const token of [forged, expired, wrongKey, secrets.jwt, secrets.openai, 'haa_zz']) {
        expect((await http('{ viewer { id } }', {}, token)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
        await sse(REPLY_STREAM, { messageId: '0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d' }, token);
        const socket = await openRawSocket(server.wsUrl);
        socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
        const closed = await socket.closed;
        record(`${closed.code} ${closed.reason}`);
      }
      expect((await http('{ viewer { id } }', {}, jwt)).data).toEqual({ viewer: { id: 'alice' } });

      // A turn that works, so later failures have data to read.
      const good = await sse(CHAT_STREAM, { input: { message: `Turn on the kitchen light ${marker}` } });
      const replyId = good[0]?.data.data.chatStream.messageId as string;
      expect(good.at(-2)?.data.data.chatStream.__typename).toBe('ReplyCompleted');

      // The model fails in every way it can, its error bodies full of things that must not travel on.
      const upstreamBody = {
        error: {
          message: `upstream exploded: Traceback at /srv/models/app.py line 3 with key ${secrets.openai}; select * from \`keys\``,
          type: 'server_error',
        },
      };
      model.enqueue({ kind: 'http_error', status: 500, body: upstreamBody });
      model.enqueue({ kind: 'http_error', status: 401, body: upstreamBody });
      model.enqueue({ kind: 'http_error', status: 400, body: upstreamBody });
      model.enqueue({ kind: 'malformed', afterChunks: 2 });
      model.enqueue({ kind: 'cut', afterChunks: 2 });
      for (let turn = 0; turn < 5; turn += 1) {
        const events = await sse(CHAT_STREAM, { input: { message: `What is on? ${marker}` } });
        expect(events.at(-2)?.data.data.chatStream.__typename, `model failure ${turn}`).toBe('ReplyFailed');
      }

      // Home Assistant fails: a service call error, a rejected token, an outage.
      homeAssistant.faults.failNextServiceCalls = 1;
      await sse(CHAT_STREAM, { input: { message: `Turn off the kitchen light ${marker}` } });
      homeAssistant.faults.rejectAuth = true;
      await sse(CHAT_STREAM, { input: { message: `Turn on the kitchen light ${marker}`, refreshContext: true } });
      homeAssistant.faults.rejectAuth = false;
      homeAssistant.faults.unavailable = true;
      await ws(CHAT_STREAM, { input: { message: `Turn on the kitchen light ${marker}`, refreshContext: true } });
      homeAssistant.faults.unavailable = false;

      // A resolver that throws: the tool calls of a reply cannot be read.
      const toolCalls = `query($id: ID!) { message(id: $id) { id toolCalls { id name } } }`;
      await withoutTable('tool_calls', async () => {
        const response = await http(toolCalls, { id: replyId });
        expectUnexpected(response.errors?.[0]);
        expect(response.data?.message).toBeNull();
        const overSocket = await ws(toolCalls, { id: replyId });
        expectUnexpected(overSocket[0]?.payload.errors[0]);
      });

      // A stream that fails after it started: the stored events cannot be read.
      await withoutTable('reply_events', async () => {
        const events = await sse(REPLY_STREAM, { messageId: replyId });
        expect(events.map((event) => event.event)).toEqual(['next', 'complete']);
        expectUnexpected(events[0]?.data.errors[0]);
        const overSocket = await ws(REPLY_STREAM, { messageId: replyId });
        expectUnexpected(overSocket[0]?.payload.errors[0]);
      });

      // Context creation fails: credentials cannot be checked at all. A key the server has not verified
      // yet is used, because verified keys are kept in memory for a few seconds.
      const unverifiedKey = await server.apiKey('alice');
      await withoutTable('api_keys', async () => {
        expectUnexpected((await http('{ viewer { id } }', {}, unverifiedKey)).errors?.[0]);
        const events = await sse(REPLY_STREAM, { messageId: replyId }, unverifiedKey);
        expectUnexpected(events[0]?.data.errors[0]);
        const socket = await openRawSocket(server.wsUrl);
        socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${unverifiedKey}` } });
        const closed = await socket.closed;
        record(`${closed.code} ${closed.reason}`);
        expect(closed.code).toBe(4500);
        expect(closed.reason).toMatch(/^Unexpected error\. Request id: [\w-]+$/);
      });

      // Malformed requests.
      for (const body of ['{"query":', '[]', '"a string"', '{"query": 42}', '{"query":"{ viewer { id } }","variables":"x"}']) {
        const response = await fetch(server.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
          body,
        });
        record(`${response.status} ${await response.text()}`);
        expect(response.status, body).toBeLessThan(500);
      }
      await http('query($n: Int) { conversations(first: $n) { edges { cursor } } }', { n: { nested: 'object' } });
      await http('{ message(id: "not-a-uuid") { id } }');
    });

    it('keeps secrets and internals out of every response', () => {
      const everything = [...responses, ...sockets.flatMap((socket) => socket.messages.map((message) => JSON.stringify(message)))].join('\n');
      expect(everything.length).toBeGreaterThan(1000);
      for (const [name, value] of Object.entries(secrets)) expect(everything, name).not.toContain(value);
      expect(everything).not.toContain(apiKey.slice(21));
      expect(everything).not.toContain(jwt.split('.')[2]);
      expect(everything).not.toContain(dataDir);
      expect(everything).not.toContain('SQLITE');
      for (const [name, pattern] of INTERNALS) expect(everything, name).not.toMatch(pattern);
    });

    it('keeps secrets, internals and message text out of every log line', () => {
      // The startup summary names the SQLite file on purpose, so an operator can see which database
      // the instance opened. Every other path must stay out of the logs.
      const lines = server.logs.map((line) =>
        line.event === 'server.started' ? JSON.stringify({ ...line, database: { ...(line.database as object), file: undefined } }) : JSON.stringify(line),
      );
      expect(lines.length).toBeGreaterThan(20);
      for (const line of lines) {
        for (const [name, value] of Object.entries(secrets)) expect(line, name).not.toContain(value);
        expect(line).not.toContain(apiKey.slice(21));
        expect(line).not.toContain(jwt.split('.')[2]);
        expect(line).not.toContain(dataDir);
        expect(line).not.toContain(marker);
        expect(line).not.toMatch(/"stack"/);
        for (const [name, pattern] of INTERNALS) expect(line, name).not.toMatch(pattern);
      }
    });

    it('logs what the model SDK reports without the upstream chunk', () => {
      const sdkLines = server.logs.filter((line) => line.event === 'llm.sdk');
      expect(sdkLines.map((line) => line.msg)).toContain('Could not parse message into JSON:');
      expect(JSON.stringify(sdkLines)).not.toContain('{not json');
    });

    it('logs each unexpected error once, under the request id the client got', () => {
      const requestIds = [...new Set([...responses.join('\n').matchAll(/"requestId":"([^"]+)"/g)].map((match) => match[1]))];
      const closeIds = [...responses.join('\n').matchAll(/Request id: ([\w-]+)/g)].map((match) => match[1]);
      const socketIds = sockets
        .flatMap((socket) => socket.messages)
        .flatMap((message) => (message.payload?.errors ?? message.payload ?? []) as { extensions?: { requestId?: string } }[])
        .map((error) => error?.extensions?.requestId)
        .filter(Boolean);
      const all = [...new Set([...requestIds, ...closeIds, ...socketIds])];
      expect(all.length).toBeGreaterThanOrEqual(7);
      for (const requestId of all) {
        const logged = server.logs.filter((line) => line.event === 'graphql.unexpected_error' && line.requestId === requestId);
        expect(logged, requestId).toHaveLength(1);
        expect((logged[0]?.err as { type?: string } | undefined)?.type, requestId).toBeTruthy();
      }
    });

    it('uses one request id per HTTP request', async () => {
      const failingRequest = async (query: string, variables: Record<string, unknown>, token: string, requestId: string) => {
        const response = await fetch(server.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': requestId },
          body: JSON.stringify({ query, variables }),
        });
        const body = (await response.json()) as { errors?: { extensions?: Record<string, unknown> }[] };
        return { header: response.headers.get('x-request-id'), sent: body.errors?.[0]?.extensions?.requestId };
      };
      const loggedUnder = (requestId: string) => server.logs.filter((line) => line.event === 'graphql.unexpected_error' && line.requestId === requestId);

      // A resolver fails: the header, the error and the log line carry the id the client sent.
      const conversations = '{ conversations(first: 1) { edges { cursor } } }';
      const inResolver = await withoutTable('conversations', () => failingRequest(conversations, {}, apiKey, 'client-resolver-1'));
      expect(inResolver.header).toBe('client-resolver-1');
      expect(inResolver.sent).toBe('client-resolver-1');
      expect(loggedUnder('client-resolver-1')).toHaveLength(1);

      // Checking the credential fails while the context is built: the same holds.
      const unverifiedKey = await server.apiKey('carol');
      const inContext = await withoutTable('api_keys', () => failingRequest('{ viewer { id } }', {}, unverifiedKey, 'client-context-1'));
      expect(inContext.header).toBe('client-context-1');
      expect(inContext.sent).toBe('client-context-1');
      expect(loggedUnder('client-context-1')).toHaveLength(1);
    });
  });
}

describe('LOG_CONVERSATION_CONTENT', () => {
  it('logs message text only when enabled', async () => {
    const homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
    const model = await startScriptedModel({});
    const server = await startTestServer({
      env: {
        LOG_CONVERSATION_CONTENT: 'true',
        OPENAI_BASE_URL: model.url,
        OPENAI_MODEL: SCRIPTED_MODEL_NAME,
        HA_URL: homeAssistant.url,
        HA_TOKEN: homeAssistant.token,
      },
    });
    try {
      const marker = `content-marker-${random()}`;
      const stream = await openRawSse(
        server.graphqlUrl,
        CHAT_STREAM,
        { input: { message: `Is the front door locked? ${marker}` } },
        { authorization: `Bearer ${await server.apiKey('alice')}` },
      );
      await stream.done;
      const content = server.logs.filter((line) => line.event === 'turn.content');
      expect(content.map((line) => line.role)).toEqual(['USER', 'ASSISTANT']);
      expect(content[0]?.content).toBe(`Is the front door locked? ${marker}`);
      expect(String(content[1]?.content).length).toBeGreaterThan(0);
    } finally {
      await server.close();
      await model.close();
      await homeAssistant.close();
    }
  });
});
