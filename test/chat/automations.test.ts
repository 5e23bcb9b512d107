import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, postGraphQL, waitFor, type Collected } from '../support/clients.js';
import { CHAT_STREAM, CONFIRM_TOOL_CALL, eventsOf, joinDeltas, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack();
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

type Awaiting = StreamedEvent & { toolCall: { id: string; preview: Record<string, any> }; summary: string };
type Finished = {
  name: string;
  status: string;
  result: Record<string, any>;
  error: { code: string; message: string } | null;
  verification: { outcome: string; entities: { entityId: string; state: string | null }[] } | null;
};

const REQUEST = 'Create an automation that turns on the porch light at sunset';

function start(message: string, conversationId?: string): Collected {
  return collectSse(stack.graphqlUrl, key, CHAT_STREAM, { input: { message, ...(conversationId ? { conversationId } : {}) } });
}

async function awaitingIn(stream: Collected): Promise<Awaiting> {
  return waitFor(
    () => stream.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation') as Awaiting | undefined,
    10_000,
    'a confirmation request',
  );
}

function finishedCalls(events: StreamedEvent[]): Finished[] {
  return events.filter((event) => event.__typename === 'ToolCallFinished').map((event) => event.toolCall as Finished);
}

async function confirm(toolCallId: string, approve: boolean) {
  const response = await postGraphQL(stack.graphqlUrl, CONFIRM_TOOL_CALL, { id: toolCallId, approve }, key);
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
  return response.body.data?.confirmToolCall;
}

async function automationStates(): Promise<string[]> {
  return stack.homeAssistant
    .states()
    .filter((state) => state.entity_id.startsWith('automation.'))
    .map((state) => state.entity_id)
    .sort();
}

describe('automation lifecycle', () => {
  let conversationId: string;
  let automationId: string;

  it('creates a confirmed automation', async () => {
    const existing = await automationStates();
    const stream = start(REQUEST);
    const awaiting = await awaitingIn(stream);
    conversationId = (stream.results[0]?.data?.chatStream as { conversationId: string } | undefined)?.conversationId as string;

    expect(awaiting.summary).toBe('Create the automation "Porch Light on at sunset": when sun: event sunset, do light.turn_on on Porch Light (light.porch).');
    expect(awaiting.toolCall.preview).toMatchObject({
      alias: 'Porch Light on at sunset',
      mode: 'single',
      triggers: ['sun: event sunset'],
      conditions: [],
      actions: ['light.turn_on on Porch Light (light.porch)'],
      entities: [{ entity_id: 'light.porch', name: 'Porch Light' }],
      services: ['light.turn_on'],
      warnings: [],
      config: {
        alias: 'Porch Light on at sunset',
        triggers: [{ trigger: 'sun', event: 'sunset' }],
        actions: [{ action: 'light.turn_on', target: { entity_id: 'light.porch' } }],
      },
    });
    expect(await automationStates()).toEqual(existing);

    const decided = await confirm(awaiting.toolCall.id, true);
    expect(decided.status).toBe('RUNNING');
    await stream.done;

    const events = eventsOf(stream.results, 'chatStream');
    const [search, validate, create] = finishedCalls(events);
    expect(search?.name).toBe('search_entities');
    expect(validate).toMatchObject({ name: 'validate_automation', status: 'COMPLETED', result: { valid: true } });
    expect(create).toMatchObject({
      name: 'create_automation',
      status: 'COMPLETED',
      result: { created: true, alias: 'Porch Light on at sunset', entity_id: 'automation.porch_light_on_at_sunset', state: 'on' },
    });
    expect(create?.verification).toEqual({
      outcome: 'CHANGED',
      entities: [{ entityId: 'automation.porch_light_on_at_sunset', outcome: 'CHANGED', previousState: null, state: 'on' }],
    });
    automationId = create?.result.automation_id;
    expect(automationId).toMatch(/^ha_ai_agent_[0-9a-f]{32}$/);
    expect(stack.homeAssistant.getAutomation(automationId)).toEqual({
      id: automationId,
      alias: 'Porch Light on at sunset',
      description: 'Created by the scripted demo model.',
      mode: 'single',
      triggers: [{ trigger: 'sun', event: 'sunset' }],
      actions: [{ action: 'light.turn_on', target: { entity_id: 'light.porch' } }],
    });
    expect(joinDeltas(events)).toBe(
      'Created the automation "Porch Light on at sunset" (automation.porch_light_on_at_sunset). It will turn on Porch Light at sunset.',
    );
  });

  it('keeps an automation with the same alias', async () => {
    const first = stack.homeAssistant.getAutomation(automationId);
    const stream = start(REQUEST);
    const awaiting = await awaitingIn(stream);
    expect(awaiting.toolCall.preview.warnings).toEqual([
      'An automation named "Porch Light on at sunset" already exists (automation.porch_light_on_at_sunset); it is left untouched and a separate one is created.',
    ]);
    await confirm(awaiting.toolCall.id, true);
    await stream.done;

    const create = finishedCalls(eventsOf(stream.results, 'chatStream')).find((call) => call.name === 'create_automation')!;
    expect(create.result.automation_id).not.toBe(automationId);
    expect(create.result.entity_id).toBe('automation.porch_light_on_at_sunset_2');
    expect(stack.homeAssistant.getAutomation(automationId)).toEqual(first);
    expect(stack.homeAssistant.getState('automation.porch_light_on_at_sunset')?.attributes.id).toBe(automationId);
  });

  it('ignores the id in a draft', async () => {
    const original = stack.homeAssistant.getAutomation('1718300000101');
    const config = [
      'id: "1718300000101"',
      'alias: Hallway Motion Light',
      'trigger:',
      '  - platform: state',
      '    entity_id: binary_sensor.hallway_motion',
      '    to: "on"',
      'action:',
      '  - service: light.turn_on',
      '    entity_id: light.hallway',
    ].join('\n');
    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'create_automation', arguments: { config } }] });
    const stream = start('Make the hallway automation again');
    const awaiting = await awaitingIn(stream);
    expect(awaiting.toolCall.preview.warnings).toEqual([
      'The id in the config is ignored; a new unique id is assigned when the automation is created.',
      'An automation named "Hallway Motion Light" already exists (automation.hallway_motion_light); it is left untouched and a separate one is created.',
    ]);
    expect(awaiting.toolCall.preview.triggers).toEqual(['state: entity_id binary_sensor.hallway_motion, to on']);
    expect(awaiting.toolCall.preview.actions).toEqual(['light.turn_on on Hallway Light (light.hallway)']);
    await confirm(awaiting.toolCall.id, true);
    await stream.done;

    const create = finishedCalls(eventsOf(stream.results, 'chatStream')).find((call) => call.name === 'create_automation')!;
    expect(create.status).toBe('COMPLETED');
    expect(create.result.automation_id).not.toBe('1718300000101');
    expect(stack.homeAssistant.getAutomation('1718300000101')).toEqual(original);
    expect(stack.homeAssistant.getAutomation(create.result.automation_id)).toMatchObject({
      trigger: [{ platform: 'state' }],
      action: [{ service: 'light.turn_on' }],
    });
  });

  it('deletes its own automation', async () => {
    const stream = start('Delete that automation again', conversationId);
    const awaiting = await awaitingIn(stream);
    expect(awaiting.summary).toMatch(/^Delete the automation "Porch Light on at sunset" \(automation\.porch_light_on_at_sunset\), created on \d{4}-/);
    expect(stack.homeAssistant.getAutomation(automationId)).toBeDefined();
    await confirm(awaiting.toolCall.id, true);
    await stream.done;

    const events = eventsOf(stream.results, 'chatStream');
    const deleted = finishedCalls(events).find((call) => call.name === 'delete_automation')!;
    expect(deleted).toMatchObject({ status: 'COMPLETED', result: { deleted: true, automation_id: automationId } });
    expect(deleted.verification).toEqual({
      outcome: 'CHANGED',
      entities: [{ entityId: 'automation.porch_light_on_at_sunset', outcome: 'CHANGED', previousState: 'on', state: null }],
    });
    expect(stack.homeAssistant.getAutomation(automationId)).toBeUndefined();
    expect(stack.homeAssistant.getState('automation.porch_light_on_at_sunset')).toBeUndefined();
    expect(joinDeltas(events)).toBe('Deleted the automation "Porch Light on at sunset".');

    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'delete_automation', arguments: { automation_id: automationId } }] });
    const again = start('Delete it once more', conversationId);
    await again.done;
    const refused = finishedCalls(eventsOf(again.results, 'chatStream'))[0]!;
    expect(refused).toMatchObject({ status: 'REJECTED', error: { code: 'NOT_FOUND' } });
  });

  it('rejects deleting a foreign automation', async () => {
    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'delete_automation', arguments: { automation_id: 'automation.lock_front_door_at_night' } }] });
    const stream = start('Delete the night lock automation');
    await stream.done;
    const refused = finishedCalls(eventsOf(stream.results, 'chatStream'))[0]!;
    expect(refused).toMatchObject({ status: 'REJECTED', error: { code: 'NOT_FOUND' } });
    expect(refused.error?.message).toContain('not an automation you created through this agent');
    expect(stack.homeAssistant.getAutomation('1718300000102')).toBeDefined();
  });

  it('creates nothing when the user declines', async () => {
    const before = await automationStates();
    const stream = start('Create an automation that turns off the garden path lights at 23:30');
    const awaiting = await awaitingIn(stream);
    await confirm(awaiting.toolCall.id, false);
    await stream.done;
    expect(joinDeltas(eventsOf(stream.results, 'chatStream'))).toBe(
      'OK, I did not create the automation "Garden Path Lights off at 23:30", because you declined.',
    );
    expect(await automationStates()).toEqual(before);
  });
});

