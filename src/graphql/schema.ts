import type { GraphQLSchema } from 'graphql';
import { createBuilder } from './builder.js';
import { addChatOperations, type ChatSchemaOptions } from './types/chat.js';
import { addConversationTypes } from './types/conversation.js';
import { addEventTypes } from './types/events.js';
import { addHomeOperations } from './types/home.js';
import { createRefs } from './types/refs.js';
import { addScalars } from './types/scalars.js';
import { addViewerType } from './types/viewer.js';
import { addAuditTypes } from './types/audit.js';
import { addUserDataOperations } from './types/user-data.js';

export type SchemaOptions = ChatSchemaOptions;

export const DEFAULT_SCHEMA_OPTIONS: SchemaOptions = { maxMessageChars: 16_000 };

/** Builds the GraphQL schema. `schema/schema.graphql` is this schema printed with the default options. */
export function buildSchema(options: SchemaOptions = DEFAULT_SCHEMA_OPTIONS): GraphQLSchema {
  const builder = createBuilder();
  builder.queryType({});
  builder.mutationType({});
  builder.subscriptionType({});

  const refs = createRefs(builder);
  addScalars(builder);
  addViewerType(builder, refs);
  const conversationTypes = addConversationTypes(builder, refs);
  const chatEvent = addEventTypes(builder, refs);
  addChatOperations(builder, { ...refs, ChatEvent: chatEvent }, options);
  addHomeOperations(builder, refs);
  addUserDataOperations(builder, refs);
  addAuditTypes(builder, conversationTypes);

  return builder.toSchema();
}
