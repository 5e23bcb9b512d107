import { z } from 'zod';
import type { Builder } from '../builder.js';
import { pageArguments, uuidArgument } from './ids.js';
import type { Refs } from './refs.js';
import type { addEventTypes } from './events.js';

type ChatEventRef = ReturnType<typeof addEventTypes>;
import { DEFAULT_PAGE_SIZE } from '../../conversations/conversation-service.js';
import { AppError } from '../../security/errors.js';

export interface ChatSchemaOptions {
  /** Longest accepted user message, in characters. */
  maxMessageChars: number;
}

export function addChatOperations(builder: Builder, refs: Refs & { ChatEvent: ChatEventRef }, options: ChatSchemaOptions): void {
  // Each input is validated by one Zod object, so every invalid field is reported at once.
  const ChatInput = builder.inputType('ChatInput', {
    fields: (t) => ({
      message: t.string({ required: true, description: `The user's message, at most ${options.maxMessageChars} characters.` }),
      conversationId: t.id({ description: 'Continue this conversation; omit to start a new one.' }),
      refreshContext: t.boolean({ defaultValue: false, description: 'Reload the home context from Home Assistant before answering.' }),
      clientMessageId: t.string({
        description: 'A key chosen by the client, unique per user. Sending the same key again returns the first turn instead of starting a new one.',
      }),
    }),
    validate: z.object({
      message: z
        .string()
        .refine((value) => value.trim().length > 0, 'must not be blank')
        .refine((value) => value.length <= options.maxMessageChars, `must be at most ${options.maxMessageChars} characters (CHAT_MAX_MESSAGE_CHARS)`),
      conversationId: uuidArgument.nullish(),
      refreshContext: z.boolean().nullish(),
      clientMessageId: z.string().min(1, 'must not be empty').max(255, 'must be at most 255 characters').nullish(),
    }),
  });

  builder.objectType(refs.ChatPayload, {
    fields: (t) => ({
      conversation: t.field({ type: refs.Conversation, resolve: (turn) => turn.conversation }),
      userMessage: t.field({ type: refs.Message, resolve: (turn) => turn.userMessage }),
      reply: t.field({ type: refs.Message, description: 'The reply, STREAMING when returned. Follow it with replyStream.', resolve: (turn) => turn.reply }),
    }),
  });

  builder.objectType(refs.DeletePayload, {
    fields: (t) => ({
      id: t.exposeID('id'),
      deleted: t.exposeBoolean('deleted'),
    }),
  });

  builder.queryFields((t) => ({
    conversation: t.field({
      type: refs.Conversation,
      nullable: true,
      description: 'A conversation of the caller, or null when there is none with this id.',
      authScopes: { read: true },
      args: { id: t.arg.id({ required: true, validate: uuidArgument }) },
      resolve: async (_root, args, context) => (await context.services.conversations.find(context.em, context.caller.userId, String(args.id))) ?? null,
    }),
    conversations: t.field({
      type: refs.ConversationConnection,
      description: "The caller's conversations, most recent activity first.",
      authScopes: { read: true },
      args: {
        first: t.arg.int(),
        after: t.arg.string(),
      },
      validate: pageArguments,
      resolve: (_root, args, context) =>
        context.services.conversations.list(context.em, context.caller.userId, args.first ?? DEFAULT_PAGE_SIZE, args.after ?? undefined),
    }),
    message: t.field({
      type: refs.Message,
      nullable: true,
      description: 'A message of the caller, or null when there is none with this id.',
      authScopes: { read: true },
      args: { id: t.arg.id({ required: true, validate: uuidArgument }) },
      resolve: async (_root, args, context) => (await context.services.conversations.findMessage(context.em, context.caller.userId, String(args.id))) ?? null,
    }),
  }));

  builder.mutationFields((t) => ({
    chat: t.field({
      type: refs.ChatPayload,
      description: 'Sends a message and returns at once with the reply STREAMING. Follow it with replyStream.',
      authScopes: { chat: true },
      args: { input: t.arg({ type: ChatInput, required: true }) },
      resolve: (_root, args, context) =>
        context.services.chat.startTurn(context.caller, {
          ...args.input,
          conversationId: args.input.conversationId === undefined || args.input.conversationId === null ? null : String(args.input.conversationId),
        }),
    }),
    cancelReply: t.field({
      type: refs.Message,
      description: 'Stops a streaming reply. The text so far is kept and the reply ends CANCELLED. A reply that has already ended gives CONFLICT.',
      authScopes: { chat: true },
      args: { messageId: t.arg.id({ required: true, validate: uuidArgument }) },
      resolve: (_root, args, context) => context.services.chat.cancelReply(context.caller, String(args.messageId)),
    }),
    renameConversation: t.field({
      type: refs.Conversation,
      authScopes: { chat: true },
      args: {
        id: t.arg.id({ required: true }),
        title: t.arg.string({ required: true, description: 'Whitespace is collapsed; at most 255 characters.' }),
      },
      validate: z.object({
        id: uuidArgument,
        title: z
          .string()
          .refine((value) => value.trim().length > 0, 'must not be blank')
          .refine((value) => value.replace(/\s+/g, ' ').trim().length <= 255, 'must be at most 255 characters'),
      }),
      resolve: (_root, args, context) => context.services.conversations.rename(context.caller.userId, String(args.id), args.title.replace(/\s+/g, ' ').trim()),
    }),
    deleteConversation: t.field({
      type: refs.DeletePayload,
      description: 'Deletes a conversation with its messages, tool calls and stored events. A reply still streaming in it is cancelled first.',
      authScopes: { chat: true },
      args: { id: t.arg.id({ required: true, validate: uuidArgument }) },
      resolve: async (_root, args, context) => {
        const id = String(args.id);
        const deleted = await context.services.chat.deleteConversation(context.caller, id);
        if (!deleted) throw AppError.notFound('Conversation');
        return { id, deleted };
      },
    }),
  }));

  builder.subscriptionFields((t) => ({
    replyStream: t.field({
      type: refs.ChatEvent,
      description: "Replays the reply's events after `after` (all when omitted), then follows live ones, and ends after the last event.",
      authScopes: { chat: true },
      args: {
        messageId: t.arg.id({ required: true }),
        after: t.arg.int({ description: 'The last sequence the client has seen; omit or 0 to replay from the start.' }),
      },
      validate: z.object({ messageId: uuidArgument, after: z.number().int('must be a whole number').min(0, 'must be 0 or more').nullish() }),
      subscribe: (_root, args, context) => context.services.chat.followReply(context.caller, String(args.messageId), args.after ?? 0),
      resolve: (event) => event,
    }),
    conversationEvents: t.field({
      type: refs.ChatEvent,
      description: 'Every event of every reply in the conversation while subscribed (live only; use replyStream to replay).',
      authScopes: { chat: true },
      args: { conversationId: t.arg.id({ required: true, validate: uuidArgument }) },
      subscribe: (_root, args, context) => context.services.chat.followConversation(context.caller, String(args.conversationId)),
      resolve: (event) => event,
    }),
    chatStream: t.field({
      type: refs.ChatEvent,
      description: 'Sends a message and streams its reply in one operation.',
      authScopes: { chat: true },
      args: { input: t.arg({ type: ChatInput, required: true }) },
      subscribe: (_root, args, context) =>
        context.services.chat.streamTurn(context.caller, {
          ...args.input,
          conversationId: args.input.conversationId === undefined || args.input.conversationId === null ? null : String(args.input.conversationId),
        }),
      resolve: (event) => event,
    }),
  }));
}
