import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  DEMO_HOME_PATH,
  loadHome,
  startHomeAssistantSimulator,
  type HassState,
  type HomeAssistantSimulator,
} from '../../src/simulators/home-assistant/index.js';
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

const BOTH_TOOLS = [tool('get_states'), tool('call_service')];

interface StateRow {
  entity_id: string;
  name: string;
  state: string;
  attributes?: Record<string, unknown>;
}

const HOME_STATES: StateRow[] = [
  { entity_id: 'light.kitchen', name: 'Kitchen Light', state: 'off' },
  { entity_id: 'light.kitchen_cabinets', name: 'Kitchen Cabinet Strip', state: 'off' },
  { entity_id: 'light.hallway', name: 'Hallway Light', state: 'on' },
  { entity_id: 'lock.front_door', name: 'Front Door', state: 'locked' },
  { entity_id: 'lock.garden_gate', name: 'Garden Gate', state: 'unlocked' },
  { entity_id: 'cover.garage_door', name: 'Garage Door', state: 'closed', attributes: { device_class: 'garage' } },
  { entity_id: 'sensor.living_room_temperature', name: 'Living Room Temperature', state: '20.5', attributes: { unit_of_measurement: '°C' } },
  { entity_id: 'sensor.living_room_humidity', name: 'Living Room Humidity', state: '46', attributes: { unit_of_measurement: '%' } },
  { entity_id: 'sensor.kitchen_temperature', name: 'Kitchen Temperature', state: '21.8', attributes: { unit_of_measurement: '°C' } },
];

/** Builds the history an agent sends after running the given tool calls with the given results. */
function conversation(userText: string, steps: { name: string; args: unknown; result: unknown }[]): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [
    { role: 'system', content: 'You are a home assistant.' },
    { role: 'user', content: userText },
  ];
  steps.forEach((step, index) => {
    const id = `call_test_${index}`;
    messages.push({
      role: 'assistant',
      content: null,
      tool_calls: [{ id, type: 'function', function: { name: step.name, arguments: JSON.stringify(step.args) } }],
    });
    messages.push({ role: 'tool', tool_call_id: id, content: JSON.stringify(step.result) });
  });
  return messages;
}

function statesStep(domain?: string) {
  const states = domain ? HOME_STATES.filter((state) => state.entity_id.startsWith(`${domain}.`)) : HOME_STATES;
  return { name: 'get_states', args: domain ? { domain } : {}, result: { states } };
}

async function complete(messages: ChatCompletionMessageParam[], tools: ChatCompletionTool[] = BOTH_TOOLS): Promise<ChatCompletion> {
  return client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
}

function onlyToolCall(completion: ChatCompletion): { name: string; args: unknown } {
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
  it('reads the lights first', async () => {
    const completion = await complete(conversation('Turn on the kitchen light', []));
    expect(onlyToolCall(completion)).toEqual({ name: 'get_states', args: { domain: 'light' } });
  });

  it('calls the service on the best match', async () => {
    const completion = await complete(conversation('Turn on the kitchen light', [statesStep('light')]));
    expect(onlyToolCall(completion)).toEqual({
      name: 'call_service',
      args: { domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'] },
    });
  });

  it('understands the verb after the object', async () => {
    const first = await complete(conversation('Please turn the hallway light off', []));
    expect(onlyToolCall(first)).toEqual({ name: 'get_states', args: { domain: 'light' } });
    const second = await complete(conversation('Please turn the hallway light off', [statesStep('light')]));
    expect(onlyToolCall(second).args).toEqual({ domain: 'light', service: 'turn_off', entity_ids: ['light.hallway'] });
  });

  it('reports what was done', async () => {
    const steps = [
      statesStep('light'),
      { name: 'call_service', args: {}, result: { ok: true, changed: [{ entity_id: 'light.kitchen', state: 'on' }] } },
    ];
    expect(textOf(await complete(conversation('Turn on the kitchen light', steps)))).toBe('Done: Kitchen Light is now on.');
  });

  it('quotes the error of a failed call', async () => {
    const steps = [
      statesStep('light'),
      { name: 'call_service', args: {}, result: { error: { code: 'HOME_ASSISTANT_UNAVAILABLE', message: 'Home Assistant is not reachable.' } } },
    ];
    expect(textOf(await complete(conversation('Turn on the kitchen light', steps)))).toBe(
      'Sorry, I could not turn on Kitchen Light: Home Assistant is not reachable.',
    );
  });

  it('says when nothing matches', async () => {
    const completion = await complete(conversation('Switch on the sauna heater', [statesStep('climate')]));
    expect(textOf(completion)).toContain('could not find a device matching "sauna heater"');
  });

  it('falls back to text without tools', async () => {
    const noTools = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: conversation('Turn on the kitchen light', []) });
    expect(textOf(noTools)).toContain('get_states tool is not available');

    const readOnly = await complete(conversation('Turn on the kitchen light', [statesStep('light')]), [tool('get_states')]);
    expect(textOf(readOnly)).toBe('I found Kitchen Light, but I cannot turn on it, because the call_service tool is not available to me.');
  });

  it('reports a failed state read', async () => {
    const steps = [{ name: 'get_states', args: { domain: 'light' }, result: { error: { code: 'TIMEOUT', message: 'timed out' } } }];
    expect(textOf(await complete(conversation('Turn on the kitchen light', steps)))).toBe(
      'Sorry, I could not read the states of your home: timed out',
    );
  });
});

