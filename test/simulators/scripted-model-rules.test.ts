import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startScriptedModel, type ScriptedModel } from '../../src/simulators/scripted-model/index.js';

let model: ScriptedModel;
let client: OpenAI;

beforeAll(async () => {
  model = await startScriptedModel();
  client = new OpenAI({ baseURL: model.url, apiKey: 'test-key', maxRetries: 0 });
});

afterAll(async () => {
  await model.close();
});

function tool(name: string): ChatCompletionTool {
  return { type: 'function', function: { name, parameters: { type: 'object', properties: {} } } };
}

const ALL_TOOLS = [
  'search_entities',
  'get_states',
  'get_history',
  'list_services',
  'call_service',
  'validate_automation',
  'create_automation',
  'delete_automation',
].map(tool);

interface EntityRow {
  entity_id: string;
  name: string;
  state: string;
  unit?: string;
  area?: string;
}

const HOME: EntityRow[] = [
  { entity_id: 'light.kitchen', name: 'Kitchen Light', state: 'off', area: 'Kitchen' },
  { entity_id: 'light.kitchen_cabinets', name: 'Kitchen Cabinet Strip', state: 'off', area: 'Kitchen' },
  { entity_id: 'light.hallway', name: 'Hallway Light', state: 'on', area: 'Hallway' },
  { entity_id: 'light.porch', name: 'Porch Light', state: 'off', area: 'Garden' },
  { entity_id: 'lock.front_door', name: 'Front Door', state: 'locked', area: 'Hallway' },
  { entity_id: 'lock.garden_gate', name: 'Garden Gate', state: 'unlocked', area: 'Garden' },
  { entity_id: 'binary_sensor.front_door_contact', name: 'Front Door Contact', state: 'off', area: 'Hallway' },
  { entity_id: 'cover.garage_door', name: 'Garage Door', state: 'closed', area: 'Garage' },
  { entity_id: 'sensor.living_room_temperature', name: 'Living Room Temperature', state: '20.5', unit: '°C', area: 'Living Room' },
  { entity_id: 'sensor.kitchen_temperature', name: 'Kitchen Temperature', state: '21.8', unit: '°C', area: 'Kitchen' },
];

type Step = { name: string; args: unknown; result: unknown };

/** Builds the history an agent sends after running the given tool calls with the given results. */
function conversation(userText: string, steps: Step[], earlier: ChatCompletionMessageParam[] = []): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: 'You are a home assistant.' }, ...earlier, { role: 'user', content: userText }];
  steps.forEach((step, index) => {
    const id = `call_test_${messages.length}_${index}`;
    messages.push({
      role: 'assistant',
      content: null,
      tool_calls: [{ id, type: 'function', function: { name: step.name, arguments: JSON.stringify(step.args) } }],
    });
    messages.push({ role: 'tool', tool_call_id: id, content: JSON.stringify(step.result) });
  });
  return messages;
}

/** Builds a search step whose result contains the entities of `HOME` in the domain (or all of them). */
function searchStep(domain?: string): Step {
  const entities = domain ? HOME.filter((row) => row.entity_id.startsWith(`${domain}.`)) : HOME;
  return { name: 'search_entities', args: {}, result: { total: entities.length, entities } };
}

function serviceStep(entityId: string, outcome: string, previous: string, state: string): Step {
  return {
    name: 'call_service',
    args: {},
    result: { service: 'x.y', outcome, entities: [{ entity_id: entityId, outcome, previous_state: previous, state }] },
  };
}

async function complete(messages: ChatCompletionMessageParam[], tools: ChatCompletionTool[] = ALL_TOOLS): Promise<ChatCompletion> {
  return client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
}

function onlyToolCall(completion: ChatCompletion): { name: string; args: Record<string, any> } {
  const calls = completion.choices[0]!.message.tool_calls ?? [];
  expect(calls).toHaveLength(1);
  const call = calls[0]!;
  if (call.type !== 'function') {
    throw new Error(`Expected a function tool call, got ${call.type}`);
  }
  return { name: call.function.name, args: JSON.parse(call.function.arguments) };
}

function textOf(completion: ChatCompletion): string {
  expect(completion.choices[0]!.message.tool_calls).toBeUndefined();
  expect(completion.choices[0]!.finish_reason).toBe('stop');
  return completion.choices[0]!.message.content ?? '';
}

