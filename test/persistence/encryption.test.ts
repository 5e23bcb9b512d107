import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createApp } from '../../src/app.js';
import { EncryptionKeySchema } from '../../src/db/encryption-key.entity.js';
import { InstanceSchema } from '../../src/db/instance.entity.js';
import { openDatabase } from '../../src/db/orm.js';
import { reencryptAll } from '../../src/db/reencrypt.js';
import { createLogger } from '../../src/observability/logger.js';
import { DataCipher, encryptedKeyId, parseDataKey } from '../../src/security/data-cipher.js';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { collectSse, postGraphQL } from '../support/clients.js';
import { runCommand, startServerProcess } from '../support/process.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import { CHAT_STREAM, REPLY_STREAM, eventsOf, type StreamedEvent } from '../support/stack.js';

/** A word that appears in a message and in the reply that echoes it, and nowhere else. */
const SECRET = 'Marmalade7Quokka';

const newKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

let homeAssistant: HomeAssistantSimulator;
let model: ScriptedModel;

beforeAll(async () => {
  homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
  model = await startScriptedModel();
});

afterAll(async () => {
  await model.close();
  await homeAssistant.close();
});

function start(database: TestDatabase, env: Record<string, string | undefined>): Promise<TestServer> {
  return startTestServer({
    database,
    env: { OPENAI_BASE_URL: model.url, OPENAI_MODEL: SCRIPTED_MODEL_NAME, HA_URL: homeAssistant.url, HA_TOKEN: homeAssistant.token, ...env },
  });
}

