import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolCallSchema } from '../../src/conversations/tool-call.entity.js';
import { openDatabase } from '../../src/db/orm.js';
import type { RecordedServiceCall } from '../../src/simulators/home-assistant/index.js';
import { collectSse, postGraphQL, waitFor, type Collected } from '../support/clients.js';
import {
  CHAT_MUTATION,
  CONFIRM_TOOL_CALL,
  REPLY_STREAM,
  eventsOf,
  setHomeState,
  startTestStack,
  type StreamedEvent,
  type TestStack,
} from '../support/stack.js';

/**
 * Once Home Assistant has received a service call, ending the reply must not record that call as
 * cancelled. The stored tool call, the events subscribers saw and the home have to agree.
 */

const CANCEL = `mutation($id: ID!) { cancelReply(messageId: $id) { id status } }`;
const DELETE_CONVERSATION = `mutation($id: ID!) { deleteConversation(id: $id) { deleted } }`;
const STORED_REPLY = `query($id: ID!) {
  message(id: $id) {
    status
    toolCalls { id name status result error { code message } verification { outcome entities { entityId outcome previousState state } } confirmation { approved } }
  }
}`;
const AUDIT = `query($entityId: String!) { toolExecutions(filter: { entityId: $entityId }, first: 50) { edges { node { id status errorCode } } } }`;

/** Time the simulator holds back the result of a service call it has already run. */
const SERVICE_CALL_LATENCY_MS = 400;

interface StoredToolCall {
  id: string;
  name: string;
  status: string;
  result: Record<string, any> | null;
  error: { code: string; message: string } | null;
  verification: { outcome: string; entities: { entityId: string; outcome: string; previousState: string | null; state: string | null }[] } | null;
  confirmation: { approved: boolean } | null;
}

type ToolCallEvent = StreamedEvent & { toolCall: StoredToolCall };

let stack: TestStack;
let key: string;
let auditor: string;

beforeAll(async () => {
  stack = await startTestStack();
  key = await stack.apiKey('alice');
  auditor = await stack.apiKey('auditor', ['chat', 'read', 'admin']);
});

afterAll(async () => {
  await stack.close();
});

/** Starts a turn with the chat mutation and follows its reply with replyStream from the first event. */
async function startReply(target: TestStack, token: string, message: string): Promise<{ messageId: string; conversationId: string; stream: Collected }> {
  const started = await postGraphQL(target.graphqlUrl, CHAT_MUTATION, { input: { message } }, token);
  expect(started.body.errors, JSON.stringify(started.body.errors)).toBeUndefined();
  const messageId = started.body.data?.chat.reply.id as string;
  const conversationId = started.body.data?.chat.conversation.id as string;
  return { messageId, conversationId, stream: collectSse(target.graphqlUrl, token, REPLY_STREAM, { messageId }) };
}

function untilEvent(stream: Collected, type: string, description: string): Promise<ToolCallEvent> {
  return waitFor(
    () => stream.results.map((result) => result.data?.replyStream as ToolCallEvent | undefined).find((event) => event?.__typename === type),
    10_000,
    description,
  );
}

function untilServiceCall(target: TestStack, callsBefore: number, service: string): Promise<RecordedServiceCall> {
  return waitFor(
    () => target.homeAssistant.serviceCalls.slice(callsBefore).find((call) => `${call.domain}.${call.service}` === service),
    10_000,
    `Home Assistant to receive ${service}`,
  );
}

async function storedReply(messageId: string): Promise<{ status: string; toolCalls: StoredToolCall[] }> {
  const response = await postGraphQL(stack.graphqlUrl, STORED_REPLY, { id: messageId }, key);
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
  return response.body.data?.message;
}

async function auditStatus(entityId: string, toolCallId: string): Promise<string | undefined> {
  const response = await postGraphQL(stack.graphqlUrl, AUDIT, { entityId }, auditor);
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
  const edges = response.body.data?.toolExecutions.edges as { node: { id: string; status: string } }[];
  return edges.find((edge) => edge.node.id === toolCallId)?.node.status;
}

