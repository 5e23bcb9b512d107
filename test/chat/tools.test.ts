import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient, type Collected } from '../support/clients.js';
import { CHAT_STREAM, CONFIRM_TOOL_CALL, eventsOf, joinDeltas, setHomeState, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack();
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

const TOOL_CALLS = `query($id: ID!) { message(id: $id) { status content toolCalls { id name arguments result status error { code message } summary expiresAt preview verification { outcome entities { entityId outcome previousState state } } confirmation { approved decidedAt } } } }`;

interface StoredToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
  result: Record<string, any>;
  status: string;
  error: { code: string; message: string } | null;
  summary: string | null;
  expiresAt: string | null;
  preview: Record<string, any> | null;
  verification: { outcome: string; entities: { entityId: string; outcome: string; previousState: string | null; state: string | null }[] } | null;
  confirmation: { approved: boolean; decidedAt: string } | null;
}

async function chat(message: string, token = key): Promise<{ events: StreamedEvent[]; messageId: string }> {
  const stream = collectSse(stack.graphqlUrl, token, CHAT_STREAM, { input: { message } });
  await stream.done;
  const events = eventsOf(stream.results, 'chatStream');
  return { events, messageId: events[0]?.messageId as string };
}

async function storedCalls(messageId: string, token = key): Promise<{ content: string; status: string; toolCalls: StoredToolCall[] }> {
  const response = await postGraphQL(stack.graphqlUrl, TOOL_CALLS, { id: messageId }, token);
  return response.body.data?.message;
}

/** Starts a turn and waits until it requests a confirmation. */
async function untilConfirmation(
  message: string,
  token = key,
): Promise<{ stream: Collected; awaiting: StreamedEvent & { toolCall: { id: string }; summary: string; expiresAt: string } }> {
  const stream = collectSse(stack.graphqlUrl, token, CHAT_STREAM, { input: { message } });
  const awaiting = await waitFor(
    () => stream.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation'),
    10_000,
    'a confirmation request',
  );
  return { stream, awaiting };
}

function confirm(toolCallId: string, approve: boolean, token = key) {
  return postGraphQL(stack.graphqlUrl, CONFIRM_TOOL_CALL, { id: toolCallId, approve }, token);
}

