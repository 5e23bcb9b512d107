import { uuidv7 } from '../../src/db/uuid.js';
import { ConversationSchema } from '../../src/conversations/conversation.entity.js';
import type { App } from '../../src/app.js';
import { postGraphQL } from './clients.js';
import { tryConnectionInit } from './raw-graphql-ws.js';
import { openRawSse } from './raw-sse.js';

/** How one credential fared on each transport. */
export interface TransportOutcome {
  /** HTTP status of a `viewer` query. */
  http: number;
  /** Error code of the first SSE event: NOT_FOUND means the caller got past authentication. */
  sse: string | undefined;
  /** `ack`, or the close code of the socket. */
  ws: 'ack' | number | undefined;
}

export const ACCEPTED: TransportOutcome = { http: 200, sse: 'NOT_FOUND', ws: 'ack' };
export const REJECTED: TransportOutcome = { http: 401, sse: 'UNAUTHENTICATED', ws: 4401 };

const UNKNOWN_CONVERSATION = '0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d';

/** Presents the token on HTTP, SSE and graphql-ws, the way a client (or an attacker) would. */
export async function tryEveryTransport(server: { graphqlUrl: string; wsUrl: string }, token: string): Promise<TransportOutcome> {
  const http = await postGraphQL(server.graphqlUrl, '{ viewer { id } }', {}, token);
  const sse = await openRawSse(
    server.graphqlUrl,
    'subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }',
    { id: UNKNOWN_CONVERSATION },
    { authorization: `Bearer ${token}` },
  );
  await sse.done;
  const ws = await tryConnectionInit(server.wsUrl, { authorization: `Bearer ${token}` });
  return {
    http: http.status,
    sse: sse.events[0]?.data?.errors?.[0]?.extensions?.code,
    ws: ws.acknowledged ? 'ack' : ws.code,
  };
}

/** Stores an empty conversation for the user, so a test can follow it without a model. */
export async function storeConversation(app: App, ownerId: string): Promise<string> {
  const em = app.services.db.fork();
  const now = new Date();
  const conversation = em.create(ConversationSchema, { id: uuidv7(), ownerId, title: 'Test conversation', createdAt: now, updatedAt: now });
  await em.flush();
  return conversation.id;
}

export const CONVERSATION_EVENTS = 'subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }';
