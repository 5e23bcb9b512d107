import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL } from '../support/clients.js';
import { openAuthenticatedSocket } from '../support/raw-graphql-ws.js';
import { openRawSse } from '../support/raw-sse.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Threat: documents built to exhaust the server or map the schema: deep, wide, aliased, batched,
 * token- or directive-heavy documents, introspection and "Did you mean" probing in production.
 */

let server: TestServer;
let key: string;

const errorOf = (response: { body: { errors?: { message: string; extensions?: Record<string, any> }[] } }) => response.body.errors?.[0];

beforeAll(async () => {
  server = await startTestServer({ env: { NODE_ENV: 'development' } });
  key = await server.apiKey('alice');
});

afterAll(async () => {
  await server.close();
});

describe('document limits', () => {
  it('rejects a document deeper than GRAPHQL_MAX_DEPTH on every transport', async () => {
    // conversations > edges > node > messages > edges > node > conversation > messages > edges > node > id: depth 11.
    const deep = '{ conversations { edges { node { messages { edges { node { conversation { messages { edges { node { id } } } } } } } } } } }';
    const response = await postGraphQL(server.graphqlUrl, deep, {}, key);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toMatchObject({ message: 'Query depth limit of 10 exceeded, found 11.', extensions: { code: 'BAD_USER_INPUT' } });
    expect(response.body.data).toBeUndefined();

    const socket = await openAuthenticatedSocket(server.wsUrl, key);
    socket.send({ type: 'subscribe', id: '1', payload: { query: deep } });
    expect(await socket.nextMessage((message) => message.id === '1')).toMatchObject({
      type: 'error',
      payload: [{ message: 'Query depth limit of 10 exceeded, found 11.', extensions: { code: 'BAD_USER_INPUT' } }],
    });
    socket.close();

    const sse = await openRawSse(
      server.graphqlUrl,
      `subscription { conversationEvents(conversationId: "0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d") { ... on ReplyCompleted { message { conversation { messages { edges { node { conversation { messages { edges { node { id } } } } } } } } } } } }`,
      {},
      { authorization: `Bearer ${key}` },
    );
    await sse.done;
    expect(sse.events[0]?.data.errors[0].message).toMatch(/^Query depth limit of 10 exceeded/);
  });

  it('counts depth through fragments', async () => {
    const response = await postGraphQL(
      server.graphqlUrl,
      `{ conversations { ...C } }
       fragment C on ConversationConnection { edges { node { messages { ...M } } } }
       fragment M on MessageConnection { edges { node { conversation { messages { edges { node { id } } } } } } }`,
      {},
      key,
    );
    expect(errorOf(response)?.message).toMatch(/^Query depth limit of 10 exceeded/);
  });

  it('rejects more than GRAPHQL_MAX_ALIASES aliases, such as a burst of chat turns', async () => {
    const turns = Array.from({ length: 11 }, (_, index) => `turn${index}: chat(input: { message: "hi ${index}" }) { reply { id } }`).join('\n');
    const response = await postGraphQL(server.graphqlUrl, `mutation { ${turns} }`, {}, key);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toMatchObject({ message: 'Aliases limit of 10 exceeded, found 11.', extensions: { code: 'BAD_USER_INPUT' } });
    const list = await postGraphQL(server.graphqlUrl, '{ conversations { edges { cursor } } }', {}, key);
    expect(list.body.data?.conversations.edges).toEqual([]);

    const viewers = Array.from({ length: 10 }, (_, index) => `v${index}: viewer { id }`).join(' ');
    expect((await postGraphQL(server.graphqlUrl, `{ ${viewers} }`, {}, key)).status).toBe(200);
  });

  it('rejects a document of more than GRAPHQL_MAX_TOKENS tokens before parsing it all', async () => {
    const fields = Array.from({ length: 1000 }, () => '__typename').join(' ');
    const response = await postGraphQL(server.graphqlUrl, `{ ${fields} }`, {}, key);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toMatchObject({ message: 'Token limit of 1000 exceeded.', extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('rejects more than GRAPHQL_MAX_DIRECTIVES directives', async () => {
    const directives = Array.from({ length: 21 }, () => '@include(if: true)').join(' ');
    const response = await postGraphQL(server.graphqlUrl, `{ viewer ${directives} { id } }`, {}, key);
    expect(errorOf(response)).toMatchObject({ message: 'Directives limit of 20 exceeded, found 21.', extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('prices wide pages by the page size asked for, variables included', async () => {
    const wide = 'query($n: Int) { conversations(first: $n) { edges { node { id title messages(first: $n) { edges { node { id content } } } } } } }';
    const tooWide = await postGraphQL(server.graphqlUrl, wide, { n: 100 }, key);
    expect(tooWide.status).toBe(400);
    expect(errorOf(tooWide)?.message).toMatch(/^Query cost limit of 50000 exceeded, found \d+\. Ask for smaller pages/);

    const literal = await postGraphQL(server.graphqlUrl, wide.replace('query($n: Int)', 'query').replaceAll('$n', '100'), {}, key);
    expect(errorOf(literal)?.message).toMatch(/^Query cost limit of 50000 exceeded/);

    const defaulted = await postGraphQL(server.graphqlUrl, wide.replace('query($n: Int)', 'query($n: Int = 100)'), {}, key);
    expect(errorOf(defaulted)?.message).toMatch(/^Query cost limit of 50000 exceeded/);

    const narrow = await postGraphQL(server.graphqlUrl, wide, { n: 5 }, key);
    expect(narrow.body).toEqual({ data: { conversations: { edges: [] } } });
  });

  it('checks doubling fragment chains quickly', async () => {
    // Each fragment spreads the next one twice: 2^30 copies of the last selection in about 400 tokens.
    const chain = (last: string) => {
      let text = 'query { ...F0 }\n';
      for (let level = 0; level < 30; level += 1) text += `fragment F${level} on Query { ...F${level + 1} ...F${level + 1} }\n`;
      return `${text}fragment F30 on Query { ${last} }`;
    };

    const viewers = await postGraphQL(server.graphqlUrl, chain('viewer { id }'), {}, key);
    expect(viewers.status).toBe(400);
    expect(errorOf(viewers)?.message).toMatch(/^Query depth limit of 10 exceeded/);

    // Every validation rule runs on the whole document, so the single-selection count meets it too.
    const exports = await postGraphQL(server.graphqlUrl, chain('exportMyData'), {}, key);
    expect(exports.status).toBe(400);
    expect(exports.body.errors?.map((error) => error.message)).toContain(
      'exportMyData may be selected at most once per operation, found 1073741824. Send one exportMyData field without aliases.',
    );
  });

  it('executes no operation of a batched request', async () => {
    const response = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify([
        { query: 'mutation { chat(input: { message: "batched one" }) { reply { id } } }' },
        { query: 'mutation { chat(input: { message: "batched two" }) { reply { id } } }' },
      ]),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ errors: [{ message: 'Batching is not supported.', extensions: { code: 'BAD_USER_INPUT' } }] });
  });

  it('answers invalid variables with BAD_USER_INPUT, not a server error', async () => {
    const response = await postGraphQL(server.graphqlUrl, 'query($n: Int) { conversations(first: $n) { edges { cursor } } }', { n: 'many' }, key);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toMatchObject({
      message: 'Variable "$n" got invalid value "many"; Int cannot represent non-integer value: "many"',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });
});

describe('schema discovery in development', () => {
  it('answers the standard introspection query', async () => {
    const response = await postGraphQL(server.graphqlUrl, getIntrospectionQuery(), {}, key);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.__schema.queryType.name).toBe('Query');
  });

  it('still bounds introspection deeper than the standard query', async () => {
    const ofType = (depth: number): string => (depth === 0 ? 'name' : `name ofType { ${ofType(depth - 1)} }`);
    const response = await postGraphQL(server.graphqlUrl, `{ __schema { types { fields { type { ${ofType(20)} } } } } }`, {}, key);
    expect(errorOf(response)?.message).toMatch(/^Query depth limit of 21 exceeded/);
  });

  it('suggests field names', async () => {
    const response = await postGraphQL(server.graphqlUrl, '{ viewr { id } }', {}, key);
    expect(errorOf(response)?.message).toBe('Cannot query field "viewr" on type "Query". Did you mean "viewer"?');
  });
});

describe('schema discovery in production', () => {
  let production: TestServer;
  let productionKey: string;

  beforeAll(async () => {
    production = await startTestServer({ env: { NODE_ENV: 'production' } });
    productionKey = await production.apiKey('alice');
  });

  afterAll(async () => {
    await production.close();
  });

  it('rejects introspection on every transport', async () => {
    for (const query of [getIntrospectionQuery(), '{ __schema { types { name } } }', '{ __type(name: "Query") { fields { name } } }']) {
      const response = await postGraphQL(production.graphqlUrl, query, {}, productionKey);
      expect(response.status, query.slice(0, 30)).toBe(400);
      expect(response.body.data).toBeUndefined();
      expect(errorOf(response)?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(response.body)).not.toContain('ChatEvent');
    }
    const socket = await openAuthenticatedSocket(production.wsUrl, productionKey);
    socket.send({ type: 'subscribe', id: '1', payload: { query: '{ __schema { types { name } } }' } });
    const rejected = await socket.nextMessage((message) => message.id === '1');
    expect(rejected.type).toBe('error');
    expect(rejected.payload[0]).toMatchObject({
      message: 'GraphQL introspection has been disabled, but the requested query contained the field "__schema".',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    socket.close();

    const typename = await postGraphQL(production.graphqlUrl, '{ __typename }', {}, productionKey);
    expect(typename.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('gives no "Did you mean" hints, in documents or in variables', async () => {
    const field = await postGraphQL(production.graphqlUrl, '{ viewr { id } }', {}, productionKey);
    expect(errorOf(field)?.message).toBe('Cannot query field "viewr" on type "Query".');

    const typeName = await postGraphQL(production.graphqlUrl, 'query($i: ChatInpt!) { viewer { id } }', { i: {} }, productionKey);
    expect(JSON.stringify(typeName.body)).not.toContain('Did you mean');

    const inputField = await postGraphQL(
      production.graphqlUrl,
      'mutation($i: ChatInput!) { chat(input: $i) { reply { id } } }',
      { i: { message: 'hi', mesage: 'hi' } },
      productionKey,
    );
    expect(errorOf(inputField)?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(inputField.body)).not.toContain('Did you mean');
    expect(JSON.stringify(inputField.body)).not.toContain('"message"?');
  });

  it('serves no GraphiQL page', async () => {
    const response = await fetch(production.graphqlUrl, { headers: { accept: 'text/html' } });
    expect(await response.text()).not.toContain('<html');
  });

  it('turns introspection back on with GRAPHQL_INTROSPECTION=true', async () => {
    const opened = await startTestServer({ env: { NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' } });
    try {
      const response = await postGraphQL(opened.graphqlUrl, '{ __schema { queryType { name } } }', {}, await opened.apiKey('alice'));
      expect(response.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    } finally {
      await opened.close();
    }
  });
});

describe('GRAPHQL_INTROSPECTION=false in development', () => {
  it('turns introspection and suggestions off', async () => {
    const closed = await startTestServer({ env: { NODE_ENV: 'development', GRAPHQL_INTROSPECTION: 'false' } });
    try {
      const token = await closed.apiKey('alice');
      expect(errorOf(await postGraphQL(closed.graphqlUrl, '{ __schema { queryType { name } } }', {}, token))?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(errorOf(await postGraphQL(closed.graphqlUrl, '{ viewr { id } }', {}, token))?.message).not.toContain('Did you mean');
    } finally {
      await closed.close();
    }
  });
});