describe('tool round trip', () => {
  it('turns off the kitchen light and verifies it', async () => {
    await setHomeState(stack, 'light.kitchen', 'on');
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    const { events, messageId } = await chat('Turn off the kitchen light');

    expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('off');
    const calls = stack.homeAssistant.serviceCalls.slice(callsBefore);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ domain: 'light', service: 'turn_off', transport: 'websocket', target: { entity_id: ['light.kitchen'] } });

    const reply = await storedCalls(messageId);
    expect(reply.status).toBe('COMPLETED');
    expect(reply.toolCalls.map((call) => call.name)).toEqual(['search_entities', 'call_service']);
    expect(reply.toolCalls[0]?.result.entities[0]).toMatchObject({ entity_id: 'light.kitchen', name: 'Kitchen Light', area: 'Kitchen' });
    const serviceCall = reply.toolCalls[1]!;
    expect(serviceCall.arguments).toMatchObject({ domain: 'light', service: 'turn_off', entity_ids: ['light.kitchen'] });
    expect(serviceCall.status).toBe('COMPLETED');
    expect(serviceCall.result).toEqual({
      service: 'light.turn_off',
      outcome: 'changed',
      entities: [{ entity_id: 'light.kitchen', name: 'Kitchen Light', outcome: 'changed', previous_state: 'on', state: 'off' }],
    });
    expect(serviceCall.verification).toEqual({
      outcome: 'CHANGED',
      entities: [{ entityId: 'light.kitchen', outcome: 'CHANGED', previousState: 'on', state: 'off' }],
    });
    expect(reply.content).toBe('Done: Kitchen Light is now off.');

    const finished = events.filter((event) => event.__typename === 'ToolCallFinished');
    expect(finished.map((event) => (event.toolCall as { id: string }).id)).toEqual(reply.toolCalls.map((call) => call.id));
    expect((finished[1]?.toolCall as { verification: unknown } | undefined)?.verification).toEqual(serviceCall.verification);
    expect(joinDeltas(events)).toBe(reply.content);
  });

  it('reports an unchanged call', async () => {
    await setHomeState(stack, 'light.bedroom', 'off');

    const { messageId } = await chat('Turn off the bedroom light');

    const reply = await storedCalls(messageId);
    const serviceCall = reply.toolCalls.find((call) => call.name === 'call_service')!;
    expect(serviceCall.status).toBe('COMPLETED');
    expect(serviceCall.result.outcome).toBe('unchanged');
    expect(serviceCall.result.note).toContain('do not claim success');
    expect(serviceCall.verification).toEqual({
      outcome: 'UNCHANGED',
      entities: [{ entityId: 'light.bedroom', outcome: 'UNCHANGED', previousState: 'off', state: 'off' }],
    });
    expect(reply.content).toBe('Nothing changed: Bedroom Light is still off.');
  });

  it('reports an unavailable device unchanged', async () => {
    await setHomeState(stack, 'light.garage', 'unavailable');
    try {
      const { messageId } = await chat('Turn on the garage light');
      const reply = await storedCalls(messageId);
      const serviceCall = reply.toolCalls.find((call) => call.name === 'call_service')!;
      expect(serviceCall.verification?.outcome).toBe('UNCHANGED');
      expect(reply.content).toBe('Nothing changed: Garage Light is still unavailable.');
      expect(stack.homeAssistant.getState('light.garage')?.state).toBe('unavailable');
    } finally {
      await setHomeState(stack, 'light.garage', 'off');
    }
  });
});

