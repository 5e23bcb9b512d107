import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSse, collectWs, postGraphQL, wsClient } from '../support/clients.js';
import { CHAT_MUTATION, CHAT_STREAM, REPLY_STREAM, eventsOf, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let alice: string;
let bob: string;
let aliceConversation: string;
let aliceReply: string;
let aliceUserMessage: string;

beforeAll(async () => {
  stack = await startTestStack();
  alice = await stack.apiKey('alice');
  bob = await stack.apiKey('bob');
  const stream = collectSse(stack.graphqlUrl, alice, CHAT_STREAM, { input: { message: 'Alice private message' } });
  await stream.done;
  const events = eventsOf(stream.results, 'chatStream');
  aliceReply = events[0]?.messageId as string;
  aliceConversation = events[0]?.conversationId as string;
  const conversation = await postGraphQL(
    stack.graphqlUrl,
    `query($id: ID!) { conversation(id: $id) { messages { edges { node { id role } } } } }`,
    { id: aliceConversation },
    alice,
  );
  aliceUserMessage = conversation.body.data?.conversation.messages.edges[0].node.id;
});

afterAll(async () => {
  await stack.close();
});

describe("another user's ids", () => {
  it('look like ids that do not exist in queries', async () => {
    const response = await postGraphQL(
      stack.graphqlUrl,
      `query($c: ID!, $m: ID!, $r: ID!) { conversation(id: $c) { id } message(id: $m) { id } reply: message(id: $r) { id } conversations { edges { node { id } } } }`,
      { c: aliceConversation, m: aliceUserMessage, r: aliceReply },
      bob,
    );
    expect(response.body).toEqual({ data: { conversation: null, message: null, reply: null, conversations: { edges: [] } } });
  });

  it('give NOT_FOUND from every mutation', async () => {
    const operations: [string, Record<string, unknown>][] = [
      ['mutation($id: ID!) { renameConversation(id: $id, title: "mine now") { id } }', { id: aliceConversation }],
      ['mutation($id: ID!) { deleteConversation(id: $id) { deleted } }', { id: aliceConversation }],
      ['mutation($id: ID!) { cancelReply(messageId: $id) { id } }', { id: aliceReply }],
      [CHAT_MUTATION, { input: { message: 'sneaking in', conversationId: aliceConversation } }],
    ];
    for (const [query, variables] of operations) {
      const response = await postGraphQL(stack.graphqlUrl, query, variables, bob);
      expect(response.body.errors?.[0]?.extensions?.code, query).toBe('NOT_FOUND');
      expect(response.status, query).toBe(404);
    }
    const still = await postGraphQL(
      stack.graphqlUrl,
      `query($id: ID!) { conversation(id: $id) { title messages { edges { node { id } } } } }`,
      { id: aliceConversation },
      alice,
    );
    expect(still.body.data?.conversation.title).toBe('Alice private message');
    expect(still.body.data?.conversation.messages.edges).toHaveLength(2);
  });

  it('give NOT_FOUND from every subscription', async () => {
    const client = wsClient(stack.wsUrl, bob);
    const streams = [
      collectWs(client, REPLY_STREAM, { messageId: aliceReply }),
      collectWs(client, 'subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }', { id: aliceConversation }),
      collectWs(client, CHAT_STREAM, { input: { message: 'sneaking in', conversationId: aliceConversation } }),
    ];
    await Promise.all(streams.map((stream) => stream.done));
    await client.dispose();
    for (const stream of streams) {
      expect(stream.results).toHaveLength(1);
      expect(stream.results[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
  });
});

describe('conversations connection', () => {
  it('pages through the caller conversations, most recent first', async () => {
    const carol = await stack.apiKey('carol');
    const ids: string[] = [];
    // One turn at a time: a user may have only two replies streaming at once.
    for (let index = 0; index < 5; index += 1) {
      const stream = collectSse(stack.graphqlUrl, carol, CHAT_STREAM, { input: { message: `Conversation number ${index}` } });
      await stream.done;
      ids.push(eventsOf(stream.results, 'chatStream')[0]?.conversationId as string);
    }
    const query = `query($after: String) { conversations(first: 2, after: $after) { edges { cursor node { id title } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const response = await postGraphQL(stack.graphqlUrl, query, { after }, carol);
      const page = response.body.data?.conversations;
      seen.push(...page.edges.map((edge: { node: { id: string } }) => edge.node.id));
      expect(page.pageInfo.hasPreviousPage).toBe(after !== undefined);
      pages += 1;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('renames and deletes a conversation with everything in it', async () => {
    const dave = await stack.apiKey('dave');
    const stream = collectSse(stack.graphqlUrl, dave, CHAT_STREAM, { input: { message: 'Turn on the kitchen light' } });
    await stream.done;
    const events = eventsOf(stream.results, 'chatStream');
    const conversationId = events[0]?.conversationId as string;
    const replyId = events[0]?.messageId as string;

    const renamed = await postGraphQL(
      stack.graphqlUrl,
      `mutation($id: ID!) { renameConversation(id: $id, title: "  Kitchen\\n things  ") { title } }`,
      { id: conversationId },
      dave,
    );
    expect(renamed.body.data?.renameConversation.title).toBe('Kitchen things');

    const deleted = await postGraphQL(stack.graphqlUrl, `mutation($id: ID!) { deleteConversation(id: $id) { id deleted } }`, { id: conversationId }, dave);
    expect(deleted.body.data?.deleteConversation).toEqual({ id: conversationId, deleted: true });

    const em = stack.app.services.db.fork();
    const connection = em.getConnection();
    expect(await connection.execute('select cast(count(*) as integer) as n from messages where conversation_id = ?', [conversationId])).toEqual([{ n: 0 }]);
    expect(await connection.execute('select cast(count(*) as integer) as n from tool_calls where message_id = ?', [replyId])).toEqual([{ n: 0 }]);
    expect(await connection.execute('select cast(count(*) as integer) as n from reply_events where message_id = ?', [replyId])).toEqual([{ n: 0 }]);
    const again = await postGraphQL(stack.graphqlUrl, `mutation($id: ID!) { deleteConversation(id: $id) { deleted } }`, { id: conversationId }, dave);
    expect(again.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
