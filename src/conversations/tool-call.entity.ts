import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { EncryptedJsonType } from '../db/encrypted-types.js';

export const TOOL_CALL_STATUSES = ['RUNNING', 'COMPLETED', 'FAILED', 'REJECTED', 'CANCELLED'] as const;
export type ToolCallStatus = (typeof TOOL_CALL_STATUSES)[number];

export interface ToolCallError {
  code: string;
  message: string;
}

export const ToolCallSchema = defineEntity({
  name: 'ToolCall',
  tableName: 'tool_calls',
  properties: (p) => ({
    id: p.string().primary().length(36),
    /** The assistant reply whose model output requested this call. */
    messageId: p.string().length(36),
    ownerId: p.string().length(255),
    /** The id the model gave the call; tool results are sent back under it. */
    callId: p.string().length(255),
    name: p.string().length(255),
    /** Encrypted at rest when DATA_ENCRYPTION_KEY is set, like the result. */
    arguments: p.type(new EncryptedJsonType('tool_calls.arguments')).$type<unknown>(),
    result: p.type(new EncryptedJsonType('tool_calls.result')).$type<unknown>().nullable(),
    status: p.string().length(32).$type<ToolCallStatus>(),
    error: p.json<ToolCallError>().nullable(),
    /** Tool round of the turn, starting at 1. */
    round: p.integer(),
    createdAt: p.datetime(3),
    finishedAt: p.datetime(3).nullable(),
  }),
});

export type ToolCall = InferEntity<typeof ToolCallSchema>;
