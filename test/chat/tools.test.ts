import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, postGraphQL } from '../support/clients.js';
import { CHAT_STREAM, eventsOf, joinDeltas, startTestStack, type StreamedEvent, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;

beforeAll(async () => {
  stack = await startTestStack();
  key = await stack.apiKey('alice');
});

afterAll(async () => {
  await stack.close();
});

const TOOL_CALLS = `query($id: ID!) { message(id: $id) { status content toolCalls { id name arguments result status error { code message } } } }`;

async function chat(message: string, token = key): Promise<{ events: StreamedEvent[]; messageId: string }> {
  const stream = collectSse(stack.graphqlUrl, token, CHAT_STREAM, { input: { message } });
  await stream.done;
  const events = eventsOf(stream.results, 'chatStream');
  return { events, messageId: events[0]?.messageId as string };
}

describe('tool round trip', () => {
  it('turns on the kitchen light and stores the tool calls', async () => {
    stack.homeAssistant.setState('light.kitchen', 'off');
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    const { events, messageId } = await chat('Turn on the kitchen light');

    expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('on');
    const calls = stack.homeAssistant.serviceCalls.slice(callsBefore);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ domain: 'light', service: 'turn_on' });

    const stored = await postGraphQL(stack.graphqlUrl, TOOL_CALLS, { id: messageId }, key);
    const reply = stored.body.data?.message;
    expect(reply.status).toBe('COMPLETED');
    expect(reply.toolCalls.map((call: { name: string }) => call.name)).toEqual(['get_states', 'call_service']);
    const serviceCall = reply.toolCalls[1];
    expect(serviceCall.arguments).toMatchObject({ domain: 'light', service: 'turn_on', entity_ids: ['light.kitchen'] });
    expect(serviceCall.result).toEqual({ ok: true, service: 'light.turn_on', changed: [{ entity_id: 'light.kitchen', state: 'on' }] });
    expect(serviceCall.status).toBe('COMPLETED');
    expect(reply.toolCalls[0].result.states.some((state: { entity_id: string }) => state.entity_id === 'light.kitchen')).toBe(true);

    const finished = events.filter((event) => event.__typename === 'ToolCallFinished');
    expect(finished.map((event) => (event.toolCall as { id: string }).id)).toEqual(reply.toolCalls.map((call: { id: string }) => call.id));
    expect(joinDeltas(events)).toBe(reply.content);
  });

  it('refuses to unlock a door outside the allowed domains', async () => {
    const before = stack.homeAssistant.getState('lock.front_door')?.state;
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    const { events, messageId } = await chat('Unlock the front door');

    expect(stack.homeAssistant.getState('lock.front_door')?.state).toBe(before);
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
    const stored = await postGraphQL(stack.graphqlUrl, TOOL_CALLS, { id: messageId }, key);
    const refused = stored.body.data?.message.toolCalls.find((call: { name: string }) => call.name === 'call_service');
    expect(refused.status).toBe('REJECTED');
    expect(refused.error.code).toBe('FORBIDDEN');
    expect(refused.error.message).toContain('lock');
    expect(refused.result).toEqual({ error: { code: 'FORBIDDEN', message: refused.error.message } });
    expect(events.at(-1)?.__typename).toBe('ReplyCompleted');
  });

  it('offers no state-changing tool without the control scope', async () => {
    stack.homeAssistant.setState('light.kitchen', 'off');
    const readOnly = await stack.apiKey('reader', ['chat', 'read']);
    const before = stack.model.requests.length;
    const callsBefore = stack.homeAssistant.serviceCalls.length;

    await chat('Turn on the kitchen light', readOnly);

    const offered = stack.model.requests[before]?.body.tools.map((tool: { function: { name: string } }) => tool.function.name);
    expect(offered).toEqual(['get_states']);
    expect(stack.homeAssistant.serviceCalls.slice(callsBefore)).toEqual([]);
    expect(stack.homeAssistant.getState('light.kitchen')?.state).toBe('off');
  });
});
