import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key-service.js';
import { MessageSchema } from '../../src/conversations/message.entity.js';
import { openDatabase } from '../../src/db/orm.js';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { planFromRules, SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { collectSse, postGraphQL, waitFor, type Collected } from '../support/clients.js';
import { startServerProcess, type ServerProcess } from '../support/process.js';
import { CHAT_MUTATION, CHAT_STREAM, REPLY_STREAM, eventsOf, joinDeltas, type StreamedEvent } from '../support/stack.js';

let dataDir: string;
let homeAssistant: HomeAssistantSimulator;
let model: ScriptedModel;
let databaseUrl: string;
let baseEnv: Record<string, string>;
let key: string;

beforeAll(async () => {
  homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
  model = await startScriptedModel();
});

beforeEach(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-crash-'));
  databaseUrl = `sqlite:${path.join(dataDir, 'agent.db')}`;
  baseEnv = {
    DATABASE_URL: databaseUrl,
    OPENAI_BASE_URL: model.url,
    OPENAI_MODEL: SCRIPTED_MODEL_NAME,
    HA_URL: homeAssistant.url,
    HA_TOKEN: homeAssistant.token,
  };
  const db = await openDatabase(databaseUrl);
  key = (await new ApiKeyService(db).create('alice')).key;
  await db.close();
  model.chunkDelayMs = 0;
  return () => rmSync(dataDir, { recursive: true, force: true });
});

afterAll(async () => {
  await model.close();
  await homeAssistant.close();
});

function ruleText(message: string): string {
  return planFromRules({ messages: [{ role: 'user', content: message }] }, () => 'call_unused').text;
}

function deltasOf(stream: Collected): string {
  return stream.results
    .map((result) => result.data?.chatStream)
    .filter((event) => event?.__typename === 'ReplyDelta')
    .map((event) => event.text as string)
    .join('');
}

/** Reads a reply row from the database file while a server process may still be writing it. */
async function storedReply(messageId: string) {
  const db = await openDatabase(databaseUrl);
  try {
    return await db.fork().findOne(MessageSchema, { id: messageId });
  } finally {
    await db.close();
  }
}

describe('a server killed mid-stream', () => {
  it('interrupts the reply on restart', async () => {
    const message = 'Please write a long answer that will be cut off by a crash';
    model.chunkDelayMs = 100;
    let second: ServerProcess | undefined;
    const first = await startServerProcess(baseEnv);
    try {
      const stream = collectSse(`${first.url}/graphql`, key, CHAT_STREAM, { input: { message } });
      stream.done.catch(() => {});
      const messageId = await waitFor(() => stream.results[0]?.data?.chatStream.messageId as string | undefined, 10_000, 'ReplyStarted');
      const checkpoint = await waitFor(() => (deltasOf(stream).length >= 40 ? deltasOf(stream) : undefined), 10_000, 'some text');
      // The reply's text is saved in batches; kill the process once the checkpoint is on disk.
      const reader = await openDatabase(databaseUrl);
      try {
        const isSaved = async () => ((await reader.fork().findOne(MessageSchema, { id: messageId }))?.content.startsWith(checkpoint) ? true : undefined);
        await waitFor(isSaved, 10_000, 'the text to be saved');
      } finally {
        await reader.close();
      }

      expect(await first.stop('SIGKILL')).toBeNull();
      expect(first.child.signalCode).toBe('SIGKILL');

      second = await startServerProcess(baseEnv);
      expect(second.output.some((line) => line.includes('"event":"reply.recovered"'))).toBe(true);
      const url = `${second.url}/graphql`;

      const reply = await postGraphQL(url, `query($id: ID!) { message(id: $id) { status content completedAt conversation { id } } }`, { id: messageId }, key);
      const saved = reply.body.data?.message;
      expect(saved.status).toBe('INTERRUPTED');
      expect(saved.completedAt).not.toBeNull();
      expect(saved.content.startsWith(checkpoint)).toBe(true);
      expect(ruleText(message).startsWith(saved.content)).toBe(true);
      expect(saved.content.length).toBeLessThan(ruleText(message).length);

      const conversation = await postGraphQL(
        url,
        `query($id: ID!) { conversation(id: $id) { messages { edges { node { role content status } } } } }`,
        { id: saved.conversation.id },
        key,
      );
      expect(conversation.body.data?.conversation.messages.edges.map((edge: { node: unknown }) => edge.node)).toEqual([
        { role: 'USER', content: message, status: 'COMPLETED' },
        { role: 'ASSISTANT', content: saved.content, status: 'INTERRUPTED' },
      ]);

      const replay = collectSse(url, key, REPLY_STREAM, { messageId });
      await replay.done;
      const events = eventsOf(replay.results, 'replyStream');
      const last = events.at(-1) as StreamedEvent & { message: { content: string; status: string } };
      expect(last.__typename).toBe('ReplyInterrupted');
      expect(last.message).toMatchObject({ content: saved.content, status: 'INTERRUPTED' });
      expect(joinDeltas(events)).toBe(saved.content);
      expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
    } finally {
      await first.stop('SIGKILL');
      await second?.stop();
    }
  });
});

