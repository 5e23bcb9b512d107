import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key-service.js';
import { openDatabase } from '../../src/db/orm.js';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { collectSse, postGraphQL, waitFor } from '../support/clients.js';
import { startServerProcess } from '../support/process.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import { CHAT_STREAM, CONFIRM_TOOL_CALL, REPLY_STREAM, eventsOf } from '../support/stack.js';

let database: TestDatabase;
let homeAssistant: HomeAssistantSimulator;
let model: ScriptedModel;
let env: Record<string, string>;
let key: string;

beforeAll(async () => {
  database = await createTestDatabase();
  homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
  model = await startScriptedModel();
  const databaseUrl = database.url;
  env = { DATABASE_URL: databaseUrl, OPENAI_BASE_URL: model.url, OPENAI_MODEL: SCRIPTED_MODEL_NAME, HA_URL: homeAssistant.url, HA_TOKEN: homeAssistant.token };

  const db = await openDatabase(databaseUrl);
  key = (await new ApiKeyService(db).create('alice')).key;
  await db.close();
});

afterAll(async () => {
  await model.close();
  await homeAssistant.close();
  await database.remove();
});

describe('restart on the same database', () => {
  it('reads back and replays what an earlier process stored', async () => {
    const first = await startServerProcess(env);
    const stream = collectSse(`${first.url}/graphql`, key, CHAT_STREAM, { input: { message: 'Is the front door locked?' } });
    await stream.done;
    const original = eventsOf(stream.results, 'chatStream');
    const messageId = original[0]?.messageId as string;
    const conversationId = original[0]?.conversationId as string;
    expect(original.at(-1)?.__typename).toBe('ReplyCompleted');
    expect(await first.stop()).toBe(0);

    const second = await startServerProcess(env);
    try {
      const conversation = await postGraphQL(
        `${second.url}/graphql`,
        `query($id: ID!) { conversation(id: $id) { title messages { edges { node { id role content status } } } } }`,
        { id: conversationId },
        key,
      );
      const nodes = conversation.body.data?.conversation.messages.edges.map((edge: { node: unknown }) => edge.node);
      expect(conversation.body.data?.conversation.title).toBe('Is the front door locked?');
      expect(nodes).toHaveLength(2);
      expect(nodes[0]).toMatchObject({ role: 'USER', content: 'Is the front door locked?', status: 'COMPLETED' });
      expect(nodes[1]).toMatchObject({ id: messageId, role: 'ASSISTANT', status: 'COMPLETED' });

      const replay = collectSse(`${second.url}/graphql`, key, REPLY_STREAM, { messageId });
      await replay.done;
      expect(eventsOf(replay.results, 'replyStream')).toEqual(original);
    } finally {
      await second.stop();
    }
  });

  it('interrupts a waiting confirmation on crash', async () => {
    homeAssistant.setState('lock.front_door', 'locked');
    const first = await startServerProcess(env);
    const stream = collectSse(`${first.url}/graphql`, key, CHAT_STREAM, { input: { message: 'Unlock the front door' } });
    const awaiting = await waitFor(
      () =>
        stream.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation') as
          | { messageId: string; toolCall: { id: string } }
          | undefined,
      15_000,
      'a confirmation request',
    );
    stream.cancel();
    await first.stop('SIGKILL');

    const second = await startServerProcess(env);
    try {
      const late = await postGraphQL(`${second.url}/graphql`, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true }, key);
      expect(late.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(late.body.errors?.[0]?.message).toBe(
        'This action can no longer be confirmed: its reply ended (INTERRUPTED) before it was confirmed, for example by a cancellation or a server restart. Nothing was done; ask the agent again.',
      );
      expect(homeAssistant.getState('lock.front_door')?.state).toBe('locked');

      const replay = collectSse(`${second.url}/graphql`, key, REPLY_STREAM, { messageId: awaiting.messageId });
      await replay.done;
      const events = eventsOf(replay.results, 'replyStream');
      expect(events.at(-1)?.__typename).toBe('ReplyInterrupted');
      const stored = await postGraphQL(
        `${second.url}/graphql`,
        `query($id: ID!) { message(id: $id) { status toolCalls { id status error { message } } } }`,
        { id: awaiting.messageId },
        key,
      );
      const unlock = stored.body.data?.message.toolCalls.find((call: { id: string }) => call.id === awaiting.toolCall.id);
      expect(stored.body.data?.message.status).toBe('INTERRUPTED');
      expect(unlock).toEqual({ id: awaiting.toolCall.id, status: 'FAILED', error: { message: 'The reply ended before the tool finished or was confirmed.' } });
    } finally {
      await second.stop();
    }
  });
});
