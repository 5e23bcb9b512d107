import type { ChatEvent, ToolCallSnapshot } from '../../agent/chat-events.js';
import type { Conversation } from '../../conversations/conversation.entity.js';
import type { Message, MessageError, PromptBreakdown, TokenUsage } from '../../conversations/message.entity.js';
import type { Page } from '../../conversations/conversation-service.js';
import type { Caller } from '../../auth/caller.js';
import type { TurnStart } from '../../agent/chat-service.js';
import type { Builder } from '../builder.js';

export type EventOf<Type extends ChatEvent['type']> = Extract<ChatEvent, { type: Type }>;

/** A tool call as stored, or as it was when an event carried it (with times as ISO strings). */
export type ToolCallView = Omit<ToolCallSnapshot, 'result' | 'error' | 'expiresAt' | 'decidedAt'> & {
  result?: unknown;
  error?: ToolCallSnapshot['error'];
  expiresAt?: Date | string | null;
  decidedAt?: Date | string | null;
};

/**
 * Object references shared by the type files, created before any type is implemented so the files can
 * refer to each other in any order.
 */
export function createRefs(builder: Builder) {
  return {
    Viewer: builder.objectRef<Caller>('Viewer'),
    Conversation: builder.objectRef<Conversation>('Conversation'),
    ConversationConnection: builder.objectRef<Page<Conversation>>('ConversationConnection'),
    Message: builder.objectRef<Message>('Message'),
    MessageConnection: builder.objectRef<Page<Message>>('MessageConnection'),
    ToolCall: builder.objectRef<ToolCallView>('ToolCall'),
    TokenUsage: builder.objectRef<TokenUsage>('TokenUsage'),
    PromptBreakdown: builder.objectRef<PromptBreakdown>('PromptBreakdown'),
    MessageError: builder.objectRef<MessageError>('MessageError'),
    ChatPayload: builder.objectRef<TurnStart>('ChatPayload'),
    DeletePayload: builder.objectRef<{ deleted: boolean; id: string }>('DeletePayload'),
    ReplyStarted: builder.objectRef<EventOf<'ReplyStarted'>>('ReplyStarted'),
    ReplyDelta: builder.objectRef<EventOf<'ReplyDelta'>>('ReplyDelta'),
    ToolCallStarted: builder.objectRef<EventOf<'ToolCallStarted'>>('ToolCallStarted'),
    ToolCallAwaitingConfirmation: builder.objectRef<EventOf<'ToolCallAwaitingConfirmation'>>('ToolCallAwaitingConfirmation'),
    ToolCallFinished: builder.objectRef<EventOf<'ToolCallFinished'>>('ToolCallFinished'),
    ReplyCompleted: builder.objectRef<EventOf<'ReplyCompleted'>>('ReplyCompleted'),
    ReplyFailed: builder.objectRef<EventOf<'ReplyFailed'>>('ReplyFailed'),
    ReplyCancelled: builder.objectRef<EventOf<'ReplyCancelled'>>('ReplyCancelled'),
    ReplyInterrupted: builder.objectRef<EventOf<'ReplyInterrupted'>>('ReplyInterrupted'),
  };
}

export type Refs = ReturnType<typeof createRefs>;