describe('automation validation', () => {
  async function validate(config: string): Promise<Finished> {
    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'validate_automation', arguments: { config } }] });
    const stream = start('Check this automation');
    await stream.done;
    return finishedCalls(eventsOf(stream.results, 'chatStream'))[0]!;
  }

  it('lists every problem of a draft', async () => {
    const result = await validate(
      JSON.stringify({
        trigger: { platform: 'state', entity_id: 'sensor.router_uptime' },
        triggers: [],
        actions: [
          { action: 'shell_command.wipe' },
          { action: 'light.turn_on', target: { entity_id: '{{ states.light | first }}' } },
          { device_id: 'f453382ce13b671bcdbb0c25210390d6', domain: 'cover', type: 'open' },
          { action: 'light.turn_on' },
        ],
      }),
    );
    expect(result.status).toBe('REJECTED');
    expect(result.error?.code).toBe('BAD_USER_INPUT');
    expect(result.result.valid).toBe(false);
    expect(result.result.problems).toEqual([
      'alias: missing; give the automation a short name.',
      'triggers: give either triggers or trigger, not both.',
      'triggers: at least one trigger is needed.',
      'config.actions[1].target.entity_id: templates are not allowed here; name the entities and services directly.',
      'actions[0]: shell_command.wipe is not a service the agent may use (AGENT_ALLOWED_SERVICES / AGENT_DENIED_SERVICES).',
      'actions[1]: light.turn_on needs a target; name the entities in target.entity_id.',
      'actions[2]: device actions are not allowed; use a service action such as action: cover.open with a target, which the policy can check.',
      'actions[3]: light.turn_on needs a target; name the entities in target.entity_id.',
    ]);
  });

  it('rejects hidden entities and denied services', async () => {
    const result = await validate(
      [
        'alias: Restart at night',
        'triggers:',
        '  - trigger: state',
        '    entity_id: sensor.router_uptime',
        'actions:',
        '  - action: homeassistant.restart',
      ].join('\n'),
    );
    expect(result.result.problems).toEqual([
      'config.triggers[0].entity_id: sensor.router_uptime does not exist or is not exposed to you.',
      'actions[0]: homeassistant.restart is not a service the agent may use (AGENT_ALLOWED_SERVICES / AGENT_DENIED_SERVICES).',
    ]);
  });

  it('accepts the older config keys', async () => {
    const result = await validate(
      [
        'alias: Old style',
        'trigger:',
        '  platform: time',
        '  at: "07:00:00"',
        'condition:',
        '  - condition: state',
        '    entity_id: person.alex',
        '    state: home',
        'action:',
        '  service: light.turn_on',
        '  target:',
        '    entity_id: light.kitchen',
      ].join('\n'),
    );
    expect(result.status).toBe('COMPLETED');
    expect(result.result.preview).toMatchObject({
      triggers: ['time: at 07:00:00'],
      conditions: ['state: entity_id person.alex, state home'],
      actions: ['light.turn_on on Kitchen Light (light.kitchen)'],
    });
  });

  it('warns about risky automation actions', async () => {
    const result = await validate(
      [
        'alias: Open the door in the morning',
        'triggers:',
        '  - trigger: time',
        '    at: "07:00:00"',
        'actions:',
        '  - action: lock.unlock',
        '    target:',
        '      entity_id: lock.front_door',
      ].join('\n'),
    );
    expect(result.status).toBe('COMPLETED');
    expect(result.result.preview.warnings).toEqual([
      'It will run lock.unlock on its own, without asking, although the agent would ask first: Unlocking or opening a lock needs a confirmation.',
    ]);
  });

  it('rejects templates that choose targets', async () => {
    const cases = [
      {
        action: { action: 'cover.open_cover', target: { area_id: 'living_room' }, data: { entity_id: ["{{ 'cover.garage_door' }}"] } },
        problem: 'config.actions[0].data.entity_id: templates are not allowed here; name the entities and services directly.',
      },
      {
        action: { action: 'cover.open_cover', target: { entity_id: ['cover.living_room_blinds', "{{ 'cover.garage_door' }}"] } },
        problem: 'config.actions[0].target.entity_id: templates are not allowed here; name the entities and services directly.',
      },
      {
        action: { action: 'cover.open_cover', target: { entity_id: 'cover.living_room_blinds' }, data: "{{ {'entity_id': 'cover.garage_door'} }}" },
        problem: 'config.actions[0].data: data cannot be a template, because it could select any target; write it as a mapping.',
      },
      {
        action: { action: 'cover.open_cover', target: "{{ {'entity_id': 'cover.garage_door'} }}" },
        problem: 'config.actions[0].target: target cannot be a template, because it could select any target; write it as a mapping.',
      },
      {
        action: { action: 'cover.open_cover', target: { entity_id: 'cover.living_room_blinds' }, data: { "{{ 'entity_id' }}": 'cover.garage_door' } },
        problem: 'config.actions[0].data: templates are not allowed in keys; write each key out.',
      },
      ...(['area_id', 'device_id', 'floor_id', 'label_id'] as const).map((key) => ({
        action: { action: 'lock.unlock', target: { entity_id: 'lock.front_door' }, data: { [key]: ['hallway', '{% if true %}garden{% endif %}'] } },
        problem: `config.actions[0].data.${key}: templates are not allowed here; name the entities and services directly.`,
      })),
      {
        action: { action: 'lock.unlock', target: { area_id: "{{ 'garden' }}" } },
        problem: 'config.actions[0].target.area_id: templates are not allowed here; name the entities and services directly.',
      },
    ];
    for (const { action, problem } of cases) {
      const result = await validate(JSON.stringify({ alias: 'Templated target', triggers: [{ trigger: 'sun', event: 'sunset' }], actions: [action] }));
      expect(result.status, JSON.stringify(action)).toBe('REJECTED');
      expect(result.result.valid, JSON.stringify(action)).toBe(false);
      expect(result.result.problems, JSON.stringify(action)).toContain(problem);
    }
  });

  it('checks area targets against policy', async () => {
    const result = await validate(
      [
        'alias: Open the garage',
        'triggers:',
        '  - trigger: sun',
        '    event: sunrise',
        'actions:',
        '  - action: cover.open_cover',
        '    target:',
        '      area_id: garage',
      ].join('\n'),
    );
    expect(result.status).toBe('COMPLETED');
    expect(result.result.summary).toBe(
      'Create the automation "Open the garage": when sun: event sunrise, do cover.open_cover on area garage, which now contains Garage Door (cover.garage_door).',
    );
    expect(result.result.preview.entities).toEqual([{ entity_id: 'cover.garage_door', name: 'Garage Door' }]);
    expect(result.result.preview.warnings).toEqual([
      'It will run cover.open_cover on its own, without asking, although the agent would ask first: Opening a garage needs a confirmation.',
      'cover.open_cover acts on whatever area garage contains when the automation runs; entities added there later are not checked here.',
    ]);
  });

  it('checks floor, label and device targets', async () => {
    const cases = [
      { target: { floor_id: 'ground_floor' }, action: 'lock.unlock on floor ground_floor, which now contains Front Door (lock.front_door)' },
      {
        target: { label_id: 'security' },
        action: 'lock.unlock on label security, which now contains Front Door (lock.front_door), Garden Gate (lock.garden_gate)',
      },
      {
        target: { device_id: '850d028b20cda5c314205f5425b5bc81' },
        action: 'lock.unlock on device 850d028b20cda5c314205f5425b5bc81, which now contains Front Door (lock.front_door)',
      },
    ];
    for (const { target, action } of cases) {
      const result = await validate(
        JSON.stringify({ alias: 'Unlock', triggers: [{ trigger: 'sun', event: 'sunrise' }], actions: [{ action: 'lock.unlock', target }] }),
      );
      expect(result.status, JSON.stringify(target)).toBe('COMPLETED');
      expect(result.result.preview.actions, JSON.stringify(target)).toEqual([action]);
      expect(result.result.preview.warnings[0], JSON.stringify(target)).toBe(
        'It will run lock.unlock on its own, without asking, although the agent would ask first: Unlocking or opening a lock needs a confirmation.',
      );
    }
  });

  it('rejects selectors it cannot resolve', async () => {
    const result = await validate(
      JSON.stringify({
        alias: 'Unknown places',
        triggers: [{ trigger: 'sun', event: 'sunrise' }],
        actions: [
          { action: 'light.turn_on', target: { area_id: 'Living Room' } },
          { action: 'light.turn_on', target: { floor_id: 'attic' } },
          { action: 'light.turn_on', data: { label_id: 'holiday' } },
          { action: 'light.turn_on', target: { device_id: 'no_such_device' } },
        ],
      }),
    );
    expect(result.status).toBe('REJECTED');
    expect(result.result.problems).toEqual([
      'config.actions[0].target.area_id: no area Living Room; give the area_id, not its name.',
      'config.actions[1].target.floor_id: no floor attic; give the floor_id, not its name.',
      'config.actions[2].data.label_id: no entity, device or area carries the label holiday.',
      'config.actions[3].target.device_id: device no_such_device does not exist or has no exposed entities.',
    ]);
  });

  it('lists area entities in confirmation', async () => {
    const config = [
      'alias: Open the garage',
      'triggers:',
      '  - trigger: sun',
      '    event: sunrise',
      'actions:',
      '  - action: cover.open_cover',
      '    target:',
      '      area_id: garage',
    ].join('\n');
    stack.model.enqueue({ kind: 'tool_calls', calls: [{ name: 'create_automation', arguments: { config } }] }, { kind: 'text', text: 'Not created.' });
    const before = await automationStates();
    const stream = start('Create this automation');
    const awaiting = await awaitingIn(stream);
    expect(awaiting.summary).toBe(
      'Create the automation "Open the garage": when sun: event sunrise, do cover.open_cover on area garage, which now contains Garage Door (cover.garage_door).',
    );
    expect(awaiting.toolCall.preview.warnings[0]).toMatch(/^It will run cover\.open_cover on its own, without asking/);
    await confirm(awaiting.toolCall.id, false);
    await stream.done;
    expect(await automationStates()).toEqual(before);
  });

  it('reports YAML syntax errors', async () => {
    const result = await validate('alias: [unclosed');
    expect(result.status).toBe('REJECTED');
    expect(result.result.problems[0]).toMatch(/^config: not valid YAML or JSON: /);
  });
});

