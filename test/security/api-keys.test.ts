import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/auth/api-key-format.js';
import { describeDatabaseTarget, parseDatabaseUrl } from '../../src/db/database-url.js';
import { buildSchema } from '../../src/graphql/schema.js';
import { postGraphQL } from '../support/clients.js';
import { repoRoot } from '../support/fixtures.js';
import { openAuthenticatedSocket, tryConnectionInit } from '../support/raw-graphql-ws.js';
import { runCommand } from '../support/process.js';
import { openRawSse } from '../support/raw-sse.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ACCEPTED, CONVERSATION_EVENTS, REJECTED, storeConversation, tryEveryTransport } from '../support/transports.js';

/**
 * Threat: stolen, guessed or revoked API keys. Keys must be random, stored only as a hash, shown once,
 * limited to their scopes and, once revoked, useless at once, including on sockets and streams that
 * were already open.
 */

const run = promisify(execFile);
const KEY_PATTERN = /^haa_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

let dataDir: string;
let server: TestServer;

/** Runs `npm run apikey -- ...` (the script behind it) against the test server's database. */
async function apikeyCli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/apikey.ts'), ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}` },
  });
  return stdout;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-keys-'));
  server = await startTestServer({ dataDir, env: { API_KEY_REVOCATION_CHECK_SECONDS: '1' } });
});

