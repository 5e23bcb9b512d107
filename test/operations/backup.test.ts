import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageSchema } from '../../src/conversations/message.entity.js';
import { ReplyEventSchema } from '../../src/conversations/reply-event.entity.js';
import { backupSqlite } from '../../src/db/backup.js';
import { openDatabase } from '../../src/db/orm.js';
import { collectWs, postGraphQL, waitFor, wsClient } from '../support/clients.js';
import { runCommand } from '../support/process.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import { CHAT_MUTATION, CHAT_STREAM, eventsOf, joinDeltas, startTestStack, type TestStack } from '../support/stack.js';

/** A reply of about three hundred deltas, so several backups fall inside it. */
const LONG_TEXT = Array.from({ length: 300 }, (_, index) => `word${index}`).join(' ');

let stack: TestStack;
let database: TestDatabase;
let folder: string;
let key: string;

beforeAll(async () => {
  database = await createTestDatabase('sqlite');
  folder = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-backup-'));
  stack = await startTestStack({ database, model: { chunkDelayMs: 3 } });
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
  await database.remove();
  rmSync(folder, { recursive: true, force: true });
});

/** Opens a backup and checks that every reply's stored text is exactly its stored deltas. */
async function checkBackup(file: string, messageId: string): Promise<{ status: string; deltas: number }> {
  const copy = await openDatabase(`sqlite:${file}`, () => {}, { migrate: false });
  try {
    const em = copy.fork();
    const reply = await em.findOneOrFail(MessageSchema, { id: messageId });
    const events = await em.find(ReplyEventSchema, { messageId }, { orderBy: { sequence: 'asc' } });
    const text = events
      .filter((event) => event.type === 'ReplyDelta')
      .map((event) => String(event.payload.text))
      .join('');
    expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
    expect(reply.content).toBe(text);
    expect(reply.lastSequence).toBe(events.length);
    return { status: reply.status, deltas: events.length };
  } finally {
    await copy.close();
  }
}

describe('SQLite backup', () => {
  it('copies the database consistently while a reply streams', async () => {
    stack.model.enqueue({ kind: 'text', text: LONG_TEXT });
    const client = wsClient(stack.wsUrl, key);
    const stream = collectWs(client, CHAT_STREAM, { input: { message: 'A long story while backing up' } });
    await waitFor(() => (stream.results.length >= 5 ? true : undefined), 10_000, 'the reply to start');
    const messageId = eventsOf(stream.results, 'chatStream')[0]?.messageId as string;

    let finished = false;
    void stream.done.then(() => {
      finished = true;
    });
    const backups: { file: string; whileStreaming: boolean }[] = [];
    while (!finished && backups.length < 8) {
      const file = path.join(folder, `during-${backups.length}.db`);
      await backupSqlite(database.url, file);
      backups.push({ file, whileStreaming: !finished });
    }
    await stream.done;
    await client.dispose();

    const midway = [];
    for (const backup of backups) {
      const state = await checkBackup(backup.file, messageId);
      if (state.status === 'STREAMING') midway.push(state.deltas);
    }
    expect(midway.length).toBeGreaterThan(0);
    expect(Math.max(...midway)).toBeGreaterThan(1);

    const final = path.join(folder, 'final.db');
    await backupSqlite(database.url, final);
    expect(await checkBackup(final, messageId)).toMatchObject({ status: 'COMPLETED' });
    expect(joinDeltas(eventsOf(stream.results, 'chatStream'))).toBe(LONG_TEXT);
  });

  it('runs as npm run db:backup and refuses to overwrite a file', async () => {
    stack.model.enqueue({ kind: 'stall', afterChunks: 5 });
    const started = await postGraphQL(stack.graphqlUrl, CHAT_MUTATION, { input: { message: 'A reply that is still streaming' } }, key);
    const replyId = started.body.data?.chat.reply.id as string;
    await waitFor(
      async () => {
        const row = await stack.app.services.db.fork().findOne(MessageSchema, { id: replyId }, { fields: ['content'] });
        return row && row.content.length > 0 ? true : undefined;
      },
      10_000,
      'stored text',
    );

    const file = path.join(folder, 'command.db');
    const command = await runCommand('src/cli/backup.ts', [file], { DATABASE_URL: database.url });
    expect(command.stderr).toBe('');
    expect(command.code).toBe(0);
    expect(command.stdout).toMatch(
      /^Backed up .+ to .+command\.db \(\d+ bytes, integrity ok\): conversations=\d+ messages=\d+ tool_calls=\d+ reply_events=\d+ api_keys=\d+\n$/,
    );
    expect(await checkBackup(file, replyId)).toMatchObject({ status: 'STREAMING' });
    expect(existsSync(`${file}.partial-${process.pid}`)).toBe(false);

    writeFileSync(path.join(folder, 'taken.db'), 'something else');
    await expect(backupSqlite(database.url, path.join(folder, 'taken.db'))).rejects.toThrow(
      'already exists. Choose a new file name, or pass --force to replace it.',
    );
    await backupSqlite(database.url, path.join(folder, 'taken.db'), { overwrite: true });
    await checkBackup(path.join(folder, 'taken.db'), replyId);

    const postgres = await runCommand('src/cli/backup.ts', [file], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' });
    expect(postgres.code).toBe(2);
    expect(postgres.stderr).toContain('pg_dump --format=custom');
    await postGraphQL(stack.graphqlUrl, `mutation($id: ID!) { cancelReply(messageId: $id) { id } }`, { id: replyId }, key);
  });

  it('refuses a missing database and creates nothing', async () => {
    const missing = path.join(folder, 'missing');
    const source = path.join(missing, 'ha_ai_agent.db');
    const file = path.join(folder, 'from-missing.db');
    const databaseUrl = `sqlite:${source}`;
    const [backup, reencrypt] = await Promise.all([
      runCommand('src/cli/backup.ts', [file], { DATABASE_URL: databaseUrl }),
      runCommand('src/cli/reencrypt.ts', [], { DATABASE_URL: databaseUrl, DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}` }),
    ]);
    const notFound = `SQLite database not found: ${source} does not exist (DATABASE_URL=${databaseUrl}). Check DATABASE_URL. Nothing was created.\n`;
    expect(backup.code).toBe(1);
    expect(backup.stderr).toBe(`Backup failed: ${notFound}`);
    expect(reencrypt.code).toBe(1);
    expect(reencrypt.stderr).toBe(`Re-encryption failed: ${notFound}`);
    expect(existsSync(missing)).toBe(false);
    expect(readdirSync(folder).filter((name) => name.startsWith('from-missing'))).toEqual([]);
  });

  it('creates database and backup files readable by the owner only', async () => {
    const file = path.join(folder, 'private', 'new.db');
    const db = await openDatabase(`sqlite:${file}`);
    try {
      for (const name of [file, `${file}-wal`, `${file}-shm`]) {
        expect({ name, mode: statSync(name).mode & 0o777 }).toEqual({ name, mode: 0o600 });
      }
      const backup = path.join(folder, 'private-backup.db');
      await backupSqlite(`sqlite:${file}`, backup);
      expect(statSync(backup).mode & 0o777).toBe(0o600);
    } finally {
      await db.close();
    }
  });
});
