import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { EncryptedJsonType, EncryptedTextType } from '../db/encrypted-types.js';

export const TOOL_CALL_STATUSES = ['RUNNING', 'AWAITING_CONFIRMATION', 'COMPLETED', 'FAILED', 'REJECTED', 'EXPIRED', 'CANCELLED'] as const;
export type ToolCallStatus = (typeof TOOL_CALL_STATUSES)[number];

export interface ToolCallError {
  code: string;
  message: string;
}

export type ToolCallDecision = 'APPROVED' | 'DENIED';

/** The verified effect of a state-changing call on each targeted entity. */
export interface ToolCallVerification {
  outcome: 'CHANGED' | 'UNCHANGED' | 'PARTIAL' | 'UNKNOWN_ENTITY';
  entities: { entityId: string; outcome: 'CHANGED' | 'UNCHANGED' | 'UNKNOWN_ENTITY'; previousState: string | null; state: string | null }[];
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
    /** For a call that waits for a confirmation: what it will do, in plain words. Encrypted at rest. */
    summary: p.type(new EncryptedTextType('tool_calls.summary')).$type<string>().nullable(),
    /** When an unanswered confirmation expires. */
    expiresAt: p.datetime(3).nullable(),
    /** Structured detail shown with the confirmation, such as an automation's config. Encrypted at rest. */
    preview: p.type(new EncryptedJsonType('tool_calls.preview')).$type<unknown>().nullable(),
    /** Encrypted at rest when DATA_ENCRYPTION_KEY is set, because entity ids and states describe the home. */
    verification: p.type(new EncryptedJsonType('tool_calls.verification')).$type<ToolCallVerification>().nullable(),
    decision: p.string().length(16).$type<ToolCallDecision>().nullable(),
    /** The user who approved or declined; always the owner. */
    decidedBy: p.string().length(255).nullable(),
    decidedAt: p.datetime(3).nullable(),
  }),
});

export type ToolCall = InferEntity<typeof ToolCallSchema>;