describe('rule b: locks and covers', () => {
  it('locks the front door', async () => {
    expect(onlyToolCall(await complete(conversation('Lock the front door', [])))).toEqual({
      name: 'get_states',
      args: { domain: 'lock' },
    });
    const call = onlyToolCall(await complete(conversation('Lock the front door', [statesStep('lock')])));
    expect(call.args).toEqual({ domain: 'lock', service: 'lock', entity_ids: ['lock.front_door'] });
    const done = await complete(
      conversation('Lock the front door', [statesStep('lock'), { name: 'call_service', args: call.args, result: { ok: true, changed: [] } }]),
    );
    expect(textOf(done)).toBe('Done: Front Door is now locked.');
  });

  it('unlocks the garden gate', async () => {
    const call = onlyToolCall(await complete(conversation('unlock the garden gate', [statesStep('lock')])));
    expect(call.args).toEqual({ domain: 'lock', service: 'unlock', entity_ids: ['lock.garden_gate'] });
  });

  it('opens the garage door as a cover', async () => {
    expect(onlyToolCall(await complete(conversation('Open the garage door', [])))).toEqual({
      name: 'get_states',
      args: { domain: 'cover' },
    });
    const call = onlyToolCall(await complete(conversation('Open the garage door', [statesStep('cover')])));
    expect(call.args).toEqual({ domain: 'cover', service: 'open_cover', entity_ids: ['cover.garage_door'] });
    const done = await complete(
      conversation('Open the garage door', [
        statesStep('cover'),
        { name: 'call_service', args: call.args, result: { ok: true, changed: [{ entity_id: 'cover.garage_door', state: 'open' }] } },
      ]),
    );
    expect(textOf(done)).toBe('Done: Garage Door is now open.');
  });

  it('opens a door lock when no domain is named', async () => {
    expect(onlyToolCall(await complete(conversation('open the front door', [])))).toEqual({ name: 'get_states', args: {} });
    const call = onlyToolCall(await complete(conversation('open the front door', [statesStep()])));
    expect(call.args).toEqual({ domain: 'lock', service: 'open', entity_ids: ['lock.front_door'] });
  });
});

describe('rule c: questions', () => {
  it('answers whether the front door is locked', async () => {
    expect(onlyToolCall(await complete(conversation('Is the front door locked?', [])))).toEqual({
      name: 'get_states',
      args: { domain: 'lock' },
    });
    expect(textOf(await complete(conversation('Is the front door locked?', [statesStep('lock')])))).toBe('Front Door is locked.');
  });

  it('answers with units', async () => {
    const question = "What's the temperature in the living room?";
    expect(onlyToolCall(await complete(conversation(question, [])))).toEqual({ name: 'get_states', args: { domain: 'sensor' } });
    expect(textOf(await complete(conversation(question, [statesStep('sensor')])))).toBe('Living Room Temperature is 20.5 °C.');
  });

  it('lists a whole domain when asked about it', async () => {
    const answer = textOf(await complete(conversation('Which lights are on?', [statesStep('light')])));
    expect(answer).toBe('Hallway Light is on. Kitchen Light is off. Kitchen Cabinet Strip is off.');

    const precise = textOf(await complete(conversation('Is the kitchen light on?', [statesStep('light')])));
    expect(precise).toBe('Kitchen Light is off.');
  });

  it('asks without a domain for a trailing question mark', async () => {
    expect(onlyToolCall(await complete(conversation('kitchen status?', [])))).toEqual({ name: 'get_states', args: {} });
    const answer = textOf(await complete(conversation('kitchen status?', [statesStep()])));
    expect(answer).toBe('Kitchen Light is off. Kitchen Temperature is 21.8 °C. Kitchen Cabinet Strip is off.');
  });
});