/** Returns the ToolCall events of one tool call, in order. */
function toolCallEvents(events: StreamedEvent[], toolCallId: string): ToolCallEvent[] {
  return (events as ToolCallEvent[]).filter((event) => event.__typename.startsWith('ToolCall') && event.toolCall.id === toolCallId);
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

describe('cancelReply during a service call', () => {
  it('records an approved call Home Assistant ran', async () => {
    await setHomeState(stack, 'cover.garage_door', 'closed');
    const { messageId, stream } = await startReply(stack, key, 'Open the garage door');
    const awaiting = await untilEvent(stream, 'ToolCallAwaitingConfirmation', 'a confirmation request');
    const callsBefore = stack.homeAssistant.serviceCalls.length;
    const requestsBefore = stack.model.requests.length;

    stack.homeAssistant.faults.serviceCallLatencyMs = SERVICE_CALL_LATENCY_MS;
    try {
      const approved = await postGraphQL(stack.graphqlUrl, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true }, key);
      expect(approved.body.data?.confirmToolCall.status).toBe('RUNNING');
      await untilServiceCall(stack, callsBefore, 'cover.open_cover');
      const cancelled = await postGraphQL(stack.graphqlUrl, CANCEL, { id: messageId }, key);
      expect(cancelled.body.errors, JSON.stringify(cancelled.body.errors)).toBeUndefined();
      expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
    } finally {
      stack.homeAssistant.faults.serviceCallLatencyMs = 0;
    }
    await stream.done;

    expect(stack.homeAssistant.getState('cover.garage_door')?.state).toBe('open');
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore).map((call) => `${call.domain}.${call.service}`)).toEqual(['cover.open_cover']);

    const reply = await storedReply(messageId);
    expect(reply.status).toBe('CANCELLED');
    const stored = reply.toolCalls.find((call) => call.id === awaiting.toolCall.id)!;
    expect(stored.status).toBe('COMPLETED');
    expect(stored.confirmation).toEqual({ approved: true });
    expect(stored.error).toBeNull();
    expect(stored.verification).toEqual({
      outcome: 'CHANGED',
      entities: [{ entityId: 'cover.garage_door', outcome: 'CHANGED', previousState: 'closed', state: 'open' }],
    });
    expect(stored.result).toMatchObject({ service: 'cover.open_cover', outcome: 'changed' });
    expect(await auditStatus('cover.garage_door', stored.id)).toBe('COMPLETED');

    const events = eventsOf(stream.results, 'replyStream');
    const finished = toolCallEvents(events, stored.id).filter((event) => event.__typename === 'ToolCallFinished');
    expect(finished).toHaveLength(1);
    expect(finished[0]?.toolCall.status).toBe('COMPLETED');
    expect(finished[0]?.toolCall.verification).toEqual(stored.verification);
    expect(finished[0]?.toolCall.result).toEqual(stored.result);
    expect(events.at(-1)?.__typename).toBe('ReplyCancelled');
    // The reply ends after the tool; the model gets no further round.
    expect(stack.model.requests).toHaveLength(requestsBefore);
  });

  it('records a call without confirmation Home Assistant ran', async () => {
    await setHomeState(stack, 'light.kitchen', 'on');
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    stack.homeAssistant.faults.serviceCallLatencyMs = SERVICE_CALL_LATENCY_MS;
    let messageId: string;
    let stream: Collected;
    let requestsBefore: number;
    try {
      ({ messageId, stream } = await startReply(stack, key, 'Turn off the kitchen light'));
      await untilServiceCall(stack, callsBefore, 'light.turn_off');
      requestsBefore = stack.model.requests.length;
      const cancelled = await postGraphQL(stack.graphqlUrl, CANCEL, { id: messageId }, key);
      expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
    } finally {
      stack.homeAssistant.faults.serviceCallLatencyMs = 0;
    }
    await stream.done;

    expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('off');
    const reply = await storedReply(messageId);
    expect(reply.status).toBe('CANCELLED');
    const stored = reply.toolCalls.find((call) => call.name === 'call_service')!;
    expect(stored.status).toBe('COMPLETED');
    expect(stored.verification).toEqual({
      outcome: 'CHANGED',
      entities: [{ entityId: 'light.kitchen', outcome: 'CHANGED', previousState: 'on', state: 'off' }],
    });
    expect(await auditStatus('light.kitchen', stored.id)).toBe('COMPLETED');

    const events = eventsOf(stream.results, 'replyStream');
    const finished = toolCallEvents(events, stored.id).filter((event) => event.__typename === 'ToolCallFinished');
    expect(finished.map((event) => event.toolCall.status)).toEqual(['COMPLETED']);
    expect(finished[0]?.toolCall.verification).toEqual(stored.verification);
    expect(events.at(-1)?.__typename).toBe('ReplyCancelled');
    expect(stack.model.requests).toHaveLength(requestsBefore);
  });

  it('agrees with Home Assistant whichever of approve and cancel wins', async () => {
    // Positive offsets send the cancel that many milliseconds after the approval, negative ones before it.
    for (const offsetMs of [-4, -2, 0, 2, 4, 6, 10]) {
      await setHomeState(stack, 'cover.garage_door', 'closed');
      const { messageId, stream } = await startReply(stack, key, 'Open the garage door');
      const awaiting = await untilEvent(stream, 'ToolCallAwaitingConfirmation', 'a confirmation request');
      const callsBefore = stack.homeAssistant.serviceCalls.length;

      const approve = () => postGraphQL(stack.graphqlUrl, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true }, key);
      const cancel = () => postGraphQL(stack.graphqlUrl, CANCEL, { id: messageId }, key);
      const first = offsetMs >= 0 ? approve() : cancel();
      await sleep(Math.abs(offsetMs));
      const second = offsetMs >= 0 ? cancel() : approve();
      await Promise.all([first, second]);
      await stream.done;

      const sent = stack.homeAssistant.serviceCalls.slice(callsBefore).filter((call) => call.domain === 'cover');
      const reply = await storedReply(messageId);
      const stored = reply.toolCalls.find((call) => call.id === awaiting.toolCall.id)!;
      const events = eventsOf(stream.results, 'replyStream');
      const last = toolCallEvents(events, stored.id).at(-1);
      const label = `cancel at ${offsetMs} ms from the approval: ${sent.length} call(s) sent, stored ${stored.status}`;

      expect(sent.length, label).toBeLessThanOrEqual(1);
      expect(stack.homeAssistant.getState('cover.garage_door')?.state, label).toBe(sent.length === 1 ? 'open' : 'closed');
      expect(stored.status, label).toBe(sent.length === 1 ? 'COMPLETED' : 'CANCELLED');
      expect(last?.__typename, label).toBe('ToolCallFinished');
      expect(last?.toolCall.status, label).toBe(stored.status);
      expect(await auditStatus('cover.garage_door', stored.id), label).toBe(stored.status);
    }
  });

  it('sends nothing when the cancel comes first', async () => {
    await setHomeState(stack, 'cover.garage_door', 'closed');
    const { messageId, stream } = await startReply(stack, key, 'Open the garage door');
    const awaiting = await untilEvent(stream, 'ToolCallAwaitingConfirmation', 'a confirmation request');
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    // An approval stored by another instance whose bus message was lost: the turn would see it only at
    // its next read of the tool call, about 2 s later, and the cancel arrives before that.
    const approvedElsewhere = await stack.app.services.db
      .fork()
      .nativeUpdate(
        ToolCallSchema,
        { id: awaiting.toolCall.id, status: 'AWAITING_CONFIRMATION' },
        { status: 'RUNNING', decision: 'APPROVED', decidedBy: 'alice', decidedAt: new Date() },
      );
    expect(approvedElsewhere).toBe(1);
    const cancelled = await postGraphQL(stack.graphqlUrl, CANCEL, { id: messageId }, key);
    expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
    await stream.done;

    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
    expect(stack.homeAssistant.getState('cover.garage_door')?.state).toBe('closed');
    const stored = (await storedReply(messageId)).toolCalls.find((call) => call.id === awaiting.toolCall.id)!;
    expect(stored.status).toBe('CANCELLED');
    expect(stored.confirmation).toEqual({ approved: true });
    expect(stored.verification).toBeNull();
    expect(await auditStatus('cover.garage_door', stored.id)).toBe('CANCELLED');

    const events = eventsOf(stream.results, 'replyStream');
    expect(toolCallEvents(events, stored.id).map((event) => `${event.__typename} ${event.toolCall.status}`)).toEqual([
      'ToolCallStarted RUNNING',
      'ToolCallAwaitingConfirmation AWAITING_CONFIRMATION',
      'ToolCallFinished CANCELLED',
    ]);
    expect(events.at(-1)?.__typename).toBe('ReplyCancelled');
  });

  it('records an automation Home Assistant saved', async () => {
    const automationEntities = () => stack.homeAssistant.states().filter((state) => state.entity_id.startsWith('automation.'));
    const existing = new Set(automationEntities().map((state) => state.entity_id));
    const { messageId, stream } = await startReply(stack, key, 'Create an automation that turns on the porch light at sunset');
    const awaiting = await untilEvent(stream, 'ToolCallAwaitingConfirmation', 'a confirmation request');
    const requestsBefore = stack.model.requests.length;

    // Every REST response, the one to the saved config included, arrives only after the delay.
    stack.homeAssistant.faults.latencyMs = SERVICE_CALL_LATENCY_MS;
    let created: string;
    try {
      const approved = await postGraphQL(stack.graphqlUrl, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true }, key);
      expect(approved.body.data?.confirmToolCall.status).toBe('RUNNING');
      created = await waitFor(
        () => automationEntities().find((state) => !existing.has(state.entity_id))?.attributes.id as string | undefined,
        10_000,
        'Home Assistant to save the automation',
      );
      const cancelled = await postGraphQL(stack.graphqlUrl, CANCEL, { id: messageId }, key);
      expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
    } finally {
      stack.homeAssistant.faults.latencyMs = 0;
    }
    await stream.done;

    const stored = (await storedReply(messageId)).toolCalls.find((call) => call.id === awaiting.toolCall.id)!;
    expect(stored.status).toBe('COMPLETED');
    expect(stored.result).toMatchObject({ created: true, automation_id: created });
    expect(stored.verification?.outcome).toBe('CHANGED');
    const exported = await postGraphQL(stack.graphqlUrl, '{ exportMyData }', {}, key);
    const records = exported.body.data?.exportMyData.createdAutomations as { automationId: string }[];
    expect(records.map((record) => record.automationId)).toContain(created);

    const events = eventsOf(stream.results, 'replyStream');
    const finished = toolCallEvents(events, stored.id).filter((event) => event.__typename === 'ToolCallFinished');
    expect(finished.map((event) => event.toolCall.status)).toEqual(['COMPLETED']);
    expect(events.at(-1)?.__typename).toBe('ReplyCancelled');
    expect(stack.model.requests).toHaveLength(requestsBefore);
  });

  it('finishes the call before deleting the conversation', async () => {
    await setHomeState(stack, 'light.kitchen', 'on');
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    stack.homeAssistant.faults.serviceCallLatencyMs = SERVICE_CALL_LATENCY_MS;
    let stream: Collected;
    try {
      const started = await startReply(stack, key, 'Turn off the kitchen light');
      stream = started.stream;
      await untilServiceCall(stack, callsBefore, 'light.turn_off');
      const deleted = await postGraphQL(stack.graphqlUrl, DELETE_CONVERSATION, { id: started.conversationId }, key);
      expect(deleted.body.data?.deleteConversation.deleted).toBe(true);
    } finally {
      stack.homeAssistant.faults.serviceCallLatencyMs = 0;
    }
    await stream.done.catch(() => {});

    expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('off');
    const events = stream.results.map((result) => result.data?.replyStream as ToolCallEvent | undefined).filter((event) => event !== undefined);
    const finished = events.filter((event) => event.__typename === 'ToolCallFinished' && event.toolCall.name === 'call_service');
    expect(finished.map((event) => event.toolCall.status)).toEqual(['COMPLETED']);
    expect(finished[0]?.toolCall.verification?.outcome).toBe('CHANGED');
    const logged = stack.logs.filter((line) => line.event === 'tool.finished' && line.tool === 'call_service').at(-1);
    expect(logged).toMatchObject({ status: 'COMPLETED', verified: 'CHANGED' });
  });
});

