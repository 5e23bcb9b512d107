import { MESSAGE_ROLES, type MESSAGE_STATUSES } from '../../conversations/message.entity.js';
import { DEFAULT_PAGE_SIZE } from '../../conversations/conversation-service.js';
import type { TOOL_CALL_STATUSES } from '../../conversations/tool-call.entity.js';
import type { Builder } from '../builder.js';
import { addPageInfo, implementConnection } from './connection.js';
import { pageArguments } from './ids.js';
import { addToolCallDetails } from './tool-call-details.js';
import type { Refs } from './refs.js';
import { hideSecretArguments } from '../../agent/tools/hidden-arguments.js';

export function addConversationTypes(builder: Builder, refs: Refs) {
  const MessageRole = builder.enumType('MessageRole', {
    description: 'Who wrote a message. Tool calls belong to the assistant reply that made them.',
    values: MESSAGE_ROLES,
  });
  const MessageStatus = builder.enumType('MessageStatus', {
    values: {
      STREAMING: { description: 'The reply is being generated.' },
      COMPLETED: { description: 'Finished normally. User messages are always COMPLETED.' },
      FAILED: { description: 'Ended by an error; `error` says which. The text generated before it is kept.' },
      CANCELLED: { description: 'Stopped by cancelReply; the text generated before it is kept.' },
      INTERRUPTED: { description: 'The server stopped while generating it; the text saved before it is kept.' },
    } satisfies Record<(typeof MESSAGE_STATUSES)[number], unknown>,
  });
  const ToolCallStatus = builder.enumType('ToolCallStatus', {
    values: {
      RUNNING: { description: 'The tool is running.' },
      AWAITING_CONFIRMATION: { description: 'A risky action waits for confirmToolCall; see `summary` and `expiresAt`.' },
      COMPLETED: { description: 'The tool ran; `result` holds what it returned and `verification` what changed.' },
      FAILED: { description: 'The tool could not run or Home Assistant reported an error; see `error`.' },
      REJECTED: { description: 'The policy refused the call, or the user declined it, so nothing was done.' },
      EXPIRED: { description: 'Nobody confirmed the action before `expiresAt`, so nothing was done.' },
      CANCELLED: {
        description:
          'The reply was cancelled before the tool sent anything to Home Assistant, so nothing was done. A call already sent finishes and keeps its own status.',
      },
    } satisfies Record<(typeof TOOL_CALL_STATUSES)[number], unknown>,
  });

  const { ToolCallVerification, ToolCallConfirmation } = addToolCallDetails(builder);

  builder.objectType(refs.ToolCall, {
    description: 'A tool the agent called while writing a reply, such as reading states or calling a Home Assistant service.',
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      arguments: t.field({
        type: 'JSON',
        description: 'The arguments the model sent, with secrets such as a lock code shown as (hidden).',
        resolve: (call) => hideSecretArguments(call.arguments),
      }),
      result: t.field({ type: 'JSON', nullable: true, resolve: (call) => call.result ?? null }),
      status: t.field({ type: ToolCallStatus, resolve: (call) => call.status }),
      error: t.field({ type: refs.MessageError, nullable: true, resolve: (call) => (call.error ? { ...call.error, retryable: false } : null) }),
      summary: t.string({
        nullable: true,
        description: 'For an action that needed a confirmation: what it does, in plain words.',
        resolve: (call) => call.summary ?? null,
      }),
      expiresAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When an unanswered confirmation expires.',
        resolve: (call) => call.expiresAt ?? null,
      }),
      preview: t.field({
        type: 'JSON',
        nullable: true,
        description: 'Detail shown with the confirmation, such as the automation that will be created.',
        resolve: (call) => call.preview ?? null,
      }),
      verification: t.field({
        type: ToolCallVerification,
        nullable: true,
        description: "What a state change actually did, from the entities' reported states.",
        resolve: (call) => call.verification ?? null,
      }),
      confirmation: t.field({
        type: ToolCallConfirmation,
        nullable: true,
        description: "The user's decision on an action that needed a confirmation.",
        resolve: (call) => (call.decision ? { approved: call.decision === 'APPROVED', decidedAt: call.decidedAt ?? null } : null),
      }),
    }),
  });

  builder.objectType(refs.MessageError, {
    description: 'Why a reply or tool call failed.',
    fields: (t) => ({
      code: t.exposeString('code', { description: 'An error code such as LLM_UNAVAILABLE.' }),
      message: t.exposeString('message'),
      retryable: t.exposeBoolean('retryable', { description: 'Whether sending the message again later can succeed.' }),
    }),
  });

  builder.objectType(refs.PromptBreakdown, {
    description: 'Token counts of each part of the prompt that was sent, counted locally with the o200k tokenizer.',
    fields: (t) => ({
      system: t.exposeInt('system'),
      context: t.exposeInt('context', { description: 'The home context.' }),
      history: t.exposeInt('history', { description: 'Earlier messages of the conversation.' }),
      historyMessages: t.exposeInt('historyMessages', { description: 'How many earlier messages were sent.' }),
      message: t.exposeInt('message'),
      tools: t.exposeInt('tools', { description: 'Tool definitions.' }),
    }),
  });

  builder.objectType(refs.TokenUsage, {
    fields: (t) => ({
      promptTokens: t.exposeInt('promptTokens'),
      completionTokens: t.exposeInt('completionTokens'),
      totalTokens: t.exposeInt('totalTokens'),
      estimated: t.exposeBoolean('estimated', { description: 'True when the model endpoint sent no usage and the counts are local estimates.' }),
      prompt: t.field({ type: refs.PromptBreakdown, nullable: true, resolve: (usage) => usage.prompt ?? null }),
    }),
  });

  builder.objectType(refs.Message, {
    description: 'A user message or an assistant reply.',
    fields: (t) => ({
      id: t.exposeID('id'),
      role: t.field({ type: MessageRole, resolve: (message) => message.role }),
      content: t.exposeString('content', { description: 'The text. While a reply streams, the text saved so far.' }),
      status: t.field({ type: MessageStatus, resolve: (message) => message.status }),
      toolCalls: t.field({
        type: [refs.ToolCall],
        resolve: (message, _args, context) => (message.role === 'ASSISTANT' ? context.loaders.toolCallsByMessage.load(message.id) : []),
      }),
      model: t.string({ nullable: true, resolve: (message) => message.model ?? null }),
      usage: t.field({ type: refs.TokenUsage, nullable: true, resolve: (message) => message.usage ?? null }),
      error: t.field({ type: refs.MessageError, nullable: true, resolve: (message) => message.error ?? null }),
      createdAt: t.field({ type: 'DateTime', resolve: (message) => message.createdAt }),
      completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (message) => message.completedAt ?? null }),
      conversation: t.field({
        type: refs.Conversation,
        resolve: async (message, _args, context) => {
          const conversation = await context.services.conversations.find(context.em, context.caller.userId, message.conversationId);
          if (!conversation) throw new Error(`Conversation ${message.conversationId} of message ${message.id} is missing.`);
          return conversation;
        },
      }),
    }),
  });

  builder.objectType(refs.Conversation, {
    fields: (t) => ({
      id: t.exposeID('id'),
      title: t.exposeString('title'),
      createdAt: t.field({ type: 'DateTime', resolve: (conversation) => conversation.createdAt }),
      updatedAt: t.field({ type: 'DateTime', description: 'Last activity: a new message or a rename.', resolve: (conversation) => conversation.updatedAt }),
      messages: t.field({
        type: refs.MessageConnection,
        description: 'Messages oldest first.',
        args: {
          first: t.arg.int(),
          after: t.arg.string(),
        },
        validate: pageArguments,
        resolve: (conversation, args, context) =>
          context.services.conversations.listMessages(context.em, conversation.id, args.first ?? DEFAULT_PAGE_SIZE, args.after ?? undefined),
      }),
    }),
  });

  const pageInfo = addPageInfo(builder);
  implementConnection(
    builder,
    { connection: refs.ConversationConnection, node: refs.Conversation, pageInfo },
    "The caller's conversations, most recent activity first.",
  );
  implementConnection(builder, { connection: refs.MessageConnection, node: refs.Message, pageInfo }, 'Messages of a conversation, oldest first.');
  return { ToolCallStatus };
}