describe('confirmations', () => {
  it('runs an approved unlock', async () => {
    await setHomeState(stack, 'lock.front_door', 'locked');
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    const { stream, awaiting } = await untilConfirmation('Unlock the front door');
    expect(awaiting.summary).toBe('Unlock Front Door (lock.front_door).');
    expect(Date.parse(awaiting.expiresAt)).toBeGreaterThan(Date.now());
    expect(awaiting.toolCall).toMatchObject({ name: 'call_service', status: 'AWAITING_CONFIRMATION', summary: awaiting.summary });
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');

    const approved = await confirm(awaiting.toolCall.id, true);
    expect(approved.body.errors, JSON.stringify(approved.body.errors)).toBeUndefined();
    expect(approved.body.data?.confirmToolCall).toMatchObject({ id: awaiting.toolCall.id, status: 'RUNNING', confirmation: { approved: true } });

    await stream.done;
    const events = eventsOf(stream.results, 'chatStream');
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
    expect(joinDeltas(events)).toBe('Done: Front Door is now unlocked.');
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('unlocked');
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toHaveLength(1);

    const reply = await storedCalls(awaiting.messageId);
    const unlock = reply.toolCalls.find((call) => call.id === awaiting.toolCall.id)!;
    expect(unlock).toMatchObject({ status: 'COMPLETED', summary: awaiting.summary, confirmation: { approved: true } });
    expect(unlock.preview).toMatchObject({ service: 'lock.unlock', entities: [{ entity_id: 'lock.front_door', name: 'Front Door' }] });
    expect(unlock.verification).toEqual({
      outcome: 'CHANGED',
      entities: [{ entityId: 'lock.front_door', outcome: 'CHANGED', previousState: 'locked', state: 'unlocked' }],
    });

    const again = await confirm(awaiting.toolCall.id, true);
    expect(again.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(again.body.errors?.[0]?.message).toMatch(/^This action was already approved at /);
  });

  it('confirms over graphql-ws too', async () => {
    await setHomeState(stack, 'lock.garden_gate', 'locked');
    const client = wsClient(stack.wsUrl, key);
    try {
      const stream = collectWs(client, CHAT_STREAM, { input: { message: 'Unlock the garden gate' } });
      const awaiting = await waitFor(
        () =>
          stream.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation') as
            | { toolCall: { id: string } }
            | undefined,
        10_000,
        'a confirmation request',
      );
      const confirmation = collectWs(client, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true });
      await confirmation.done;
      expect(confirmation.results[0]?.data?.confirmToolCall.status).toBe('RUNNING');
      await stream.done;
      expect(joinDeltas(eventsOf(stream.results, 'chatStream'))).toBe('Done: Garden Gate is now unlocked.');
      expect(stack.homeAssistant.getState('lock.garden_gate')?.state).toBe('unlocked');
    } finally {
      await client.dispose();
      await setHomeState(stack, 'lock.garden_gate', 'locked');
    }
  });

  it('does nothing when the user declines', async () => {
    await setHomeState(stack, 'lock.front_door', 'locked');
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    const { stream, awaiting } = await untilConfirmation('Unlock the front door');
    const declined = await confirm(awaiting.toolCall.id, false);
    expect(declined.body.data?.confirmToolCall).toMatchObject({ status: 'REJECTED', confirmation: { approved: false } });

    await stream.done;
    const events = eventsOf(stream.results, 'chatStream');
    expect(joinDeltas(events)).toBe('OK, I did not unlock Front Door, because you declined.');
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
    const unlock = (await storedCalls(awaiting.messageId)).toolCalls.find((call) => call.id === awaiting.toolCall.id)!;
    expect(unlock).toMatchObject({ status: 'REJECTED', error: { code: 'FORBIDDEN' }, confirmation: { approved: false } });
    expect(unlock.verification).toBeNull();

    const late = await confirm(awaiting.toolCall.id, true);
    expect(late.body.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT' } });
    expect(late.body.errors?.[0]?.message).toMatch(/already declined/);
  });

  it('hides the confirmation from another user', async () => {
    await setHomeState(stack, 'lock.front_door', 'locked');
    const mallory = await stack.apiKey('mallory');

    const { stream, awaiting } = await untilConfirmation('Unlock the front door');
    const foreign = await confirm(awaiting.toolCall.id, true, mallory);
    expect(foreign.body.errors?.[0]).toMatchObject({ message: 'Tool call not found.', extensions: { code: 'NOT_FOUND' } });
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');

    await confirm(awaiting.toolCall.id, false);
    await stream.done;
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');
  });

  it('needs the control scope to approve', async () => {
    await setHomeState(stack, 'lock.front_door', 'locked');
    const { stream, awaiting } = await untilConfirmation('Unlock the front door');
    const chatOnly = await stack.apiKey('alice', ['chat', 'read']);

    const refused = await confirm(awaiting.toolCall.id, true, chatOnly);
    expect(refused.body.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    const declined = await confirm(awaiting.toolCall.id, false, chatOnly);
    expect(declined.body.data?.confirmToolCall.status).toBe('REJECTED');
    await stream.done;
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');
  });

  it('asks for garage doors, not blinds', async () => {
    await setHomeState(stack, 'cover.garage_door', 'closed');
    const { stream, awaiting } = await untilConfirmation('Open the garage door');
    expect(awaiting.summary).toBe('Open Garage Door (cover.garage_door).');
    await confirm(awaiting.toolCall.id, false);
    await stream.done;
    expect(stack.homeAssistant.getState('cover.garage_door')?.state).toBe('closed');

    await setHomeState(stack, 'cover.living_room_blinds', 'closed');
    const { events } = await chat('Open the living room blinds');
    expect(events.some((event) => event.__typename === 'ToolCallAwaitingConfirmation')).toBe(false);
    expect(joinDeltas(events)).toBe('Done: Living Room Blinds is now open.');
  });

  it('rejects a malformed tool call id', async () => {
    const response = await confirm('not-a-uuid', true);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('ends the wait when the reply is cancelled', async () => {
    await setHomeState(stack, 'lock.front_door', 'locked');
    const { stream, awaiting } = await untilConfirmation('Unlock the front door');

    const cancelled = await postGraphQL(stack.graphqlUrl, `mutation($id: ID!) { cancelReply(messageId: $id) { status } }`, { id: awaiting.messageId }, key);
    expect(cancelled.body.data?.cancelReply.status).toBe('CANCELLED');
    await stream.done;
    expect(eventsOf(stream.results, 'chatStream').at(-1)?.__typename).toBe('ReplyCancelled');

    const unlock = (await storedCalls(awaiting.messageId)).toolCalls.find((call) => call.id === awaiting.toolCall.id)!;
    expect(unlock.status).toBe('CANCELLED');
    const late = await confirm(awaiting.toolCall.id, true);
    expect(late.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(late.body.errors?.[0]?.message).toContain('its reply ended (CANCELLED)');
    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe('locked');
  });
});

describe('confirmation expiry', () => {
  it('expires an unanswered confirmation', async () => {
    const short = await startTestStack({ env: { AGENT_CONFIRMATION_TTL_SECONDS: '1' } });
    try {
      const user = await short.apiKey('alice');
      const stream = collectSse(short.graphqlUrl, user, CHAT_STREAM, { input: { message: 'Unlock the front door' } });
      await stream.done;
      const events = eventsOf(stream.results, 'chatStream');
      const awaiting = events.find((event) => event.__typename === 'ToolCallAwaitingConfirmation') as StreamedEvent & { toolCall: { id: string } };
      expect(awaiting).toBeDefined();
      const finished = events.findLast((event) => event.__typename === 'ToolCallFinished') as StreamedEvent & {
        toolCall: { status: string; error: { code: string; message: string } };
      };
      expect(finished.toolCall.status).toBe('EXPIRED');
      expect(finished.toolCall.error.message).toMatch(/^Nobody confirmed this action before it expired at /);
      expect(joinDeltas(events)).toBe('I did not unlock Front Door: nobody confirmed it in time.');
      expect(short.homeAssistant.getState('lock.front_door')?.state).toBe('locked');

      const late = await postGraphQL(short.graphqlUrl, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true }, user);
      expect(late.body.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(late.body.errors?.[0]?.message).toMatch(/^The confirmation expired at .+ Nothing was done; ask the agent again\.$/);
      expect(short.homeAssistant.serviceCalls.filter((call) => call.domain === 'lock')).toEqual([]);
    } finally {
      await short.close();
    }
  });
});

describe('read-only callers', () => {
  it('offers and runs no changing tool', async () => {
    await setHomeState(stack, 'light.kitchen', 'off');
    const readOnly = await stack.apiKey('reader', ['chat', 'read']);
    const before = stack.model.requests.length;
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    const { messageId } = await chat('Turn on the kitchen light', readOnly);

    const offered = stack.model.requests[before]?.body.tools.map((tool: { function: { name: string } }) => tool.function.name);
    expect(offered).toEqual(['search_entities', 'get_states', 'get_history', 'list_services', 'validate_automation']);
    expect(stack.model.requests[before]?.body.messages[0].content).toContain('This user may only read the home.');

    stack.model.enqueue({
      kind: 'tool_calls',
      calls: [{ name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'] } }],
    });
    const forced = await chat('Turn on the kitchen light', readOnly);
    const reply = await storedCalls(forced.messageId, readOnly);
    expect(reply.toolCalls[0]).toMatchObject({
      name: 'call_service',
      status: 'REJECTED',
      error: { code: 'FORBIDDEN', message: 'This user may only read the home, not change it.' },
    });
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
    expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('off');
    expect((await storedCalls(messageId, readOnly)).status).toBe('COMPLETED');
  });
});

describe('group targets', () => {
  it('checks the members of a targeted group', async () => {
    const groups = await startTestStack({ env: { HA_EXPOSE_ALL: 'true', HA_EXCLUDE_ENTITIES: 'lock.front_door' } });
    try {
      const owner = await groups.apiKey('group-owner');
      await setHomeState(groups, 'group.garage_things', 'off', { friendly_name: 'Garage things', entity_id: ['light.kitchen', 'cover.garage_door'] });
      await setHomeState(groups, 'group.entrance', 'on', { friendly_name: 'Entrance', entity_id: ['group.garage_things', 'lock.front_door'] });
      const callsBefore = groups.homeAssistant.serviceCalls.length;

      // A group holding the garage door waits for a confirmation that names the door.
      groups.model.enqueue({
        kind: 'tool_calls',
        calls: [{ name: 'call_service', arguments: { domain: 'homeassistant', service: 'turn_on', entity_ids: ['group.garage_things'] } }],
      });
      const stream = collectSse(groups.graphqlUrl, owner, CHAT_STREAM, { input: { message: 'Switch on the garage things' } });
      const awaiting = await waitFor(
        () => stream.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation'),
        10_000,
        'a confirmation request',
      );
      expect(awaiting.summary).toContain('Garage Door (cover.garage_door)');
      expect(groups.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
      await postGraphQL(groups.graphqlUrl, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: false }, owner);
      await stream.done;

      // A nested group holding an excluded lock is rejected without calling Home Assistant.
      groups.model.enqueue({
        kind: 'tool_calls',
        calls: [{ name: 'call_service', arguments: { domain: 'homeassistant', service: 'toggle', entity_ids: ['group.entrance'] } }],
      });
      const rejected = collectSse(groups.graphqlUrl, owner, CHAT_STREAM, { input: { message: 'Toggle the entrance' } });
      await rejected.done;
      const messageId = eventsOf(rejected.results, 'chatStream')[0]?.messageId as string;
      const stored = await postGraphQL(groups.graphqlUrl, TOOL_CALLS, { id: messageId }, owner);
      expect(stored.body.data?.message.toolCalls[0]).toMatchObject({
        name: 'call_service',
        status: 'REJECTED',
        error: { code: 'NOT_FOUND' },
      });
      expect(stored.body.data?.message.toolCalls[0].error.message).toContain('contain 1 entity not exposed to you');
      expect(groups.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
      expect(groups.homeAssistant.getState('lock.front_door')?.state).toBe('locked');

      // An automation draft checks the members too.
      const draft = (entityId: string) =>
        JSON.stringify({
          alias: 'Morning',
          triggers: [{ trigger: 'sun', event: 'sunrise' }],
          actions: [{ action: 'homeassistant.turn_on', target: { entity_id: entityId } }],
        });
      const validate = async (entityId: string) => {
        groups.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'validate_automation', arguments: { config: draft(entityId) } }] });
        const turn = collectSse(groups.graphqlUrl, owner, CHAT_STREAM, { input: { message: 'Check this automation' } });
        await turn.done;
        const id = eventsOf(turn.results, 'chatStream')[0]?.messageId as string;
        return (await postGraphQL(groups.graphqlUrl, TOOL_CALLS, { id }, owner)).body.data?.message.toolCalls[0];
      };
      const garage = await validate('group.garage_things');
      expect(garage.result.valid).toBe(true);
      expect(garage.result.preview.warnings.join(' ')).toMatch(/It will run homeassistant\.turn_on on its own, without asking/);
      expect(garage.result.preview.actions[0]).toContain("the groups' members Kitchen Light (light.kitchen), Garage Door (cover.garage_door)");
      const entrance = await validate('group.entrance');
      expect(entrance.status).toBe('REJECTED');
      expect(entrance.result.problems).toEqual([
        'actions[0]: the named groups contain 1 entity not exposed to you, which homeassistant.turn_on would act on; name the exposed entities instead.',
      ]);
    } finally {
      await groups.close();
    }
  });
});