describe('rule d: anything else', () => {
  it('answers with a labelled echo in several chunks', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      stream: true,
      messages: conversation('Tell me a joke about robots', []),
      tools: BOTH_TOOLS,
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
      { role: 'user', content: [{ type: 'text', text: 'Lock the ' }, { type: 'text', text: 'front door' }] },
    ]);
    expect(onlyToolCall(completion)).toEqual({ name: 'get_states', args: { domain: 'lock' } });
  });
});

describe('rules with both simulators', () => {
  let home: HomeAssistantSimulator;

  beforeAll(async () => {
    home = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
  });

  afterAll(async () => {
    await home.close();
  });

  /** Runs the tool the scripted model asked for against the Home Assistant simulator's REST API. */
  async function runTool(name: string, args: Record<string, unknown>): Promise<unknown> {
    const headers = { Authorization: `Bearer ${home.token}`, 'Content-Type': 'application/json' };
    if (name === 'get_states') {
      const all = (await (await fetch(`${home.url}/api/states`, { headers })).json()) as HassState[];
      const domain = args.domain as string | undefined;
      const states = all
        .filter((state) => !domain || state.entity_id.startsWith(`${domain}.`))
        .map((state) => ({ entity_id: state.entity_id, name: state.attributes.friendly_name, state: state.state, attributes: state.attributes }));
      return { states };
    }
    const response = await fetch(`${home.url}/api/services/${args.domain as string}/${args.service as string}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ entity_id: args.entity_ids }),
    });
    if (!response.ok) {
      return { error: { code: 'HOME_ASSISTANT_ERROR', message: ((await response.json()) as { message: string }).message } };
    }
    return { ok: true, changed: await response.json() };
  }

  async function agentTurn(userText: string): Promise<{ answer: string; rounds: number }> {
    const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: userText }];
    for (let round = 1; round <= 5; round++) {
      const completion = await complete(messages);
      const message = completion.choices[0]!.message;
      if (!message.tool_calls?.length) {
        return { answer: message.content ?? '', rounds: round };
      }
      messages.push({ role: 'assistant', content: message.content, tool_calls: message.tool_calls });
      for (const call of message.tool_calls) {
        if (call.type !== 'function') {
          continue;
        }
        const result = await runTool(call.function.name, JSON.parse(call.function.arguments) as Record<string, unknown>);
        messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(result) });
      }
    }
    throw new Error('The scripted model did not finish within 5 rounds');
  }

  it('turns on the bedroom light end to end', async () => {
    const turn = await agentTurn('Turn on the bedroom light');
    expect(turn).toEqual({ answer: 'Done: Bedroom Light is now on.', rounds: 3 });
    expect(home.getState('light.bedroom')?.state).toBe('on');
  });

  it('unlocks and reports the front door', async () => {
    expect((await agentTurn('Unlock the front door')).answer).toBe('Done: Front Door is now unlocked.');
    expect(home.getState('lock.front_door')?.state).toBe('unlocked');
    expect((await agentTurn('Is the front door locked?')).answer).toBe('Front Door is unlocked.');
  });

  it('answers a temperature question from live states', async () => {
    home.setState('sensor.living_room_temperature', '23.1');
    expect(await agentTurn('What is the living room temperature?')).toEqual({
      answer: 'Living Room Temperature is 23.1 °C.',
      rounds: 2,
    });
  });

  it('reports a Home Assistant failure', async () => {
    home.faults.failNextServiceCalls = 1;
    const turn = await agentTurn('Open the garage door');
    expect(turn.answer).toMatch(/^Sorry, I could not open Garage Door: Simulated failure of cover\.open_cover/);
    expect(home.getState('cover.garage_door')?.state).toBe('closed');
  });
});