afterAll(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('API key storage', () => {
  it('stores only the hash of random keys', async () => {
    const output = await apikeyCli('create', '--user', 'alice', '--name', 'laptop');
    const key = /^(haa_\S+)$/m.exec(output)?.[1] as string;
    const [, id, secret] = KEY_PATTERN.exec(key) ?? [];
    expect(id).toBeDefined();
    expect(Buffer.from(secret as string, 'base64url')).toHaveLength(32);
    expect(output).toContain('This is the only time the key is shown');
    expect(output).toContain(`Stored in SQLite file ${path.join(dataDir, 'test.db')}; only a server using this database accepts the key.\n`);

    const rows = await server.app.services.db.fork().getConnection().execute('select * from api_keys where id = ?', [id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.secret_hash).toBe(hashSecret(secret as string));
    expect(JSON.stringify(rows)).not.toContain(secret as string);

    // Neither the key nor its secret is anywhere in the database files, WAL included. Another process
    // reads them: closing a file descriptor of the database in this process would drop SQLite's locks.
    const { stdout: filesWithSecret } = await run(process.execPath, [
      '-e',
      'const fs = require("node:fs"); const [dir, secret] = process.argv.slice(1); for (const f of fs.readdirSync(dir)) if (fs.readFileSync(dir + "/" + f).includes(secret)) console.log(f);',
      dataDir,
      secret as string,
    ]);
    expect(filesWithSecret).toBe('');

    const second = await server.apiKey('alice');
    expect(second).not.toBe(key);
    expect(await tryEveryTransport(server, key)).toEqual(ACCEPTED);
  });

  it('lists keys with their last use and never their secrets', async () => {
    const key = await server.apiKey('list-user');
    const id = KEY_PATTERN.exec(key)?.[1] as string;
    const before = await apikeyCli('list', '--user', 'list-user');
    expect(before).toContain(`${id}  user=list-user`);
    expect(before).toContain('last-used=never');

    await postGraphQL(server.graphqlUrl, '{ viewer { id } }', {}, key);
    const after = await apikeyCli('list', '--user', 'list-user');
    expect(after).toMatch(/last-used=\d{4}-\d\d-\d\dT/);
    expect(after).not.toContain(KEY_PATTERN.exec(key)?.[2] as string);
  });

  it('rejects a wrong secret, an unknown id and a truncated key alike', async () => {
    const key = await server.apiKey('alice');
    const [, id] = KEY_PATTERN.exec(key) ?? [];
    const attempts = [`haa_${id}_${'A'.repeat(43)}`, `haa_${'0'.repeat(16)}_${key.slice(-43)}`, key.slice(0, -1), `${key}A`, key.replace('haa_', 'HAA_')];
    const messages = new Set<string>();
    for (const attempt of attempts) {
      const response = await postGraphQL(server.graphqlUrl, '{ viewer { id } }', {}, attempt);
      expect(response.status, attempt).toBe(401);
      messages.add(response.body.errors?.[0]?.message as string);
    }
    // HAA_ is not an API key, so it is tried as a JWT; every API key failure reads the same.
    expect([...messages].filter((message) => message.includes('API key'))).toHaveLength(1);
  });
});

describe('apikey command', () => {
  it('prints usage to stderr for a wrong invocation', async () => {
    const env = { DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}` };
    const [none, unknown, unknownOption, help] = await Promise.all([
      runCommand('src/cli/apikey.ts', [], env),
      runCommand('src/cli/apikey.ts', ['remove', 'x'], env),
      runCommand('src/cli/apikey.ts', ['list', '--all'], env),
      runCommand('src/cli/apikey.ts', ['--help'], env),
    ]);
    for (const result of [none, unknown, unknownOption]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('\n\nUsage:\n  npm run apikey -- create --user USER_ID');
    }
    expect(none.stderr.startsWith('Missing command: create, list or revoke.\n')).toBe(true);
    expect(unknown.stderr.startsWith('Unknown command: remove.\n')).toBe(true);
    expect(unknownOption.stderr.startsWith("Unknown option '--all'.")).toBe(true);
    expect(help.code).toBe(0);
    expect(help.stdout.startsWith('Usage:\n')).toBe(true);
    expect(help.stderr).toBe('');
  });

  it('reports an unknown key id without the usage', async () => {
    const result = await runCommand('src/cli/apikey.ts', ['revoke', 'ffffffffffffffff'], { DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}` });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('No API key has the id ffffffffffffffff. Run "npm run apikey -- list" to see the ids.\n');
  });

  it('refuses list and revoke on a missing database', async () => {
    const folder = path.join(dataDir, 'nonexistent');
    const file = path.join(folder, 'y.db');
    const env = { DATABASE_URL: `sqlite:${file}` };
    const [list, revoke] = await Promise.all([
      runCommand('src/cli/apikey.ts', ['list'], env),
      runCommand('src/cli/apikey.ts', ['revoke', 'ffffffffffffffff'], env),
    ]);
    for (const result of [list, revoke]) {
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`SQLite database not found: ${file} does not exist (DATABASE_URL=sqlite:${file}). Check DATABASE_URL. Nothing was created.\n`);
    }
    expect(existsSync(folder)).toBe(false);
  });

  it('create names the new database it made', async () => {
    const file = path.join(dataDir, 'first-run', 'keys.db');
    const result = await runCommand('src/cli/apikey.ts', ['create', '--user', 'bob'], { DATABASE_URL: `sqlite:${file}` });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Stored in SQLite file ${file}; only a server using this database accepts the key.\n`);
    expect(existsSync(file)).toBe(true);
  });

  it('names a PostgreSQL database without credentials', () => {
    const name = describeDatabaseTarget(parseDatabaseUrl('postgres://agent:s3cret@db.internal:5433/ha_ai_agent?sslmode=require'));
    expect(name).toBe('PostgreSQL database "ha_ai_agent" on db.internal:5433');
  });
});

describe('API key scopes', () => {
  it('allows only the operations of the key scopes', async () => {
    const readOnly = await server.apiKey('reader', ['read']);
    const viewer = await postGraphQL(server.graphqlUrl, '{ viewer { scopes } conversations { edges { cursor } } }', {}, readOnly);
    expect(viewer.body.data).toEqual({ viewer: { scopes: ['read'] }, conversations: { edges: [] } });

    const chat = await postGraphQL(server.graphqlUrl, 'mutation { chat(input: { message: "hi" }) { reply { id } } }', {}, readOnly);
    expect(chat.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(chat.status).toBe(403);

    const chatOnly = await server.apiKey('chatter', ['chat']);
    const list = await postGraphQL(server.graphqlUrl, '{ conversations { edges { cursor } } }', {}, chatOnly);
    expect(list.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('are declared on every root field but viewer', () => {
    const schema = buildSchema();
    const undeclared: string[] = [];
    for (const type of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
      for (const [name, field] of Object.entries(type?.getFields() ?? {})) {
        const scopes = (field.extensions as { pothosOptions?: { authScopes?: Record<string, boolean> } }).pothosOptions?.authScopes;
        if (!scopes || Object.keys(scopes).length === 0) undeclared.push(`${type?.name}.${name}`);
      }
    }
    expect(undeclared).toEqual(['Query.viewer']);
  });

  it('leave a token with an empty scope claim only the viewer', async () => {
    const token = await server.jwt('nobody', { scope: '' });
    expect((await postGraphQL(server.graphqlUrl, '{ viewer { id scopes } }', {}, token)).body.data).toEqual({ viewer: { id: 'nobody', scopes: [] } });
    for (const query of ['{ conversations { edges { cursor } } }', 'mutation { chat(input: { message: "hi" }) { reply { id } } }']) {
      expect((await postGraphQL(server.graphqlUrl, query, {}, token)).body.errors?.[0]?.extensions?.code, query).toBe('FORBIDDEN');
    }
  });

  it('lets admin do everything', async () => {
    const admin = await server.apiKey('root', ['admin']);
    const response = await postGraphQL(server.graphqlUrl, '{ viewer { scopes } conversations { edges { cursor } } }', {}, admin);
    expect(response.body.errors).toBeUndefined();
  });
});

describe('revocation', () => {
  /** Opens a graphql-ws subscription and an SSE stream on the user's conversation with the key. */
  async function openStreams(key: string, userId: string) {
    const conversationId = await storeConversation(server.app, userId);
    const socket = await openAuthenticatedSocket(server.wsUrl, key);
    socket.send({ type: 'subscribe', id: 'events', payload: { query: CONVERSATION_EVENTS, variables: { id: conversationId } } });
    const sse = await openRawSse(server.graphqlUrl, CONVERSATION_EVENTS, { id: conversationId }, { authorization: `Bearer ${key}` });
    expect(sse.status).toBe(200);
    // The server registers the subscription shortly after the request; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(socket.messages).toEqual([{ type: 'connection_ack' }]);
    return { socket, sse };
  }

  async function expectEnded(streams: Awaited<ReturnType<typeof openStreams>>) {
    const { socket, sse } = streams;
    const error = await socket.nextMessage((message) => message.id === 'events', 5_000);
    expect(error).toMatchObject({
      type: 'next',
      payload: { errors: [{ message: 'Your API key has been revoked. Use another credential and resubscribe.', extensions: { code: 'UNAUTHENTICATED' } }] },
    });
    expect(await socket.closed).toEqual({ code: 4403, reason: 'Credential revoked' });
    await sse.done;
    expect(sse.events.map((event) => event.event)).toEqual(['next', 'complete']);
    expect(sse.events[0]?.data.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  }

  it('ends open sockets and streams when the CLI revokes the key', async () => {
    const key = await server.apiKey('victim');
    const id = KEY_PATTERN.exec(key)?.[1] as string;
    const streams = await openStreams(key, 'victim');

    const output = await apikeyCli('revoke', id);
    expect(output).toContain(`Revoked API key ${id}`);
    const revokedAt = Date.now();
    await expectEnded(streams);
    // One check interval (1 s here) plus scheduling on a busy machine.
    expect(Date.now() - revokedAt).toBeLessThan(4_000);

    expect(await tryEveryTransport(server, key)).toEqual(REJECTED);
  });

  it('ends them at once when the server itself revokes the key', async () => {
    const slowChecks = await startTestServer({ env: { API_KEY_REVOCATION_CHECK_SECONDS: '3600' } });
    try {
      const key = await slowChecks.apiKey('victim');
      const conversationId = await storeConversation(slowChecks.app, 'victim');
      const socket = await openAuthenticatedSocket(slowChecks.wsUrl, key);
      socket.send({ type: 'subscribe', id: 'events', payload: { query: CONVERSATION_EVENTS, variables: { id: conversationId } } });
      const sse = await openRawSse(slowChecks.graphqlUrl, CONVERSATION_EVENTS, { id: conversationId }, { authorization: `Bearer ${key}` });
      await new Promise((resolve) => setTimeout(resolve, 100));

      await slowChecks.app.services.apiKeys.revoke(KEY_PATTERN.exec(key)?.[1] as string);
      await expectEnded({ socket, sse });
      expect(await tryConnectionInit(slowChecks.wsUrl, { authorization: `Bearer ${key}` })).toEqual({
        acknowledged: false,
        code: 4401,
        reason: 'Unauthorized',
      });
    } finally {
      await slowChecks.close();
    }
  });

  it('leaves the sockets of other keys open', async () => {
    const revoked = await server.apiKey('shared-user');
    const kept = await server.apiKey('shared-user');
    const revokedSocket = await openAuthenticatedSocket(server.wsUrl, revoked);
    const keptSocket = await openAuthenticatedSocket(server.wsUrl, kept);
    await server.app.services.apiKeys.revoke(KEY_PATTERN.exec(revoked)?.[1] as string);
    expect((await revokedSocket.closed).code).toBe(4403);
    keptSocket.send({ type: 'subscribe', id: 'q', payload: { query: '{ viewer { id } }' } });
    expect(await keptSocket.nextMessage((message) => message.id === 'q')).toMatchObject({ type: 'next', payload: { data: { viewer: { id: 'shared-user' } } } });
    keptSocket.close();
  });
});
