import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse } from '../support/clients.js';
import { CHAT_STREAM, eventsOf, joinDeltas, parseToolMessage, setHomeState, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

type Finished = {
  id: string;
  name: string;
  status: string;
  arguments: Record<string, any>;
  result: Record<string, any>;
  error: { code: string; message: string } | null;
  verification: { outcome: string } | null;
};

async function turn(stack: TestStack, key: string, message: string): Promise<StreamedEvent[]> {
  const stream = collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message } });
  await stream.done;
  return eventsOf(stream.results, 'chatStream');
}

/**
 * The finished tool calls in the order the model asked for them. Calls of one round run in parallel and
 * may finish in any order, but their ids (UUIDv7) are made in request order.
 */
function finished(events: StreamedEvent[]): Finished[] {
  return events
    .filter((event) => event.__typename === 'ToolCallFinished')
    .map((event) => event.toolCall as Finished)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function toolNames(body: { tools?: { function: { name: string } }[] }): string[] {
  return (body.tools ?? []).map((tool) => tool.function.name);
}

describe('tools', () => {
  let stack: TestStack;
  let key: string;

  beforeAll(async () => {
    stack = await startTestStack();
    key = await stack.apiKey('alice');
  });

  afterAll(async () => {
    await stack.close();
  });

  it('reads the history of a sensor', async () => {
    for (const value of ['21.0', '21.4', '22.0']) stack.homeAssistant.setState('sensor.kitchen_temperature', value);
    const events = await turn(stack, key, 'What was the kitchen temperature today?');
    const [search, history] = finished(events);
    expect(search?.name).toBe('search_entities');
    expect(history).toMatchObject({ name: 'get_history', status: 'COMPLETED', arguments: { entity_ids: ['sensor.kitchen_temperature'], hours: 24 } });
    const states = history!.result.entities[0].states.map((row: { state: string }) => row.state);
    expect(states).toEqual(['21.8', '21.0', '21.4', '22.0']);
    expect(history!.result.entities[0].name).toBe('Kitchen Temperature');
    expect(joinDeltas(events)).toBe('Kitchen Temperature over the last 24 hours: 21.8 °C, 21.0 °C, 21.4 °C, 22.0 °C (3 changes); now 22.0 °C.');
  });

  it('rejects history of hidden entities', async () => {
    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'get_history', arguments: { entity_ids: ['sensor.router_uptime'] } }] });
    const [refused] = finished(await turn(stack, key, 'Show the router history'));
    expect(refused).toMatchObject({
      status: 'REJECTED',
      error: { code: 'NOT_FOUND', message: 'Unknown or not exposed: sensor.router_uptime. Find entity ids with search_entities.' },
    });
  });

  it('lists services with the policy', async () => {
    const events = await turn(stack, key, 'Which services does the lock domain have?');
    const [listed] = finished(events);
    expect(listed?.name).toBe('list_services');
    const services = Object.fromEntries((listed!.result.services as { service: string }[]).map((service) => [service.service, service]));
    expect(services.lock).toMatchObject({ allowed: true });
    expect(services.lock).not.toHaveProperty('may_need_confirmation');
    expect(services.unlock).toMatchObject({ allowed: true, may_need_confirmation: true });
    expect(joinDeltas(events)).toMatch(/^The lock domain has \d+ services\. I may use: lock, open, unlock\.$/);
  });

  it('reads an area and flags unknown ids', async () => {
    stack.model.enqueue({
      kind: 'tool_calls',
      calls: [
        { name: 'get_states', arguments: { area: 'Office' } },
        { name: 'get_states', arguments: { entity_ids: ['light.kitchen', 'light.nowhere', 'sensor.router_uptime'] } },
      ],
    });
    const [office, mixed] = finished(await turn(stack, key, 'Office status please'));
    expect(office!.result.states.map((state: { entity_id: string }) => state.entity_id)).toEqual([
      'light.office_desk_lamp',
      'sensor.office_desk_power',
      'switch.office_monitor',
    ]);
    expect(office!.result.states[0]).toMatchObject({ name: 'Office Desk Lamp', area: 'Office' });
    expect(mixed!.result.states.map((state: { entity_id: string }) => state.entity_id)).toEqual(['light.kitchen']);
    expect(mixed!.result.unknown_entity_ids).toEqual(['light.nowhere', 'sensor.router_uptime']);
  });

  it('resolves an area to exposed entities', async () => {
    await setHomeState(stack, 'light.kitchen', 'on');
    await setHomeState(stack, 'light.kitchen_cabinets', 'on');
    const callsBefore = stack.homeAssistant.serviceCalls.length;
    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'call_service', arguments: { domain: 'light', service: 'turn_off', area_ids: ['Kitchen'] } }] });
    const [call] = finished(await turn(stack, key, 'Kitchen lights off'));
    expect(call?.verification?.outcome).toBe('CHANGED');
    expect(call!.result.entities.map((entity: { entity_id: string }) => entity.entity_id)).toEqual(['light.kitchen', 'light.kitchen_cabinets']);
    // Home Assistant gets the resolved entity ids, never the area, so it cannot reach anything unexposed.
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore).map((recorded) => recorded.target)).toEqual([
      { entity_id: ['light.kitchen', 'light.kitchen_cabinets'] },
    ]);
  });

  it('rejects invalid service calls', async () => {
    const callsBefore = stack.homeAssistant.serviceCalls.length;
    stack.model.enqueue({
      kind: 'tool_calls',
      calls: [
        { name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: ['light.does_not_exist'] } },
        { name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: ['switch.coffee_machine'] } },
        { name: 'call_service', arguments: { domain: 'homeassistant', service: 'restart' } },
        { name: 'call_service', arguments: { domain: 'shell_command', service: 'anything', entity_ids: ['light.kitchen'] } },
        { name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'], data: { brightnes: 40 } } },
        { name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'], data: { entity_id: 'lock.front_door' } } },
        { name: 'call_service', arguments: { domain: 'light', service: 'blink', entity_ids: ['light.kitchen'] } },
        { name: 'call_service', arguments: { domain: 'scene', service: 'apply', data: { entities: { 'lock.front_door': 'unlocked' } } } },
      ],
    });
    const calls = finished(await turn(stack, key, 'Please try these'));
    expect(calls.map((call) => [call.status, call.error?.code])).toEqual([
      ['REJECTED', 'NOT_FOUND'],
      ['REJECTED', 'BAD_USER_INPUT'],
      ['REJECTED', 'FORBIDDEN'],
      ['REJECTED', 'FORBIDDEN'],
      ['REJECTED', 'BAD_USER_INPUT'],
      ['REJECTED', 'BAD_USER_INPUT'],
      ['REJECTED', 'NOT_FOUND'],
      ['REJECTED', 'FORBIDDEN'],
    ]);
    expect(calls[0]?.error?.message).toBe(
      'These entities do not exist or are not exposed to you: light.does_not_exist. Nothing was done. Find entity ids with search_entities.',
    );
    expect(calls[1]?.error?.message).toBe('switch.coffee_machine is not a light entity; call a switch service for it, such as switch.turn_on.');
    expect(calls[2]?.error?.message).toBe('homeassistant.restart is on the list of services the agent never calls (AGENT_DENIED_SERVICES). Nothing was done.');
    expect(calls[4]?.error?.message).toMatch(/^Invalid data for light\.turn_on: unknown fields brightnes\. Its fields: .*brightness_pct/);
    expect(calls.every((call) => call.verification === null)).toBe(true);
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
  });

  it('runs a script through its own service', async () => {
    const callsBefore = stack.homeAssistant.serviceCalls.length;
    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'call_service', arguments: { domain: 'script', service: 'good_night' } }] });
    const [call] = finished(await turn(stack, key, 'Good night'));
    expect(call).toMatchObject({ status: 'COMPLETED', result: { service: 'script.good_night' } });
    expect(call!.result.entities.map((entity: { entity_id: string }) => entity.entity_id)).toEqual(['script.good_night']);
    const recorded = stack.homeAssistant.serviceCalls.slice(callsBefore);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ domain: 'script', service: 'good_night', target: {} });
    expect(recorded[0]?.error).toBeUndefined();
  });

  it('runs one round in parallel', async () => {
    await setHomeState(stack, 'light.kitchen', 'on');
    await setHomeState(stack, 'light.hallway', 'on');
    stack.homeAssistant.faults.latencyMs = 200;
    try {
      stack.model.enqueue({
        kind: 'tool_calls',
        calls: [
          { name: 'call_service', arguments: { domain: 'light', service: 'turn_off', entity_ids: ['light.kitchen'] } },
          { name: 'call_service', arguments: { domain: 'light', service: 'turn_off', entity_ids: ['light.hallway'] } },
        ],
      });
      const before = stack.model.requests.length;
      const events = await turn(stack, key, 'Everything off');
      const order = events.filter((event) => event.__typename.startsWith('ToolCall')).map((event) => event.__typename);
      expect(order).toEqual(['ToolCallStarted', 'ToolCallStarted', 'ToolCallFinished', 'ToolCallFinished']);
      expect(finished(events).map((call) => call.verification?.outcome)).toEqual(['CHANGED', 'CHANGED']);

      const next = stack.model.requests[before + 1]!.body.messages as { role: string; tool_call_id?: string; content: string }[];
      const answers = next.filter((message) => message.role === 'tool');
      expect(answers).toHaveLength(2);
      expect(parseToolMessage(answers[0]!.content).entities[0].entity_id).toBe('light.kitchen');
      expect(parseToolMessage(answers[1]!.content).entities[0].entity_id).toBe('light.hallway');
    } finally {
      stack.homeAssistant.faults.latencyMs = 0;
    }
  });

  it('stops tools after a repeated call', async () => {
    const call = { name: 'get_states', arguments: { entity_ids: ['light.kitchen'] } };
    const reordered = { name: 'get_states', arguments: '{ "entity_ids" : ["light.kitchen"] }' };
    stack.model.enqueue({ kind: 'tool_calls', calls: [call] }, { kind: 'tool_calls', calls: [reordered] });
    const before = stack.model.requests.length;
    const events = await turn(stack, key, 'Look at the kitchen light twice');
    const [first, repeated] = finished(events);
    expect(first?.status).toBe('COMPLETED');
    expect(repeated).toMatchObject({
      status: 'REJECTED',
      error: { code: 'CONFLICT', message: 'This exact call was already made in this turn; use its result above instead of repeating it.' },
    });
    expect(toolNames(stack.model.requests[before + 1]!.body)).toHaveLength(8);
    expect(toolNames(stack.model.requests[before + 2]!.body)).toEqual([]);
    expect(stack.model.requests).toHaveLength(before + 3);
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
  });

  it('runs 16 of 300 calls in one round', async () => {
    await setHomeState(stack, 'light.kitchen', 'off');
    const callsBefore = stack.homeAssistant.serviceCalls.length;
    const calls = Array.from({ length: 300 }, (_, index) => ({
      name: 'call_service',
      arguments: { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'], data: { brightness: index % 256 } },
    }));
    stack.model.enqueue({ kind: 'tool_calls', calls });
    const before = stack.model.requests.length;

    const events = await turn(stack, key, 'Hello');

    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toHaveLength(16);
    const stored = finished(events);
    expect(stored).toHaveLength(300);
    expect(stored.slice(0, 16).every((call) => call.status === 'COMPLETED')).toBe(true);
    expect(stored.slice(16).every((call) => call.status === 'REJECTED')).toBe(true);
    expect(stored[16]?.error?.code).toBe('BAD_USER_INPUT');
    expect(stored[16]?.arguments).toMatchObject({ entity_ids: ['light.kitchen'], data: { brightness: 16 } });
    const answers = (stack.model.requests[before + 1]!.body.messages as { role: string }[]).filter((message) => message.role === 'tool');
    expect(answers).toHaveLength(300);
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
  });

  it('cuts a long tool result for the model', async () => {
    const title = 'Long title '.repeat(4_000);
    await setHomeState(stack, 'media_player.living_room_tv', 'playing', { media_title: title });
    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'get_states', arguments: { entity_ids: ['media_player.living_room_tv'] } }] });
    const before = stack.model.requests.length;

    const events = await turn(stack, key, 'Hello');

    const [read] = finished(events);
    expect(read?.status).toBe('COMPLETED');
    expect(read?.result.states[0].attributes.media_title).toBe(title);
    const answer = (stack.model.requests[before + 1]!.body.messages as { role: string; content: string }[]).find((message) => message.role === 'tool')!;
    const [open, json, close, note] = answer.content.split('\n');
    expect(open).toBe('<tool_result name="get_states">');
    expect(json).toHaveLength(32_000);
    expect(close).toBe('</tool_result>');
    expect(note).toMatch(/^This result was cut after 32000 of its \d+ characters, so the JSON above is incomplete\. Narrow the request/);
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
  });
});

