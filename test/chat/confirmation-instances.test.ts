import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryEventBus } from '../../src/agent/event-bus.js';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { collectSse, postGraphQL, waitFor } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { CHAT_STREAM, CONFIRM_TOOL_CALL, eventsOf, joinDeltas } from '../support/stack.js';

let dataDir: string;
let homeAssistant: HomeAssistantSimulator;
let model: ScriptedModel;
let first: TestServer;
let second: TestServer;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-instances-'));
  homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
  model = await startScriptedModel();
  // Two instances on one database and one bus, the way two processes share PostgreSQL and Redis.
  const bus = createMemoryEventBus();
  const env = { OPENAI_BASE_URL: model.url, OPENAI_MODEL: SCRIPTED_MODEL_NAME, HA_URL: homeAssistant.url, HA_TOKEN: homeAssistant.token };
  first = await startTestServer({ dataDir, env, bus });
  second = await startTestServer({ dataDir, env, bus });
});

afterAll(async () => {
  await first.close();
  await second.close();
  await model.close();
  await homeAssistant.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('confirmation on another instance', () => {
  it('reaches the instance that runs the turn', async () => {
    homeAssistant.setState('lock.front_door', 'locked');
    const key = await first.apiKey('alice');
    const stream = collectSse(first.graphqlUrl, key, CHAT_STREAM, { input: { message: 'Unlock the front door' } });
    const awaiting = await waitFor(
      () =>
        stream.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation') as
          | { toolCall: { id: string } }
          | undefined,
      10_000,
      'a confirmation request',
    );

    const approved = await postGraphQL(second.graphqlUrl, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true }, key);
    expect(approved.body.errors, JSON.stringify(approved.body.errors)).toBeUndefined();
    expect(approved.body.data?.confirmToolCall.status).toBe('RUNNING');
    expect(second.app.services.chat.activeReplies.size).toBe(0);

    await stream.done;
    expect(joinDeltas(eventsOf(stream.results, 'chatStream'))).toBe('Done: Front Door is now unlocked.');
    expect(homeAssistant.getState('lock.front_door')?.state).toBe('unlocked');
    const logged = first.logs.find((line) => line.event === 'tool.finished' && line.toolCallId === awaiting.toolCall.id);
    expect(logged).toMatchObject({ status: 'COMPLETED', verified: 'CHANGED' });
  });
});