/** Fails with the startup error createApp raises for this configuration, or returns undefined. */
async function startupError(database: TestDatabase, env: Record<string, string>): Promise<string | undefined> {
  const config = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', DATABASE_URL: database.url, ...env });
  try {
    const app = await createApp(config, { logger: createLogger({ level: 'silent' }) });
    await app.close();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

async function chat(server: TestServer, message: string): Promise<StreamedEvent[]> {
  const stream = collectSse(server.graphqlUrl, await server.apiKey('alice'), CHAT_STREAM, { input: { message } });
  await stream.done;
  return eventsOf(stream.results, 'chatStream');
}

/** Reads every stored value of the encrypted columns as raw text. */
async function rawValues(server: TestServer): Promise<string[]> {
  const connection = server.app.services.db.fork().getConnection();
  const postgres = server.app.services.db.target.kind === 'postgresql';
  const json = (column: string) => (postgres ? `${column}::text` : column);
  const rows = [
    ...(await connection.execute<{ value: string }[]>('select title as value from conversations')),
    ...(await connection.execute<{ value: string }[]>('select content as value from messages')),
    ...(await connection.execute<{ value: string }[]>(`select ${json('arguments')} as value from tool_calls`)),
    ...(await connection.execute<{ value: string }[]>(`select ${json('result')} as value from tool_calls where result is not null`)),
    ...(await connection.execute<{ value: string }[]>(`select ${json('verification')} as value from tool_calls where verification is not null`)),
    ...(await connection.execute<{ value: string }[]>(`select ${json('payload')} as value from reply_events`)),
  ];
  return rows.map((row) => row.value);
}

/** Returns the key id of a raw stored value. JSON columns store the encrypted text as a JSON string. */
function storedKeyId(raw: string): string {
  const text = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  return encryptedKeyId(text) ?? 'plain';
}

/** Reads the key records of a database that no server has open. */
async function keyRecords(database: TestDatabase): Promise<{ id: string; retired: boolean }[]> {
  const db = await openDatabase(database.url);
  try {
    const rows = await db.fork().find(EncryptionKeySchema, {}, { orderBy: { id: 'asc' } });
    return rows.map((row) => ({ id: row.id, retired: row.retiredAt !== null }));
  } finally {
    await db.close();
  }
}

/** Registers a key the way older versions of `db:reencrypt` did before a check rejected the run. */
async function registerUnusedKey(database: TestDatabase, key: string): Promise<void> {
  const db = await openDatabase(database.url);
  const parsed = parseDataKey(key) as NonNullable<ReturnType<typeof parseDataKey>>;
  await db.fork().insert(EncryptionKeySchema, { id: parsed.id, checkValue: DataCipher.keyCheck(parsed), createdAt: new Date(), retiredAt: null });
  await db.close();
}

/** Reads the SQLite file and its WAL as raw bytes; empty on PostgreSQL. */
function fileBytes(server: TestServer): Buffer {
  const file = server.databaseFile;
  if (!file) return Buffer.alloc(0);
  return Buffer.concat([file, `${file}-wal`].filter((path) => existsSync(path)).map((path) => readFileSync(path)));
}

describe('encryption at rest', () => {
  it('stores message text, titles, tool calls and events encrypted and reads them back', async () => {
    const database = await createTestDatabase();
    const k1 = newKey('k1');
    const server = await start(database, { DATA_ENCRYPTION_KEY: k1 });
    try {
      const tool = await chat(server, 'Turn on the kitchen light');
      const echo = await chat(server, `Remember ${SECRET} for me`);

      const values = await rawValues(server);
      expect(values.length).toBeGreaterThan(20);
      expect(values.map(storedKeyId)).toEqual(values.map(() => 'k1'));
      expect(values.join('\n')).not.toContain(SECRET);
      expect(values.join('\n')).not.toContain('light.kitchen');
      expect(fileBytes(server).includes(SECRET)).toBe(false);
      expect(fileBytes(server).includes('Turn on the kitchen light')).toBe(false);

      const key = await server.apiKey('alice');
      const read = await postGraphQL(
        server.graphqlUrl,
        `query($id: ID!) { message(id: $id) { content conversation { title } toolCalls { arguments result verification { outcome entities { entityId state } } } } }`,
        { id: tool[0]?.messageId },
        key,
      );
      expect(read.body.data?.message.conversation.title).toBe('Turn on the kitchen light');
      expect(read.body.data?.message.toolCalls[1].arguments).toMatchObject({ entity_ids: ['light.kitchen'] });
      // The outcome depends on the light's state before the call, which other tests share.
      expect(read.body.data?.message.toolCalls[1].verification.entities).toEqual([{ entityId: 'light.kitchen', state: 'on' }]);
      const replay = collectSse(server.graphqlUrl, key, REPLY_STREAM, { messageId: echo[0]?.messageId });
      await replay.done;
      expect(eventsOf(replay.results, 'replyStream')).toEqual(echo);
      expect(JSON.stringify(echo)).toContain(SECRET);
    } finally {
      await server.close();
      await database.remove();
    }
  });

  it('rotates to a new key and re-encrypts everything while the server runs', async () => {
    const database = await createTestDatabase();
    const k1 = newKey('k1');
    const k2 = newKey('k2');
    let server = await start(database, { DATA_ENCRYPTION_KEY: k1 });
    const before = await chat(server, `Before rotation ${SECRET}`);
    await server.close();

    server = await start(database, { DATA_ENCRYPTION_KEY: k2, DATA_ENCRYPTION_OLD_KEYS: k1 });
    try {
      await chat(server, 'After rotation');
      const mixed = await rawValues(server);
      expect(new Set(mixed.map(storedKeyId))).toEqual(new Set(['k1', 'k2']));

      const command = await runCommand('src/cli/reencrypt.ts', [], { DATABASE_URL: database.url, DATA_ENCRYPTION_KEY: k2, DATA_ENCRYPTION_OLD_KEYS: k1 });
      expect(command.stderr).toBe('');
      expect(command.code).toBe(0);
      expect(command.stdout).toContain('Rewriting stored values as key "k2"');
      expect(command.stdout).toContain('Retired key "k1"');

      const rewritten = await rawValues(server);
      expect(new Set(rewritten.map(storedKeyId))).toEqual(new Set(['k2']));
      const keys = await server.app.services.db.fork().find(EncryptionKeySchema, {}, { orderBy: { id: 'asc' } });
      expect(keys.map((row) => [row.id, row.retiredAt !== null])).toEqual([
        ['k1', true],
        ['k2', false],
      ]);
      const read = await postGraphQL(
        server.graphqlUrl,
        `query($id: ID!) { message(id: $id) { content } }`,
        { id: before[0]?.messageId },
        await server.apiKey('alice'),
      );
      expect(read.body.data?.message.content).toContain(SECRET);
    } finally {
      await server.close();
    }

    server = await start(database, { DATA_ENCRYPTION_KEY: k2 });
    const again = await postGraphQL(
      server.graphqlUrl,
      `query($id: ID!) { message(id: $id) { content } }`,
      { id: before[0]?.messageId },
      await server.apiKey('alice'),
    );
    expect(again.body.data?.message.content).toContain(SECRET);
    await server.close();

    expect(await startupError(database, { DATA_ENCRYPTION_KEY: k1 })).toBe(
      'This database holds data encrypted with key "k2", which is not configured. Add it to DATA_ENCRYPTION_OLD_KEYS (the old key stays needed until `npm run db:reencrypt` has run).',
    );
    await database.remove();
  });

  it('refuses to start with a wrong or missing key', async () => {
    const database = await createTestDatabase();
    const k1 = newKey('k1');
    const server = await start(database, { DATA_ENCRYPTION_KEY: k1 });
    await chat(server, `Some text ${SECRET}`);
    await server.close();

    expect(await startupError(database, { DATA_ENCRYPTION_KEY: newKey('k1') })).toBe(
      'DATA_ENCRYPTION_KEY "k1" is not the key that encrypted this database\'s data under that id. Configure the original key with that id, or give a new key a new id.',
    );
    expect(await startupError(database, { DATA_ENCRYPTION_KEY: newKey('k9'), DATA_ENCRYPTION_OLD_KEYS: newKey('k1') })).toContain(
      'the DATA_ENCRYPTION_OLD_KEYS entry "k1" is not the key',
    );
    expect(await startupError(database, {})).toBe(
      'This database holds data encrypted with key "k1", but DATA_ENCRYPTION_KEY is not set. Set DATA_ENCRYPTION_KEY, and DATA_ENCRYPTION_OLD_KEYS for earlier keys.',
    );
    expect(await startupError(database, { DATA_ENCRYPTION_KEY: newKey('k2') })).toContain('holds data encrypted with key "k1", which is not configured');

    // Without its registry row, the encrypted messages themselves still reveal the missing key.
    const db = await openDatabase(database.url);
    await db.fork().nativeDelete(EncryptionKeySchema, {});
    await db.close();
    expect(await startupError(database, {})).toBe(
      'Stored messages are encrypted with key "k1", which is not configured. Set it as DATA_ENCRYPTION_KEY or add it to DATA_ENCRYPTION_OLD_KEYS.',
    );
    expect(await startupError(database, { DATA_ENCRYPTION_KEY: newKey('k1') })).toBe(
      'Stored messages do not decrypt with the configured key "k1": the key is wrong. Configure the key that encrypted them.',
    );

    const process = await startServerProcess({ DATABASE_URL: database.url }).then(
      () => 'started',
      (error: Error) => error.message,
    );
    expect(process).toContain('exited with 1');
    expect(process).toContain('Startup failed: Stored messages are encrypted with key "k1"');
    await database.remove();
  });

  it('encrypts an existing plain database, and decrypts it again', async () => {
    const database = await createTestDatabase();
    let server = await start(database, {});
    await chat(server, `Plain text ${SECRET}`);
    expect((await rawValues(server)).join('\n')).toContain(SECRET);
    await server.close();

    const k1 = newKey('k1');
    server = await start(database, { DATA_ENCRYPTION_KEY: k1 });
    try {
      const command = await runCommand('src/cli/reencrypt.ts', [], { DATABASE_URL: database.url, DATA_ENCRYPTION_KEY: k1 });
      expect(command.code, command.stderr).toBe(0);
      expect(command.stdout).toContain('No other key was in use.');
      expect((await rawValues(server)).join('\n')).not.toContain(SECRET);
      // Overwritten values are zeroed in the file and the WAL is truncated, so the raw file contains no plain text.
      expect(fileBytes(server).includes(SECRET)).toBe(false);
    } finally {
      await server.close();
    }

    const db = await openDatabase(database.url, () => {}, {
      cipher: new DataCipher(undefined, [parseDataKey(k1) as NonNullable<ReturnType<typeof parseDataKey>>]),
    });
    const result = await reencryptAll(db);
    expect(result.retiredKeys).toEqual(['k1']);
    expect(result.rewritten['messages.content']).toBe(2);
    await db.close();

    server = await start(database, {});
    expect((await rawValues(server)).join('\n')).toContain(SECRET);
    await server.close();
    await database.remove();
  });

  it('writes nothing when db:reencrypt is rejected', async () => {
    const database = await createTestDatabase();
    const server = await start(database, {});
    try {
      await chat(server, `Plain text ${SECRET}`);

      // The running server stores plain text, so rewriting under k1 would leave its new values behind.
      const command = await runCommand('src/cli/reencrypt.ts', [], { DATABASE_URL: database.url, DATA_ENCRYPTION_KEY: newKey('k1') });
      expect(command.code).toBe(1);
      expect(command.stderr).toContain('Re-encryption failed: Running instances still write with another key');
      expect(command.stdout).toBe('');

      expect(await server.app.services.db.fork().find(EncryptionKeySchema, {})).toEqual([]);
      const values = await rawValues(server);
      expect(values.map(storedKeyId)).toEqual(values.map(() => 'plain'));
    } finally {
      await server.close();
    }

    expect(await startupError(database, {})).toBeUndefined();
    expect(await startupError(database, { DATA_ENCRYPTION_KEY: newKey('k1') })).toBeUndefined();
    await database.remove();
  });

  it('registers the key with the first value', async () => {
    const database = await createTestDatabase();
    const server = await start(database, {});
    await chat(server, 'First conversation');
    await chat(server, 'Second conversation');
    await server.close();

    // A title that no configured key opens makes the first batch fail halfway through.
    const db = await openDatabase(database.url);
    const connection = db.fork().getConnection();
    const [second] = await connection.execute<{ id: string }[]>('select id from conversations order by id desc limit 1');
    await connection.execute('update conversations set title = ? where id = ?', ['\u0001enc:v1:k9:AAAA', second?.id]);
    await db.close();

    const k1 = newKey('k1');
    const failed = await runCommand('src/cli/reencrypt.ts', [], { DATABASE_URL: database.url, DATA_ENCRYPTION_KEY: k1 });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe('Re-encryption failed: A stored conversations.title value is encrypted with key "k9", which is not configured.\n');
    expect(await keyRecords(database)).toEqual([]);
    expect(await startupError(database, {})).toBeUndefined();

    const repair = await openDatabase(database.url);
    await repair.fork().getConnection().execute('update conversations set title = ? where id = ?', ['Second conversation', second?.id]);
    await repair.close();
    const done = await runCommand('src/cli/reencrypt.ts', [], { DATABASE_URL: database.url, DATA_ENCRYPTION_KEY: k1 });
    expect(done.code, done.stderr).toBe(0);
    expect(await keyRecords(database)).toEqual([{ id: 'k1', retired: false }]);
    expect(await startupError(database, {})).toBe(
      'This database holds data encrypted with key "k1", but DATA_ENCRYPTION_KEY is not set. Set DATA_ENCRYPTION_KEY, and DATA_ENCRYPTION_OLD_KEYS for earlier keys.',
    );
    expect(await startupError(database, { DATA_ENCRYPTION_KEY: k1 })).toBeUndefined();
    await database.remove();
  });

  it('drops an unused key record', async () => {
    const database = await createTestDatabase();
    const server = await start(database, {});
    await chat(server, `Plain text ${SECRET}`);
    await server.close();

    await registerUnusedKey(database, newKey('k1'));
    expect(await startupError(database, {})).toBeUndefined();
    expect(await keyRecords(database)).toEqual([]);

    await registerUnusedKey(database, newKey('k1'));
    const replacement = newKey('k1');
    expect(await startupError(database, { DATA_ENCRYPTION_KEY: replacement })).toBeUndefined();
    expect(await keyRecords(database)).toEqual([{ id: 'k1', retired: false }]);
    expect(await startupError(database, { DATA_ENCRYPTION_KEY: replacement })).toBeUndefined();
    await database.remove();
  });

  it('keeps a key used only in JSON', async () => {
    const database = await createTestDatabase();
    const k1 = newKey('k1');
    const server = await start(database, { DATA_ENCRYPTION_KEY: k1 });
    await chat(server, 'Turn on the kitchen light');
    await server.close();

    // Left encrypted: tool arguments, results and previews, and reply events, all stored as JSON.
    const db = await openDatabase(database.url);
    const connection = db.fork().getConnection();
    await connection.execute("update conversations set title = 'plain title'");
    await connection.execute("update messages set content = 'plain content'");
    await connection.execute("update tool_calls set summary = 'plain summary'");
    await db.close();

    expect(await startupError(database, {})).toBe(
      'This database holds data encrypted with key "k1", but DATA_ENCRYPTION_KEY is not set. Set DATA_ENCRYPTION_KEY, and DATA_ENCRYPTION_OLD_KEYS for earlier keys.',
    );
    expect(await keyRecords(database)).toEqual([{ id: 'k1', retired: false }]);
    await database.remove();
  });

  it('keeps a key a running instance uses', async () => {
    const database = await createTestDatabase();
    await registerUnusedKey(database, newKey('k1'));
    const db = await openDatabase(database.url);
    const now = new Date();
    await db
      .fork()
      .insert(InstanceSchema, { id: 'other-instance', hostname: 'other-host', pid: 4321, startedAt: now, heartbeatAt: now, encryptionKeyId: 'k1' });
    await db.close();

    expect(await startupError(database, {})).toBe(
      'Instance other-instance on other-host (pid 4321) is running with key "k1", which is not configured here. Give every instance the same DATA_ENCRYPTION_KEY.',
    );
    expect(await startupError(database, { DATA_ENCRYPTION_KEY: newKey('k1') })).toBe(
      'DATA_ENCRYPTION_KEY "k1" is not the key that instance other-instance on other-host (pid 4321) is running with under that id. Give every instance the same DATA_ENCRYPTION_KEY.',
    );
    expect(await keyRecords(database)).toEqual([{ id: 'k1', retired: false }]);
    await database.remove();
  });

  it('prints the db:reencrypt usage', async () => {
    const command = await runCommand('src/cli/reencrypt.ts', ['--help'], {});
    expect(command.code).toBe(0);
    expect(command.stdout).toContain('  npm run db:reencrypt -- [--force] [--vacuum]\n');
  });
});