describe('rule a: turning things on and off', () => {
  it('searches the lights first', async () => {
    const completion = await complete(conversation('Turn on the kitchen light', []));
    expect(onlyToolCall(completion)).toEqual({ name: 'search_entities', args: { query: 'kitchen light', domain: 'light' } });
  });

  it('calls the service on the best match', async () => {
    const completion = await complete(conversation('Turn on the kitchen light', [searchStep('light')]));
    expect(onlyToolCall(completion)).toEqual({ name: 'call_service', args: { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'] } });
  });

  it('understands the verb after the object', async () => {
    const second = await complete(conversation('Please turn the hallway light off', [searchStep('light')]));
    expect(onlyToolCall(second).args).toEqual({ domain: 'light', service: 'turn_off', entity_ids: ['light.hallway'] });
  });

  it('reports the verified outcome', async () => {
    const changed = [searchStep('light'), serviceStep('light.kitchen', 'changed', 'off', 'on')];
    expect(textOf(await complete(conversation('Turn on the kitchen light', changed)))).toBe('Done: Kitchen Light is now on.');
    const unchanged = [searchStep('light'), serviceStep('light.kitchen', 'unchanged', 'on', 'on')];
    expect(textOf(await complete(conversation('Turn on the kitchen light', unchanged)))).toBe('Nothing changed: Kitchen Light is still on.');
  });

  it('quotes the error of a failed call', async () => {
    const steps = [
      searchStep('light'),
      { name: 'call_service', args: {}, result: { error: { code: 'HOME_ASSISTANT_UNAVAILABLE', message: 'Home Assistant is not reachable.' } } },
    ];
    expect(textOf(await complete(conversation('Turn on the kitchen light', steps)))).toBe(
      'Sorry, I could not turn on Kitchen Light: Home Assistant is not reachable.',
    );
  });

  it('says when nothing matches', async () => {
    const completion = await complete(conversation('Switch on the sauna heater', [searchStep('climate')]));
    expect(textOf(completion)).toContain('could not find a device matching "sauna heater"');
  });

  it('falls back to text without tools', async () => {
    const noTools = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: conversation('Turn on the kitchen light', []) });
    expect(textOf(noTools)).toBe('I cannot do that right now, because the search_entities tool is not available to me.');

    const readOnly = await complete(conversation('Turn on the kitchen light', [searchStep('light')]), [tool('search_entities')]);
    expect(textOf(readOnly)).toBe('I found Kitchen Light, but I cannot turn it on, because the call_service tool is not available to me.');
  });

  it('reports a failed search', async () => {
    const steps = [{ name: 'search_entities', args: {}, result: { error: { code: 'HOME_ASSISTANT_UNAVAILABLE', message: 'timed out' } } }];
    expect(textOf(await complete(conversation('Turn on the kitchen light', steps)))).toBe('Sorry, I could not search your home: timed out');
  });
});

describe('rule b: locks, covers and confirmations', () => {
  it('unlocks the garden gate', async () => {
    expect(onlyToolCall(await complete(conversation('unlock the garden gate', [])))).toEqual({
      name: 'search_entities',
      args: { query: 'garden gate', domain: 'lock' },
    });
    const call = onlyToolCall(await complete(conversation('unlock the garden gate', [searchStep('lock')])));
    expect(call.args).toEqual({ domain: 'lock', service: 'unlock', entity_ids: ['lock.garden_gate'] });
  });

  it('opens the garage door as a cover', async () => {
    const call = onlyToolCall(await complete(conversation('Open the garage door', [searchStep('cover')])));
    expect(call.args).toEqual({ domain: 'cover', service: 'open_cover', entity_ids: ['cover.garage_door'] });
  });

  it('opens a door lock when no domain is named', async () => {
    expect(onlyToolCall(await complete(conversation('open the front door', [])))).toEqual({ name: 'search_entities', args: { query: 'front door' } });
    const call = onlyToolCall(await complete(conversation('open the front door', [searchStep()])));
    expect(call.args).toEqual({ domain: 'lock', service: 'open', entity_ids: ['lock.front_door'] });
  });

  it('words a declined and an expired confirmation', async () => {
    const declined = [
      searchStep('lock'),
      { name: 'call_service', args: {}, result: { error: { code: 'FORBIDDEN', message: 'The user declined this action, so nothing was done.' } } },
    ];
    expect(textOf(await complete(conversation('Unlock the front door', declined)))).toBe('OK, I did not unlock Front Door, because you declined.');
    const expired = [
      searchStep('lock'),
      {
        name: 'call_service',
        args: {},
        result: { error: { code: 'FORBIDDEN', message: 'Nobody confirmed this action before it expired at 2026-01-01T00:00:00.000Z, so nothing was done.' } },
      },
    ];
    expect(textOf(await complete(conversation('Unlock the front door', expired)))).toBe('I did not unlock Front Door: nobody confirmed it in time.');
  });
});

describe('rule c: questions', () => {
  it('searches, reads and answers whether the front door is locked', async () => {
    expect(onlyToolCall(await complete(conversation('Is the front door locked?', [])))).toEqual({
      name: 'search_entities',
      args: { query: 'front door', domain: 'lock' },
    });
    const read = onlyToolCall(await complete(conversation('Is the front door locked?', [searchStep('lock')])));
    expect(read).toEqual({ name: 'get_states', args: { entity_ids: ['lock.front_door'] } });
    const states = { name: 'get_states', args: read.args, result: { states: [{ entity_id: 'lock.front_door', name: 'Front Door', state: 'locked' }] } };
    expect(textOf(await complete(conversation('Is the front door locked?', [searchStep('lock'), states])))).toBe('Front Door is locked.');
  });

  it('answers with units', async () => {
    const question = "What's the temperature in the living room?";
    const sensors = searchStep('sensor');
    expect(onlyToolCall(await complete(conversation(question, [sensors]))).args).toEqual({ entity_ids: ['sensor.living_room_temperature'] });
    const states = {
      name: 'get_states',
      args: {},
      result: {
        states: [{ entity_id: 'sensor.living_room_temperature', name: 'Living Room Temperature', state: '20.5', attributes: { unit_of_measurement: '°C' } }],
      },
    };
    expect(textOf(await complete(conversation(question, [sensors, states])))).toBe('Living Room Temperature is 20.5 °C.');
  });

  it('reads a whole domain for "which lights are on"', async () => {
    expect(onlyToolCall(await complete(conversation('Which lights are on?', [])))).toEqual({ name: 'get_states', args: { domain: 'light' } });
    const lights = HOME.filter((row) => row.entity_id.startsWith('light.'));
    const states = { name: 'get_states', args: { domain: 'light' }, result: { states: lights, total: 12 } };
    expect(textOf(await complete(conversation('Which lights are on?', [states])))).toBe('This one is on (I read 4 of 12): Hallway Light.');
    const none = { name: 'get_states', args: { domain: 'light' }, result: { states: lights.map((row) => ({ ...row, state: 'off' })), total: 4 } };
    expect(textOf(await complete(conversation('Which lights are on?', [none])))).toBe('No light is on.');
  });
});

describe('rule d: history, services and search', () => {
  it('reads the history of the best match', async () => {
    const question = 'What was the kitchen temperature today?';
    expect(onlyToolCall(await complete(conversation(question, [])))).toEqual({
      name: 'search_entities',
      args: { query: 'kitchen temperature', domain: 'sensor' },
    });
    const call = onlyToolCall(await complete(conversation(question, [searchStep('sensor')])));
    expect(call).toEqual({ name: 'get_history', args: { entity_ids: ['sensor.kitchen_temperature'], hours: 24 } });
    const history = {
      name: 'get_history',
      args: call.args,
      result: {
        entities: [
          {
            entity_id: 'sensor.kitchen_temperature',
            states: [
              { state: '21.0', at: 'a' },
              { state: '21.8', at: 'b' },
            ],
          },
        ],
      },
    };
    expect(textOf(await complete(conversation(question, [searchStep('sensor'), history])))).toBe(
      'Kitchen Temperature over the last 24 hours: 21.0 °C, 21.8 °C (1 change); now 21.8 °C.',
    );
  });

  it('lists the services of a domain', async () => {
    const question = 'Which services does the cover domain have?';
    expect(onlyToolCall(await complete(conversation(question, [])))).toEqual({ name: 'list_services', args: { domain: 'cover' } });
    const listed = {
      name: 'list_services',
      args: {},
      result: {
        domain: 'cover',
        services: [
          { service: 'close_cover', allowed: true },
          { service: 'open_cover', allowed: true },
          { service: 'reload', allowed: false },
        ],
      },
    };
    expect(textOf(await complete(conversation(question, [listed])))).toBe(
      'The cover domain has 3 services. I may use: close_cover, open_cover. Not allowed for me: reload.',
    );
  });

  it('searches by words and lists the matches', async () => {
    expect(onlyToolCall(await complete(conversation('Find the front door', [])))).toEqual({ name: 'search_entities', args: { query: 'front door', limit: 5 } });
    const found = { name: 'search_entities', args: {}, result: { total: 2, entities: HOME.filter((row) => row.name.startsWith('Front Door')) } };
    expect(textOf(await complete(conversation('Find the front door', [found])))).toBe(
      'I found 2 matches: Front Door (lock.front_door, Hallway); Front Door Contact (binary_sensor.front_door_contact, Hallway).',
    );
  });
});

describe('rule e: automations', () => {
  const request = 'Create an automation that turns on the porch light at sunset';

  it('searches, validates, creates and reports', async () => {
    expect(onlyToolCall(await complete(conversation(request, [])))).toEqual({ name: 'search_entities', args: { query: 'porch light', domain: 'light' } });
    const validate = onlyToolCall(await complete(conversation(request, [searchStep('light')])));
    expect(validate.name).toBe('validate_automation');
    expect(validate.args.config).toBe(
      [
        'alias: "Porch Light on at sunset"',
        'description: "Created by the scripted demo model."',
        'mode: single',
        'triggers:',
        '  - trigger: "sun"',
        '    event: "sunset"',
        'actions:',
        '  - action: light.turn_on',
        '    target:',
        '      entity_id: light.porch',
        '',
      ].join('\n'),
    );
    const validated = { name: 'validate_automation', args: validate.args, result: { valid: true } };
    const create = onlyToolCall(await complete(conversation(request, [searchStep('light'), validated])));
    expect(create).toEqual({ name: 'create_automation', args: validate.args });
    const created = {
      name: 'create_automation',
      args: create.args,
      result: { created: true, automation_id: 'ha_ai_agent_1', entity_id: 'automation.porch_light_on_at_sunset' },
    };
    expect(textOf(await complete(conversation(request, [searchStep('light'), validated, created])))).toBe(
      'Created the automation "Porch Light on at sunset" (automation.porch_light_on_at_sunset). It will turn on Porch Light at sunset.',
    );
  });

  it('reads a clock time', async () => {
    const validate = onlyToolCall(await complete(conversation('Create an automation that turns off the hallway light at 11:30 pm', [searchStep('light')])));
    expect(validate.args.config).toContain('  - trigger: "time"\n    at: "23:30:00"');
    expect(validate.args.config).toContain('alias: "Hallway Light off at 23:30"');
  });

  it('deletes the automation it created earlier', async () => {
    const earlier = conversation(request, [
      searchStep('light'),
      { name: 'validate_automation', args: {}, result: { valid: true } },
      { name: 'create_automation', args: {}, result: { created: true, automation_id: 'ha_ai_agent_7', alias: 'Porch Light on at sunset' } },
    ]).slice(1);
    const call = onlyToolCall(await complete(conversation('Delete that automation again', [], earlier)));
    expect(call).toEqual({ name: 'delete_automation', args: { automation_id: 'ha_ai_agent_7' } });
    const deleted = { name: 'delete_automation', args: call.args, result: { deleted: true, alias: 'Porch Light on at sunset' } };
    expect(textOf(await complete(conversation('Delete that automation again', [deleted], earlier)))).toBe('Deleted the automation "Porch Light on at sunset".');
    expect(textOf(await complete(conversation('Delete the automation', [])))).toBe(
      'I have not created an automation in this conversation that I could delete.',
    );
  });
});

describe('rule f: anything else', () => {
  it('answers with a labelled echo in several chunks', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      stream: true,
      messages: conversation('Tell me a joke about robots', []),
      tools: ALL_TOOLS,
    });
    const pieces: string[] = [];
    for await (const chunk of stream) {
      const content = chunk.choices[0]?.delta.content;
      if (content) {
        pieces.push(content);
      }
    }
    const text = pieces.join('');
    expect(pieces.length).toBeGreaterThan(5);
    expect(text).toContain('scripted demo model, not a real language model');
    expect(text).toContain('You wrote: "Tell me a joke about robots"');
  });

  it('cuts long messages in the echo', async () => {
    const long = 'word '.repeat(40).trim();
    const text = textOf(await complete(conversation(long, [])));
    expect(text).toContain(`"${long.slice(0, 60)}…"`);
  });

  it('reads content given as parts', async () => {
    const completion = await complete([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Lock the ' },
          { type: 'text', text: 'front door' },
        ],
      },
    ]);
    expect(onlyToolCall(completion)).toEqual({ name: 'search_entities', args: { query: 'front door', domain: 'lock' } });
  });
});
