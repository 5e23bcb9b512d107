import { MessageSchema } from '../../conversations/message.entity.js';
import type { Builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import type { Refs } from './refs.js';

async function loadReply(context: GraphQLContext, messageId: string) {
  // A fresh read: the subscription's identity map may hold the row from before the reply ended.
  const message = await context.em.fork().findOne(MessageSchema, { id: messageId, ownerId: context.caller.userId });
  if (!message) throw new Error(`Reply ${messageId} is missing.`);
  return message;
}

export function addEventTypes(builder: Builder, refs: Refs) {
  const sequence = "Position of the event in its reply's event log, starting at 1.";

  builder.objectType(refs.ReplyStarted, {
    description: 'The first event of every reply.',
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      conversationId: t.exposeID('conversationId'),
    }),
  });
  builder.objectType(refs.ReplyDelta, {
    description: "The next piece of the reply's text. Joined in sequence order, the deltas are the reply.",
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      text: t.exposeString('text'),
    }),
  });
  builder.objectType(refs.ToolCallStarted, {
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      toolCall: t.field({ type: refs.ToolCall, resolve: (event) => event.toolCall }),
    }),
  });
  builder.objectType(refs.ToolCallAwaitingConfirmation, {
    description: 'A risky action waits for confirmToolCall before it runs.',
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      toolCall: t.field({ type: refs.ToolCall, resolve: (event) => event.toolCall }),
      summary: t.exposeString('summary', { description: 'What will happen, in plain words.' }),
      expiresAt: t.field({ type: 'DateTime', resolve: (event) => event.expiresAt }),
    }),
  });
  builder.objectType(refs.ToolCallFinished, {
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      toolCall: t.field({ type: refs.ToolCall, resolve: (event) => event.toolCall }),
    }),
  });
  builder.objectType(refs.ReplyCompleted, {
    description: 'The reply finished normally. Ends the stream.',
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      message: t.field({ type: refs.Message, resolve: (event, _args, context) => loadReply(context, event.messageId) }),
    }),
  });
  builder.objectType(refs.ReplyFailed, {
    description: 'The reply ended with an error; its text so far is kept. Ends the stream.',
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      code: t.exposeString('code', { description: 'An error code such as LLM_UNAVAILABLE.' }),
      // Named errorMessage, not message, so that a client can select `message` on every final event
      // in one selection set: `message` is the Message on ReplyCompleted, ReplyCancelled and here.
      errorMessage: t.exposeString('message', { description: 'What went wrong, safe to show to the user.' }),
      retryable: t.exposeBoolean('retryable', { description: 'Whether sending the message again later can succeed.' }),
      message: t.field({
        type: refs.Message,
        description: 'The failed reply with the text generated before the error.',
        resolve: (event, _args, context) => loadReply(context, event.messageId),
      }),
    }),
  });
  builder.objectType(refs.ReplyCancelled, {
    description: 'The reply was cancelled; its text so far is kept. Ends the stream.',
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      message: t.field({ type: refs.Message, resolve: (event, _args, context) => loadReply(context, event.messageId) }),
    }),
  });
  builder.objectType(refs.ReplyInterrupted, {
    description: 'A server restart found the reply unfinished; the text saved before it is kept. Ends the stream.',
    fields: (t) => ({
      sequence: t.exposeInt('sequence', { description: sequence }),
      messageId: t.exposeID('messageId'),
      message: t.field({ type: refs.Message, resolve: (event, _args, context) => loadReply(context, event.messageId) }),
    }),
  });

  return builder.unionType('ChatEvent', {
    description: 'One event of a reply. Every event carries its sequence and messageId; the last four types end the stream.',
    types: [
      refs.ReplyStarted,
      refs.ReplyDelta,
      refs.ToolCallStarted,
      refs.ToolCallAwaitingConfirmation,
      refs.ToolCallFinished,
      refs.ReplyCompleted,
      refs.ReplyFailed,
      refs.ReplyCancelled,
      refs.ReplyInterrupted,
    ],
    resolveType: (event) => event.type,
  });
}
