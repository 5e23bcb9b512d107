import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key-service.js';
import { openDatabase } from '../../src/db/orm.js';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HomeAssistantSimulator } from '../../src/simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient, type Collected } from '../support/clients.js';
import { startServerProcess, type ServerProcess } from '../support/process.js';
import { createTestDatabase, missingServices, TEST_REDIS_URL, type TestDatabase } from '../support/services.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { CHAT_MUTATION, REPLY_STREAM, eventsOf, joinDeltas, type StreamedEvent } from '../support/stack.js';

const missing = await missingServices('PostgreSQL', 'Redis');
if (missing) console.warn(`skipped: two-instance tests, because ${missing}`);

const CANCEL = `mutation($id: ID!) { cancelReply(messageId: $id) { id status content } }`;
const MESSAGE = `query($id: ID!) { message(id: $id) { id status content } }`;

/** A reply of several hundred deltas, long enough for subscribers to join at many points. */
const LONG_TEXT = Array.from({ length: 240 }, (_, index) => `word${index}`).join(' ');

let database: TestDatabase;
let homeAssistant: HomeAssistantSimulator;
let model: ScriptedModel;
let env: Record<string, string>;
let key: string;
let nodeA: ServerProcess;
let nodeB: ServerProcess;

function logEvents(server: ServerProcess, event: string): Record<string, unknown>[] {
  return server.output.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      return parsed.event === event ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

async function startChat(server: ServerProcess, message: string): Promise<string> {
  const response = await postGraphQL(`${server.url}/graphql`, CHAT_MUTATION, { input: { message } }, key);
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
  return response.body.data?.chat.reply.id as string;
}

async function messageStatus(server: ServerProcess, id: string): Promise<{ status: string; content: string } | null> {
  const response = await postGraphQL(`${server.url}/graphql`, MESSAGE, { id }, key);
  return response.body.data?.message as { status: string; content: string } | null;
}

async function storedTextLength(server: ServerProcess, id: string): Promise<number> {
  return (await messageStatus(server, id))?.content.length ?? 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe.skipIf(missing !== undefined)('two instances sharing PostgreSQL and Redis', () => {
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
    model = await startScriptedModel({ chunkDelayMs: 4 });
    env = {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      OPENAI_BASE_URL: model.url,
      OPENAI_MODEL: SCRIPTED_MODEL_NAME,
      HA_URL: homeAssistant.url,
      HA_TOKEN: homeAssistant.token,
      INSTANCE_HEARTBEAT_SECONDS: '1',
    };
    // Both start on an empty database at once, so both try to apply the migrations.
    [nodeA, nodeB] = await Promise.all([startServerProcess({ ...env, INSTANCE_ID: 'node-a' }), startServerProcess({ ...env, INSTANCE_ID: 'node-b' })]);

    const db = await openDatabase(database.url);
    key = (await new ApiKeyService(db).create('alice')).key;
    await db.close();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
    await model?.close();
    await homeAssistant?.close();
    await database?.remove();
  });

  it('streams a reply generated on one instance from the other', async () => {
    model.enqueue({ kind: 'text', text: 'The front door is locked and the kitchen light is on.' });
    const messageId = await startChat(nodeA, 'Tell me about the house');

    const client = wsClient(`${nodeB.url.replace(/^http/, 'ws')}/graphql`, key);
    const onB = collectWs(client, REPLY_STREAM, { messageId });
    await onB.done;
    await client.dispose();
    const events = eventsOf(onB.results, 'replyStream');
    expect(events.map((event) => event.sequence)).toEqual(events.map((_, index) => index + 1));
    expect(events[0]?.__typename).toBe('ReplyStarted');
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
    expect(joinDeltas(events)).toBe('The front door is locked and the kitchen light is on.');

    const replayOnA = collectSse(`${nodeA.url}/graphql`, key, REPLY_STREAM, { messageId });
    await replayOnA.done;
    expect(eventsOf(replayOnA.results, 'replyStream')).toEqual(events);
  });

  it('gives subscribers joining the other instance at random points every event once', async () => {
    model.enqueue({ kind: 'text', text: LONG_TEXT });
    const messageId = await startChat(nodeA, 'A long story, please');
    const clientA = wsClient(`${nodeA.url.replace(/^http/, 'ws')}/graphql`, key);
    const clientB = wsClient(`${nodeB.url.replace(/^http/, 'ws')}/graphql`, key);
    const watcher = collectWs(clientA, REPLY_STREAM, { messageId });

    // Joiners on B while A generates: from the start, or after the last sequence the watcher has seen,
    // so many of them land on the seam between stored and live events.
    const joiners: { after: number; stream: Collected }[] = [];
    let finished = false;
    void watcher.done.then(() => {
      finished = true;
    });
    while (!finished && joiners.length < 40) {
      const seen = watcher.results.length;
      const after = joiners.length % 3 === 0 ? 0 : Math.max(0, seen - Math.floor(Math.random() * 4));
      const stream =
        joiners.length % 5 === 4
          ? collectSse(`${nodeB.url}/graphql`, key, REPLY_STREAM, { messageId, after })
          : collectWs(clientB, REPLY_STREAM, { messageId, after });
      joiners.push({ after, stream });
      await sleep(Math.floor(Math.random() * 30));
    }
    await watcher.done;
    const late = collectWs(clientB, REPLY_STREAM, { messageId, after: 7 });
    await Promise.all([...joiners.map((joiner) => joiner.stream.done), late.done]);
    await Promise.all([clientA.dispose(), clientB.dispose()]);

    const full = eventsOf(watcher.results, 'replyStream');
    expect(full.at(-1)?.__typename).toBe('ReplyCompleted');
    expect(joinDeltas(full)).toBe(LONG_TEXT);
    expect(full.map((event) => event.sequence)).toEqual(full.map((_, index) => index + 1));
    expect(joiners.length).toBeGreaterThan(10);
    expect(joiners.filter((joiner) => joiner.after > 0).length).toBeGreaterThan(3);
    for (const joiner of joiners) {
      expect(eventsOf(joiner.stream.results, 'replyStream')).toEqual(full.filter((event) => event.sequence > joiner.after));
    }
    expect(eventsOf(late.results, 'replyStream')).toEqual(full.filter((event) => event.sequence > 7));
  });

  it('cancels a reply through the instance that does not generate it', async () => {
    model.enqueue({ kind: 'stall', afterChunks: 6 });
    const requestsBefore = model.requests.length;
    const messageId = await startChat(nodeA, 'Please write a long answer that I will cancel');
    const client = wsClient(`${nodeB.url.replace(/^http/, 'ws')}/graphql`, key);
    const onB = collectWs(client, REPLY_STREAM, { messageId });
    await waitFor(
      () => (onB.results.filter((result) => result.data?.replyStream.__typename === 'ReplyDelta').length >= 2 ? true : undefined),
      10_000,
      'two deltas on B',
    );

    const cancelled = await postGraphQL(`${nodeB.url}/graphql`, CANCEL, { id: messageId }, key);
    expect(cancelled.body.errors, JSON.stringify(cancelled.body.errors)).toBeUndefined();
    expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');

    await onB.done;
    await client.dispose();
    const events = eventsOf(onB.results, 'replyStream');
    const last = events.at(-1) as StreamedEvent & { message: { content: string; status: string } };
    expect(last.__typename).toBe('ReplyCancelled');
    expect(last.message).toMatchObject({ status: 'CANCELLED', content: joinDeltas(events) });
    // The generating instance stopped the model itself, rather than B ending an orphan.
    expect(logEvents(nodeA, 'reply.cancelled').some((line) => line.messageId === messageId)).toBe(true);
    await waitFor(() => (model.requests[requestsBefore]?.aborted ? true : undefined), 5_000, 'the model request to be aborted');
  });

  it('lets the owner finish a sent call on remote cancel', async () => {
    const TOOLS = `query($id: ID!) { message(id: $id) { status toolCalls { name status error { code } } } }`;
    homeAssistant.setState('light.kitchen', 'off');
    // The result comes back after the other instance's first wait of 3 s is over.
    homeAssistant.faults.serviceCallLatencyMs = 4_500;
    try {
      model.enqueue({
        kind: 'tool_calls',
        calls: [{ name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'] } }],
      });
      const callsBefore = homeAssistant.serviceCalls.length;
      const messageId = await startChat(nodeA, 'Turn on the kitchen light slowly');
      await waitFor(() => (homeAssistant.serviceCalls.length > callsBefore ? true : undefined), 10_000, 'the service call');

      const cancelled = await postGraphQL(`${nodeB.url}/graphql`, CANCEL, { id: messageId }, key);
      expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');

      const stored = await postGraphQL(`${nodeB.url}/graphql`, TOOLS, { id: messageId }, key);
      expect(homeAssistant.getState('light.kitchen')?.state).toBe('on');
      expect(stored.body.data?.message.toolCalls).toEqual([{ name: 'call_service', status: 'COMPLETED', error: null }]);
      expect(logEvents(nodeA, 'reply.cancelled').some((line) => line.messageId === messageId)).toBe(true);
    } finally {
      homeAssistant.faults.serviceCallLatencyMs = 0;
    }
  });

  it('deletes a conversation through one instance while the other generates in it', async () => {
    model.enqueue({ kind: 'stall', afterChunks: 5 });
    const started = await postGraphQL(`${nodeA.url}/graphql`, CHAT_MUTATION, { input: { message: 'A reply in a conversation that gets deleted' } }, key);
    const conversationId = started.body.data?.chat.conversation.id as string;
    const messageId = started.body.data?.chat.reply.id as string;
    const client = wsClient(`${nodeB.url.replace(/^http/, 'ws')}/graphql`, key);
    const watcher = collectWs(client, `subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }`, { id: conversationId });
    await waitFor(async () => ((await storedTextLength(nodeA, messageId)) > 0 ? true : undefined), 10_000, 'stored text');

    const deleted = await postGraphQL(`${nodeB.url}/graphql`, `mutation($id: ID!) { deleteConversation(id: $id) { deleted } }`, { id: conversationId }, key);
    expect(deleted.body.data?.deleteConversation.deleted).toBe(true);
    await watcher.done;
    await client.dispose();

    expect(await messageStatus(nodeA, messageId)).toBeNull();
    expect(logEvents(nodeA, 'reply.cancelled').some((line) => line.messageId === messageId)).toBe(true);
    expect([...logEvents(nodeA, 'reply.store_failed'), ...logEvents(nodeA, 'reply.finish_failed')]).toEqual([]);
  });

  it('leaves replies of a live instance alone when the other restarts', async () => {
    model.enqueue({ kind: 'stall', afterChunks: 4 });
    const messageId = await startChat(nodeA, 'A reply that outlives a restart');
    await waitFor(async () => ((await storedTextLength(nodeA, messageId)) > 0 ? true : undefined), 10_000, 'stored text');

    expect(await nodeB.stop()).toBe(0);
    nodeB = await startServerProcess({ ...env, INSTANCE_ID: 'node-b' });
    // Several heartbeats pass with both instances up, so B's periodic check has run too.
    await sleep(2_500);

    expect((await messageStatus(nodeB, messageId))?.status).toBe('STREAMING');
    expect(logEvents(nodeB, 'reply.recovered')).toEqual([]);
    const cancelled = await postGraphQL(`${nodeB.url}/graphql`, CANCEL, { id: messageId }, key);
    expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
    expect(logEvents(nodeA, 'reply.cancelled').some((line) => line.messageId === messageId)).toBe(true);
  });

  it('interrupts the replies of an instance that crashed', async () => {
    model.enqueue({ kind: 'stall', afterChunks: 4 });
    const messageId = await startChat(nodeA, 'A reply whose instance crashes');
    const client = wsClient(`${nodeB.url.replace(/^http/, 'ws')}/graphql`, key);
    const onB = collectWs(client, REPLY_STREAM, { messageId });
    await waitFor(() => (onB.results.some((result) => result.data?.replyStream.__typename === 'ReplyDelta') ? true : undefined), 10_000, 'a delta on B');
    await waitFor(async () => ((await storedTextLength(nodeB, messageId)) > 0 ? true : undefined), 10_000, 'stored text');

    await nodeA.stop('SIGKILL');
    await onB.done;
    await client.dispose();

    const events = eventsOf(onB.results, 'replyStream');
    const last = events.at(-1) as StreamedEvent & { message: { content: string; status: string } };
    expect(last.__typename).toBe('ReplyInterrupted');
    expect(last.message.status).toBe('INTERRUPTED');
    expect(last.message.content.length).toBeGreaterThan(0);
    expect(joinDeltas(events).startsWith(last.message.content)).toBe(true);
    expect(logEvents(nodeB, 'reply.recovered').some((line) => (line.messageIds as string[]).includes(messageId))).toBe(true);
  });

  it('sends the stored end after a crash lost live deltas', async () => {
    // The generating instance reaches PostgreSQL through a proxy, so cutting it off leaves the deltas it
    // publishes from then on unstored, as a kill between publishing and the next batch write does.
    const proxy = await startTcpProxy({ host: new URL(database.url).hostname, port: Number(new URL(database.url).port || 5432) });
    const nodeC = await startServerProcess({ ...env, DATABASE_URL: proxy.urlFor(database.url), INSTANCE_ID: 'node-c' });
    model.chunkDelayMs = 300;
    const client = wsClient(`${nodeB.url.replace(/^http/, 'ws')}/graphql`, key);
    try {
      model.enqueue({ kind: 'stall', afterChunks: 12 });
      const messageId = await startChat(nodeC, 'A reply whose last deltas are never stored');
      const onB = collectWs(client, REPLY_STREAM, { messageId });
      await waitFor(async () => ((await storedTextLength(nodeB, messageId)) > 0 ? true : undefined), 10_000, 'stored text');

      proxy.cutOff();
      const seenAtCut = Math.max(0, ...eventsOf(onB.results, 'replyStream').map((event) => event.sequence));
      await waitFor(
        () => (eventsOf(onB.results, 'replyStream').some((event) => event.__typename === 'ReplyDelta' && event.sequence > seenAtCut) ? true : undefined),
        10_000,
        'a delta published after the cut',
      );
      await nodeC.stop('SIGKILL');
      await onB.done;

      const events = eventsOf(onB.results, 'replyStream');
      const deltas = events.filter((event) => event.__typename === 'ReplyDelta');
      const last = events.at(-1) as StreamedEvent & { message: { content: string; status: string } };
      const stored = await messageStatus(nodeB, messageId);
      expect(last.__typename).toBe('ReplyInterrupted');
      expect(last.message.status).toBe('INTERRUPTED');
      expect(last.message.content).toBe(stored?.content);
      // The terminal event follows the last stored event, so it repeats the number of a lost delta.
      expect(last.sequence).toBeLessThanOrEqual(Math.max(...deltas.map((event) => event.sequence)));
      expect(joinDeltas(events).length).toBeGreaterThan(last.message.content.length);
      expect(joinDeltas(events).startsWith(last.message.content)).toBe(true);
      expect(events.filter((event) => event.__typename === 'ReplyInterrupted')).toHaveLength(1);
    } finally {
      model.chunkDelayMs = 4;
      await client.dispose();
      await nodeC.stop('SIGKILL');
      await proxy.close();
    }
  }, 30_000);
});

describe.skipIf(missing !== undefined)('limits and budgets shared by two instances', () => {
  let limitsDatabase: TestDatabase;
  let limitsModel: ScriptedModel;
  let limitsHome: HomeAssistantSimulator;
  let first: ServerProcess;
  let second: ServerProcess;
  let keys: Record<string, string>;

  beforeAll(async () => {
    limitsDatabase = await createTestDatabase('postgres');
    limitsHome = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
    limitsModel = await startScriptedModel();
    const shared = {
      DATABASE_URL: limitsDatabase.url,
      REDIS_URL: TEST_REDIS_URL,
      // A prefix of this run's own, because other test runs count in the same Redis.
      REDIS_KEY_PREFIX: `ha-ai-agent-test-${process.pid}-${Date.now()}:`,
      OPENAI_BASE_URL: limitsModel.url,
      OPENAI_MODEL: SCRIPTED_MODEL_NAME,
      HA_URL: limitsHome.url,
      HA_TOKEN: limitsHome.token,
      RATE_LIMIT_CHAT_PER_MINUTE: '3',
      MAX_CONCURRENT_REPLIES_PER_USER: '10',
      TOKEN_BUDGET_PER_DAY: '100',
    };
    [first, second] = await Promise.all([
      startServerProcess({ ...shared, INSTANCE_ID: 'limits-a' }),
      startServerProcess({ ...shared, INSTANCE_ID: 'limits-b' }),
    ]);
    const db = await openDatabase(limitsDatabase.url);
    const apiKeys = new ApiKeyService(db);
    keys = { carol: (await apiKeys.create('carol')).key, dave: (await apiKeys.create('dave')).key };
    await db.close();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
    await Promise.all([limitsModel?.close(), limitsHome?.close()]);
    await limitsDatabase?.remove();
  });

  async function chatOn(server: ServerProcess, token: string, message: string) {
    return postGraphQL(`${server.url}/graphql`, CHAT_MUTATION, { input: { message } }, token);
  }

  async function waitForEnd(server: ServerProcess, token: string, replyId: string): Promise<void> {
    await waitFor(
      async () => {
        const response = await postGraphQL(`${server.url}/graphql`, MESSAGE, { id: replyId }, token);
        const status = (response.body.data?.message as { status: string } | null)?.status;
        return status && status !== 'STREAMING' ? true : undefined;
      },
      15_000,
      'the reply to end',
    );
  }

  it('counts chat turns against one rate limit across both instances', async () => {
    const token = keys.carol as string;
    // Slow replies, so none ends (and charges the small budget) before the limit is reached.
    limitsModel.chunkDelayMs = 200;
    try {
      const accepted = [await chatOn(first, token, 'Turn one'), await chatOn(second, token, 'Turn two'), await chatOn(first, token, 'Turn three')];
      for (const response of accepted) expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();

      // The fourth turn of the minute is refused on both instances.
      for (const server of [second, first]) {
        const refused = await chatOn(server, token, 'One turn too many');
        expect(refused.status).toBe(429);
        expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
        expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      }
    } finally {
      limitsModel.chunkDelayMs = 0;
    }
  });

  it('counts tokens against one daily budget across both instances', async () => {
    const token = keys.dave as string;
    const started = await chatOn(first, token, 'Spend the budget');
    expect(started.body.errors, JSON.stringify(started.body.errors)).toBeUndefined();
    await waitForEnd(first, token, started.body.data?.chat.reply.id as string);

    const viewer = await postGraphQL(`${second.url}/graphql`, '{ viewer { tokenBudget { limit used remaining } } }', {}, token);
    const budget = viewer.body.data?.viewer.tokenBudget as { limit: number; used: number; remaining: number };
    expect(budget.limit).toBe(100);
    expect(budget.used).toBeGreaterThan(100);
    expect(budget.remaining).toBe(0);

    const refused = await chatOn(second, token, 'One more');
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('BUDGET_EXHAUSTED');
  });
});
