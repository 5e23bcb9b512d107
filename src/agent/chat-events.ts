import type { ToolCallDecision, ToolCallError, ToolCallStatus, ToolCallVerification } from '../conversations/tool-call.entity.js';

/** A tool call as it was when an event was emitted. */
export interface ToolCallSnapshot {
  id: string;
  name: string;
  arguments: unknown;
  result: unknown;
  status: ToolCallStatus;
  error: ToolCallError | null;
  summary?: string | null;
  expiresAt?: string | null;
  preview?: unknown;
  verification?: ToolCallVerification | null;
  decision?: ToolCallDecision | null;
  decidedAt?: string | null;
}

interface EventBase {
  sequence: number;
  messageId: string;
}

export type ChatEvent =
  | (EventBase & { type: 'ReplyStarted'; conversationId: string })
  | (EventBase & { type: 'ReplyDelta'; text: string })
  | (EventBase & { type: 'ToolCallStarted'; toolCall: ToolCallSnapshot })
  | (EventBase & { type: 'ToolCallAwaitingConfirmation'; toolCall: ToolCallSnapshot; summary: string; expiresAt: string })
  | (EventBase & { type: 'ToolCallFinished'; toolCall: ToolCallSnapshot })
  | (EventBase & { type: 'ReplyCompleted' })
  | (EventBase & { type: 'ReplyFailed'; code: string; message: string; retryable: boolean })
  | (EventBase & { type: 'ReplyCancelled' })
  | (EventBase & { type: 'ReplyInterrupted' });

export type ChatEventType = ChatEvent['type'];

/** Distributes Omit over the union, so each event keeps its own fields. */
export type UnsequencedChatEvent = ChatEvent extends infer E ? (E extends ChatEvent ? Omit<E, 'sequence' | 'messageId'> : never) : never;

const TERMINAL_TYPES: ReadonlySet<ChatEventType> = new Set(['ReplyCompleted', 'ReplyFailed', 'ReplyCancelled', 'ReplyInterrupted']);

/** The last event of every reply is one of these; a reply stream ends after it. */
export function isTerminal(event: Pick<ChatEvent, 'type'>): boolean {
  return TERMINAL_TYPES.has(event.type);
}

/**
 * Instance-wide requests about replies, such as a cancellation or a confirmation; the instance that
 * generates the reply acts on them.
 */
export const REPLY_CONTROL_TOPIC = 'reply-control';

export const replyTopic = (messageId: string) => `reply:${messageId}`;
export const conversationTopic = (conversationId: string) => `conversation:${conversationId}`;
export const conversationDeletedTopic = (conversationId: string) => `conversation-deleted:${conversationId}`;