describe('automation targets with excluded entities', () => {
  let excluded: TestStack;
  let excludedKey: string;

  beforeAll(async () => {
    excluded = await startTestStack({ env: { HA_EXCLUDE_ENTITIES: 'lock.garden_gate' } });
    excludedKey = await excluded.apiKey('alice');
  });

  afterAll(async () => {
    await excluded.close();
  });

  async function run(call: { name: string; arguments: Record<string, unknown> }): Promise<Finished> {
    excluded.model.enqueue({ kind: 'tool_calls', calls: [call] });
    const stream = collectSse(excluded.graphqlUrl, excludedKey, CHAT_STREAM, { input: { message: 'Check this' } });
    await stream.done;
    return finishedCalls(eventsOf(stream.results, 'chatStream'))[0]!;
  }

  function unlockGarden(target: Record<string, unknown>): string {
    return JSON.stringify({ alias: 'Open the garden', triggers: [{ trigger: 'sun', event: 'sunrise' }], actions: [{ action: 'lock.unlock', target }] });
  }

  it('rejects area with excluded entity', async () => {
    const result = await run({ name: 'validate_automation', arguments: { config: unlockGarden({ area_id: 'garden' }) } });
    expect(result.status).toBe('REJECTED');
    expect(result.result.problems).toEqual([
      'actions[0]: area garden also selects 1 entity not exposed to you, which lock.unlock would act on; name the exposed entities in target.entity_id instead.',
    ]);
    expect(JSON.stringify(result)).not.toContain('lock.garden_gate');
  });

  it('rejects label on excluded entity', async () => {
    const result = await run({ name: 'validate_automation', arguments: { config: unlockGarden({ label_id: 'security' }) } });
    expect(result.status).toBe('REJECTED');
    expect(result.result.problems).toEqual([
      'actions[0]: label security also selects 1 entity not exposed to you, which lock.unlock would act on; name the exposed entities in target.entity_id instead.',
    ]);
  });

  it('ignores excluded entities of other domains', async () => {
    const config = JSON.stringify({
      alias: 'Garden lights',
      triggers: [{ trigger: 'sun', event: 'sunset' }],
      actions: [{ action: 'light.turn_on', target: { area_id: 'garden' } }],
    });
    const result = await run({ name: 'validate_automation', arguments: { config } });
    expect(result.status).toBe('COMPLETED');
    expect(result.result.preview.actions).toEqual([
      'light.turn_on on area garden, which now contains Garden Path Lights (light.garden_path), Porch Light (light.porch)',
    ]);
  });

  it('call_service skips excluded area entities', async () => {
    const callsBefore = excluded.homeAssistant.serviceCalls.length;
    const result = await run({ name: 'call_service', arguments: { domain: 'lock', service: 'unlock', area_ids: ['garden'] } });
    expect(result.status).toBe('REJECTED');
    expect(result.error?.code).toBe('NOT_FOUND');
    expect(excluded.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
    expect(excluded.homeAssistant.getState('lock.garden_gate')?.state).toBe('locked');
  });
});
