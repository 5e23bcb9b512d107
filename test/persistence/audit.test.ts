import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetEntities } from '../../src/conversations/tool-audit.js';
import { collectSse, collectWs, postGraphQL, waitFor, wsClient } from '../support/clients.js';
import { CHAT_STREAM, CONFIRM_TOOL_CALL, eventsOf, setHomeState, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let admin: string;
let beforeTurns: string;
let betweenTurns: string;

const TOOL_EXECUTIONS = `query($filter: ToolExecutionFilter, $first: Int, $after: String) {
  toolExecutions(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id userId conversationId messageId tool targetEntities arguments status errorCode startedAt finishedAt durationMs replyTokens } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}`;

interface Execution {
  id: string;
  userId: string;
  conversationId: string;
  messageId: string;
  tool: string;
  targetEntities: string[];
  status: string;
  errorCode: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  replyTokens: number | null;
}

async function chat(token: string, message: string): Promise<string> {
  const stream = collectSse(stack.graphqlUrl, token, CHAT_STREAM, { input: { message } });
  await stream.done;
  return eventsOf(stream.results, 'chatStream')[0]?.messageId as string;
}

async function executions(
  variables: Record<string, unknown>,
  token = admin,
): Promise<{ nodes: Execution[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }> {
  const response = await postGraphQL(stack.graphqlUrl, TOOL_EXECUTIONS, variables, token);
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
  const connection = response.body.data?.toolExecutions;
  return { nodes: connection.edges.map((edge: { node: Execution }) => edge.node), pageInfo: connection.pageInfo };
}

beforeAll(async () => {
  stack = await startTestStack();
  admin = await stack.apiKey('operator', ['admin']);
  const alice = await stack.apiKey('alice');
  const bob = await stack.apiKey('bob');
  beforeTurns = new Date().toISOString();
  await setHomeState(stack, 'light.kitchen', 'off');
  await chat(alice, 'Turn on the kitchen light');
  await new Promise((resolve) => setTimeout(resolve, 5));
  betweenTurns = new Date().toISOString();
  // The unlock waits for a confirmation, which bob declines, so it never runs.
  const client = wsClient(stack.wsUrl, bob);
  const unlock = collectWs(client, CHAT_STREAM, { input: { message: 'Unlock the front door' } });
  const waiting = await waitFor(
    () =>
      unlock.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation') as
        | { toolCall: { id: string } }
        | undefined,
    10_000,
    'the confirmation request',
  );
  await postGraphQL(stack.graphqlUrl, CONFIRM_TOOL_CALL, { id: waiting.toolCall.id, approve: false }, bob);
  await unlock.done;
  await client.dispose();
});

afterAll(async () => {
  await stack.close();
});

describe('toolExecutions', () => {
  it('lists tool executions across users, newest first', async () => {
    const { nodes } = await executions({});
    expect(nodes.map((node) => [node.userId, node.tool, node.status])).toEqual([
      ['bob', 'call_service', 'REJECTED'],
      ['bob', 'search_entities', 'COMPLETED'],
      ['alice', 'call_service', 'COMPLETED'],
      ['alice', 'search_entities', 'COMPLETED'],
    ]);
    const [unlock, , switchOn] = nodes as [Execution, Execution, Execution];
    expect(unlock.targetEntities).toEqual(['lock.front_door']);
    expect(unlock.errorCode).toBe('FORBIDDEN');
    expect(switchOn.targetEntities).toEqual(['light.kitchen']);
    expect(switchOn.errorCode).toBeNull();
    expect(switchOn.durationMs).toBe(Date.parse(switchOn.finishedAt) - Date.parse(switchOn.startedAt));

    const reply = await postGraphQL(
      stack.graphqlUrl,
      `query($id: ID!) { message(id: $id) { conversation { id } usage { totalTokens } } }`,
      { id: switchOn.messageId },
      await stack.apiKey('alice'),
    );
    expect(switchOn.replyTokens).toBe(reply.body.data?.message.usage.totalTokens);
    expect(switchOn.replyTokens).toBeGreaterThan(0);
    expect(switchOn.conversationId).toBe(reply.body.data?.message.conversation.id);
  });

  it('filters by user, tool, status, entity and time', async () => {
    const byUser = await executions({ filter: { userId: 'alice' } });
    expect(byUser.nodes.map((node) => node.userId)).toEqual(['alice', 'alice']);
    const byTool = await executions({ filter: { tool: 'call_service' } });
    expect(byTool.nodes.map((node) => node.userId)).toEqual(['bob', 'alice']);
    const byStatus = await executions({ filter: { status: 'REJECTED' } });
    expect(byStatus.nodes.map((node) => node.tool)).toEqual(['call_service']);
    const byEntity = await executions({ filter: { entityId: 'light.kitchen' } });
    expect(byEntity.nodes.map((node) => [node.userId, node.tool])).toEqual([['alice', 'call_service']]);
    const since = await executions({ filter: { since: betweenTurns } });
    expect(since.nodes.map((node) => node.userId)).toEqual(['bob', 'bob']);
    const until = await executions({ filter: { since: beforeTurns, until: betweenTurns } });
    expect(until.nodes.map((node) => node.userId)).toEqual(['alice', 'alice']);
    const none = await executions({ filter: { userId: 'alice', status: 'REJECTED' } });
    expect(none.nodes).toEqual([]);
  });

  it('pages with first and after', async () => {
    const all = await executions({});
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const { nodes, pageInfo } = await executions({ first: 1, ...(after ? { after } : {}) });
      seen.push(...nodes.map((node) => node.id));
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(seen).toEqual(all.nodes.map((node) => node.id));

    const entityPages = await executions({ first: 1, filter: { entityId: 'lock.front_door' } });
    expect(entityPages.nodes.map((node) => node.tool)).toEqual(['call_service']);
  });

  it('is only for the admin scope', async () => {
    const response = await postGraphQL(stack.graphqlUrl, TOOL_EXECUTIONS, {}, await stack.apiKey('alice'));
    expect(response.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(response.body.data).toBeNull();
  });

  it('rejects an invalid filter and cursor', async () => {
    const response = await postGraphQL(stack.graphqlUrl, TOOL_EXECUTIONS, { first: 0, after: 'nonsense', filter: { tool: '' } }, admin);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const fields = ((response.body.errors?.[0]?.extensions?.fields ?? []) as { field: string }[]).map((problem) => problem.field);
    expect(fields).toEqual(['first', 'filter.tool']);
    const backwards = await postGraphQL(stack.graphqlUrl, TOOL_EXECUTIONS, { filter: { since: betweenTurns, until: beforeTurns } }, admin);
    expect(backwards.body.errors?.[0]?.extensions?.fields).toEqual([{ field: 'filter.until', message: 'must be after since' }]);
    const cursor = await postGraphQL(stack.graphqlUrl, TOOL_EXECUTIONS, { after: 'bm9wZQ' }, admin);
    expect(cursor.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('targetEntities', () => {
  it.each([
    ['entity_ids array', { domain: 'light', service: 'turn_on', entity_ids: ['light.a', 'light.b'] }, ['light.a', 'light.b']],
    ['entity_id string', { entity_id: 'switch.fan' }, ['switch.fan']],
    ['target.entity_id array', { target: { entity_id: ['cover.garage', 'cover.gate'] } }, ['cover.garage', 'cover.gate']],
    ['nested service data', { data: { entity_id: 'light.a' }, entity_ids: ['light.a', 'light.c'] }, ['light.a', 'light.c']],
    ['no entities', { domain: 'light' }, []],
    ['not an object', 'free text', []],
    ['non-string ids', { entity_ids: [42, null, ' light.d '] }, ['light.d']],
  ])('reads %s', (_name, args, expected) => {
    expect(targetEntities(args)).toEqual(expected);
  });
});

describe('secret arguments', () => {
  it('hides lock codes outside the call', async () => {
    const carol = await stack.apiKey('carol');
    const callsBefore = stack.homeAssistant.serviceCalls.length;
    stack.model.enqueue({
      kind: 'tool_calls',
      calls: [{ name: 'call_service', arguments: { domain: 'lock', service: 'unlock', entity_ids: ['lock.front_door'], data: { code: '4321' } } }],
    });
    const stream = collectSse(stack.graphqlUrl, carol, CHAT_STREAM, { input: { message: 'Unlock the front door, the code is in my head' } });
    const awaiting = await waitFor(
      () => stream.results.map((result) => result.data?.chatStream).find((event) => event?.__typename === 'ToolCallAwaitingConfirmation'),
      10_000,
      'a confirmation request',
    );
    await postGraphQL(stack.graphqlUrl, CONFIRM_TOOL_CALL, { id: awaiting.toolCall.id, approve: true }, carol);
    await stream.done;
    const messageId = eventsOf(stream.results, 'chatStream')[0]?.messageId as string;

    const sent = stack.homeAssistant.serviceCalls.slice(callsBefore);
    const stored = await postGraphQL(
      stack.graphqlUrl,
      'query($id: ID!) { message(id: $id) { toolCalls { arguments summary preview } } }',
      { id: messageId },
      carol,
    );
    const audited = await executions({ filter: { userId: 'carol', tool: 'call_service' } });

    expect(JSON.stringify(sent)).toContain('4321');
    expect(stored.body.data?.message.toolCalls[0].arguments.data).toEqual({ code: '(hidden)' });
    expect(JSON.stringify(stored.body)).not.toContain('4321');
    expect(audited.nodes[0]?.tool).toBe('call_service');
    expect(JSON.stringify(audited.nodes)).not.toContain('4321');
    expect(JSON.stringify(awaiting)).not.toContain('4321');
  });
});