describe('shutdown during a service call', () => {
  it('records the call Home Assistant ran', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-shutdown-call-'));
    const own = await startTestStack({ dataDir });
    try {
      const user = await own.apiKey('alice');
      await setHomeState(own, 'light.kitchen', 'on');
      const callsBefore = own.homeAssistant.serviceCalls.length;
      own.homeAssistant.faults.serviceCallLatencyMs = SERVICE_CALL_LATENCY_MS;
      const { messageId, stream } = await startReply(own, user, 'Turn off the kitchen light');
      await untilServiceCall(own, callsBefore, 'light.turn_off');

      await own.app.close(0);
      await stream.done;

      expect(own.homeAssistant.getState('light.kitchen')?.state).toBe('off');
      const events = eventsOf(stream.results, 'replyStream');
      expect(events.at(-1)?.__typename).toBe('ReplyInterrupted');
      const finished = (events as ToolCallEvent[]).filter((event) => event.__typename === 'ToolCallFinished' && event.toolCall.name === 'call_service');
      expect(finished.map((event) => event.toolCall.status)).toEqual(['COMPLETED']);

      const db = await openDatabase(own.databaseUrl);
      try {
        const rows = await db.fork().find(ToolCallSchema, { messageId, name: 'call_service' });
        expect(rows.map((row) => row.status)).toEqual(['COMPLETED']);
        expect(rows[0]?.verification?.outcome).toBe('CHANGED');
      } finally {
        await db.close();
      }
    } finally {
      await own.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
