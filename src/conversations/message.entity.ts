import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { EncryptedTextType } from '../db/encrypted-types.js';

export const MESSAGE_ROLES = ['USER', 'ASSISTANT'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

export const MESSAGE_STATUSES = ['STREAMING', 'COMPLETED', 'FAILED', 'CANCELLED', 'INTERRUPTED'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface PromptBreakdown {
  system: number;
  context: number;
  history: number;
  message: number;
  tools: number;
  /** Earlier messages that were sent, newest first until the input budget was reached. */
  historyMessages: number;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** True when the endpoint sent no usage and the counts come from the local tokenizer. */
  estimated: boolean;
  prompt?: PromptBreakdown;
}

export interface MessageError {
  code: string;
  message: string;
  retryable: boolean;
}

export const MessageSchema = defineEntity({
  name: 'Message',
  tableName: 'messages',
  properties: (p) => ({
    id: p.string().primary().length(36),
    conversationId: p.string().length(36),
    ownerId: p.string().length(255),
    role: p.string().length(16).$type<MessageRole>(),
    /** Encrypted at rest when DATA_ENCRYPTION_KEY is set. */
    content: p.type(new EncryptedTextType('messages.content')).$type<string>(),
    status: p.string().length(16).$type<MessageStatus>(),
    model: p.string().length(255).nullable(),
    usage: p.json<TokenUsage>().nullable(),
    error: p.json<MessageError>().nullable(),
    /** On a user message: the client's idempotency key, unique per owner. */
    clientMessageId: p.string().length(255).nullable(),
    /** On an assistant reply: the user message it answers. */
    replyToId: p.string().length(36).nullable(),
    /** On a STREAMING reply: the instance generating it, so another instance can tell when it is gone. */
    instanceId: p.string().length(64).nullable(),
    /** Sequence number of the last stored reply event; 0 for user messages. */
    lastSequence: p.integer(),
    createdAt: p.datetime(3),
    completedAt: p.datetime(3).nullable(),
  }),
});

export type Message = InferEntity<typeof MessageSchema>;