describe('tool limits', () => {
  it('rejects calls past the limit per round', async () => {
    const stack = await startTestStack({ env: { AGENT_MAX_TOOL_CALLS_PER_ROUND: '3' } });
    try {
      const key = await stack.apiKey('alice');
      const lights = ['light.kitchen', 'light.hallway', 'light.bedroom', 'light.porch', 'light.garage'];
      for (const light of lights) await setHomeState(stack, light, 'off');
      const turnOn = (light: string) => ({ name: 'call_service', arguments: { domain: 'light', service: 'turn_on', entity_ids: [light] } });
      stack.model.enqueue({ kind: 'tool_calls', calls: lights.map(turnOn) }, { kind: 'tool_calls', calls: lights.slice(3).map(turnOn) });

      const events = await turn(stack, key, 'Hello');

      const sent = stack.homeAssistant.serviceCalls.map((call) => (call.target as { entity_id: string[] }).entity_id[0]);
      expect(sent).toEqual(expect.arrayContaining(lights));
      expect(sent).toHaveLength(5);
      for (const light of lights) expect(stack.homeAssistant.getState(light)?.state).toBe('on');

      const calls = finished(events);
      expect(calls.map((call) => call.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'REJECTED', 'REJECTED', 'COMPLETED', 'COMPLETED']);
      const message =
        'Not run: you requested 5 tool calls at once, and at most 3 run per round (AGENT_MAX_TOOL_CALLS_PER_ROUND). Make this call again in the next round if you still need it.';
      expect(calls[3]).toMatchObject({ error: { code: 'BAD_USER_INPUT', message }, result: { error: { code: 'BAD_USER_INPUT', message } } });
      expect(calls[3]?.arguments.entity_ids).toEqual(['light.porch']);
      expect(calls[4]?.arguments.entity_ids).toEqual(['light.garage']);
      expect(calls[5]?.verification?.outcome).toBe('CHANGED');

      const second = stack.model.requests[1]!.body.messages as { role: string; tool_call_id?: string; content: string }[];
      const results = second.filter((message) => message.role === 'tool');
      const requested = (second.find((message) => message.role === 'assistant') as unknown as { tool_calls: { id: string }[] }).tool_calls;
      expect(results.map((result) => result.tool_call_id)).toEqual(requested.map((call) => call.id));
      expect(parseToolMessage(results[3]!.content)).toEqual({ error: { code: 'BAD_USER_INPUT', message } });
      expect(toolNames(stack.model.requests[2]!.body)).toHaveLength(8);
      expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
    } finally {
      await stack.close();
    }
  });

  it('offers no tools after the last round', async () => {
    const stack = await startTestStack({ env: { AGENT_MAX_TOOL_ROUNDS: '1' } });
    try {
      const key = await stack.apiKey('alice');
      const events = await turn(stack, key, 'Turn off the kitchen light');
      expect(toolNames(stack.model.requests[0]!.body)).toHaveLength(8);
      expect(toolNames(stack.model.requests[1]!.body)).toEqual([]);
      expect(joinDeltas(events)).toBe('I found Kitchen Light, but I cannot turn it off, because the call_service tool is not available to me.');
      expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('on');
    } finally {
      await stack.close();
    }
  });

  it('fails a tool past its timeout', async () => {
    const stack = await startTestStack({ env: { AGENT_TOOL_TIMEOUT_SECONDS: '1' } });
    try {
      const key = await stack.apiKey('alice');
      await turn(stack, key, 'Hello');
      stack.homeAssistant.faults.latencyMs = 1_500;
      const events = await turn(stack, key, 'Turn off the kitchen light');
      const call = finished(events).find((item) => item.name === 'call_service')!;
      expect(call).toMatchObject({
        status: 'FAILED',
        error: { code: 'HOME_ASSISTANT_UNAVAILABLE', message: 'The tool did not finish within 1 s, so its outcome is unknown.' },
      });
      expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
      expect(joinDeltas(events)).toBe('Sorry, I could not turn off Kitchen Light: The tool did not finish within 1 s, so its outcome is unknown.');
    } finally {
      await stack.close();
    }
  });

  it('fails a command past the request timeout', async () => {
    const stack = await startTestStack({ env: { HA_REQUEST_TIMEOUT_SECONDS: '1' } });
    try {
      const key = await stack.apiKey('alice');
      await turn(stack, key, 'Hello');
      stack.homeAssistant.faults.latencyMs = 1_500;
      const events = await turn(stack, key, 'Turn off the kitchen light');
      const call = finished(events).find((item) => item.name === 'call_service')!;
      expect(call).toMatchObject({ status: 'FAILED', error: { code: 'HOME_ASSISTANT_UNAVAILABLE' } });
      expect(call.error?.message).toBe(
        'Home Assistant did not respond to call_service within 1 s. The call may not have reached Home Assistant; nothing was verified.',
      );
    } finally {
      await stack.close();
    }
  });

  it('reports a failed service run', async () => {
    const stack = await startTestStack();
    try {
      const key = await stack.apiKey('alice');
      stack.homeAssistant.faults.failNextServiceCalls = 1;
      const events = await turn(stack, key, 'Turn off the kitchen light');
      const call = finished(events).find((item) => item.name === 'call_service')!;
      expect(call).toMatchObject({
        status: 'FAILED',
        error: {
          code: 'HOME_ASSISTANT_UNAVAILABLE',
          message: 'Home Assistant failed to run light.turn_off (home_assistant_error). Tell the user it did not work.',
        },
      });
      expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('on');
    } finally {
      await stack.close();
    }
  });
});
