import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { EncryptedTextType } from '../db/encrypted-types.js';

export const ConversationSchema = defineEntity({
  name: 'Conversation',
  tableName: 'conversations',
  properties: (p) => ({
    id: p.string().primary().length(36),
    ownerId: p.string().length(255),
    /** Encrypted at rest when DATA_ENCRYPTION_KEY is set, because it repeats the first message. */
    title: p.type(new EncryptedTextType('conversations.title')).$type<string>(),
    createdAt: p.datetime(3),
    /** Last activity: a new message or a rename. Conversations list newest first by this. */
    updatedAt: p.datetime(3),
  }),
});

export type Conversation = InferEntity<typeof ConversationSchema>;