describe('SIGTERM', () => {
  it('drains running turns within the grace period', async () => {
    const server = await startServerProcess({ ...baseEnv, SHUTDOWN_GRACE_SECONDS: '2' });
    try {
      const url = `${server.url}/graphql`;
      model.chunkDelayMs = 20;
      model.enqueue({ kind: 'stall', afterChunks: 3 });
      const stalled = collectSse(url, key, CHAT_STREAM, { input: { message: 'This one stalls' } });
      await waitFor(() => (deltasOf(stalled).length > 0 ? true : undefined), 10_000, 'text of the stalled reply');
      const finishing = collectSse(url, key, CHAT_STREAM, { input: { message: 'Say hello before the shutdown' } });
      await waitFor(() => (deltasOf(finishing).length > 0 ? true : undefined), 10_000, 'text of the finishing reply');

      server.child.kill('SIGTERM');
      await waitFor(() => (server.output.some((line) => line.includes('"event":"server.stopping"')) ? true : undefined), 10_000, 'the shutdown to begin');
      const refused = await postGraphQL(url, CHAT_MUTATION, { input: { message: 'Too late' } }, key);

      expect(refused.status).toBe(503);
      expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'LLM_UNAVAILABLE' });
      expect(refused.body.errors?.[0]?.message).toBe('The server is shutting down. Try again in a moment.');

      await Promise.all([finishing.done, stalled.done]);
      const finished = eventsOf(finishing.results, 'chatStream');
      const interrupted = eventsOf(stalled.results, 'chatStream');
      expect(finished.at(-1)?.__typename).toBe('ReplyCompleted');
      expect(joinDeltas(finished)).toBe(ruleText('Say hello before the shutdown'));
      expect(interrupted.at(-1)?.__typename).toBe('ReplyInterrupted');
      expect(await server.stop()).toBe(0);

      const stalledReply = await storedReply(interrupted[0]?.messageId as string);
      expect(stalledReply?.status).toBe('INTERRUPTED');
      expect(stalledReply?.content).toBe(joinDeltas(interrupted));
      expect(stalledReply?.content.length).toBeGreaterThan(0);
      expect((await storedReply(finished[0]?.messageId as string))?.status).toBe('COMPLETED');
    } finally {
      await server.stop('SIGKILL');
    }
  });
});

/** Sends `signal` and waits at most timeoutMs for the process to exit. Returns its exit code, or 'still running'. */
function stopWithin(server: ServerProcess, timeoutMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null | 'still running'> {
  return Promise.race([server.stop(signal), new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), timeoutMs))]);
}

describe('a server whose log reader is gone', () => {
  it('exits with 0 on SIGTERM', async () => {
    // The log line of the shutdown itself is the first write into the closed pipe.
    const server = await startServerProcess({ DATABASE_URL: 'sqlite::memory:' });
    try {
      server.child.stdout?.destroy();
      const started = Date.now();
      expect(await stopWithin(server, 5_000)).toBe(0);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await server.stop('SIGKILL');
    }
  });

  it('keeps serving after a log write fails', async () => {
    const server = await startServerProcess({ DATABASE_URL: 'sqlite::memory:' });
    try {
      server.child.stdout?.destroy();
      // A rejected API key is logged, so this request writes into the closed pipe.
      const rejected = await postGraphQL(`${server.url}/graphql`, '{ viewer { id } }', {}, `haa_${'0'.repeat(16)}_${'A'.repeat(43)}`);
      expect(rejected.status).toBe(401);
      const again = await postGraphQL(`${server.url}/graphql`, '{ viewer { id } }', {}, `haa_${'0'.repeat(16)}_${'B'.repeat(43)}`);
      expect(again.status).toBe(401);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect(await stopWithin(server, 5_000)).toBe(0);
    } finally {
      await server.stop('SIGKILL');
    }
  });
});
