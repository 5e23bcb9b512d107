import { defineEntity, type InferEntity } from '@mikro-orm/core';

export const ConversationSchema = defineEntity({
  name: 'Conversation',
  tableName: 'conversations',
  properties: (p) => ({
    id: p.string().primary().length(36),
    ownerId: p.string().length(255),
    title: p.string().length(255),
    createdAt: p.datetime(3),
    /** Last activity: a new message or a rename. Conversations list newest first by this. */
    updatedAt: p.datetime(3),
  }),
});

export type Conversation = InferEntity<typeof ConversationSchema>;
