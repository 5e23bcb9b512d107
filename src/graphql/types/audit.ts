import { z } from 'zod';
import { TOOL_CALL_STATUSES } from '../../conversations/tool-call.entity.js';
import type { ToolExecution } from '../../conversations/tool-audit.js';
import { DEFAULT_PAGE_SIZE, type Page } from '../../conversations/conversation-service.js';
import type { Builder } from '../builder.js';
import { addPageInfo, implementConnection } from './connection.js';
import { cursorArgument, pageSizeArgument } from './ids.js';
import type { addConversationTypes } from './conversation.js';
import { hideSecretArguments } from '../../agent/tools/hidden-arguments.js';

export function addAuditTypes(builder: Builder, refs: Pick<ReturnType<typeof addConversationTypes>, 'ToolCallStatus'>): void {
  const ToolExecutionRef = builder.objectRef<ToolExecution>('ToolExecution');
  const ToolExecutionConnection = builder.objectRef<Page<ToolExecution>>('ToolExecutionConnection');

  builder.objectType(ToolExecutionRef, {
    description: 'One tool the agent ran for a user, as the audit trail records it.',
    fields: (t) => ({
      id: t.id({ description: 'The tool call id.', resolve: (execution) => execution.call.id }),
      userId: t.id({ description: 'The user whose reply made the call.', resolve: (execution) => execution.call.ownerId }),
      conversationId: t.id({ nullable: true, resolve: (execution) => execution.conversationId }),
      messageId: t.id({ description: 'The assistant reply that made the call.', resolve: (execution) => execution.call.messageId }),
      tool: t.string({ description: 'The tool name, such as call_service.', resolve: (execution) => execution.call.name }),
      targetEntities: t.stringList({
        description: 'Entity ids named in the arguments (`entity_id` or `entity_ids`, at any level such as `target.entity_id`).',
        resolve: (execution) => execution.targetEntities,
      }),
      arguments: t.field({
        type: 'JSON',
        description: 'The arguments, with secrets such as a lock code shown as (hidden).',
        resolve: (execution) => hideSecretArguments(execution.call.arguments),
      }),
      status: t.field({ type: refs.ToolCallStatus, description: 'The outcome.', resolve: (execution) => execution.call.status }),
      errorCode: t.string({
        nullable: true,
        description: 'Why it failed or was rejected, such as FORBIDDEN.',
        resolve: (execution) => execution.call.error?.code ?? null,
      }),
      startedAt: t.field({ type: 'DateTime', resolve: (execution) => execution.call.createdAt }),
      finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (execution) => execution.call.finishedAt ?? null }),
      durationMs: t.int({
        nullable: true,
        resolve: (execution) => (execution.call.finishedAt ? execution.call.finishedAt.getTime() - execution.call.createdAt.getTime() : null),
      }),
      replyTokens: t.int({
        nullable: true,
        description: 'Total tokens of the whole reply that made the call (shared by all its tool calls); null while it streams.',
        resolve: (execution) => execution.replyTokens,
      }),
    }),
  });

  implementConnection(
    builder,
    { connection: ToolExecutionConnection, node: ToolExecutionRef, pageInfo: addPageInfo(builder) },
    'Tool executions, newest first.',
  );

  const ToolExecutionFilter = builder.inputType('ToolExecutionFilter', {
    fields: (t) => ({
      userId: t.id({ description: 'Only calls made for this user.' }),
      tool: t.string({ description: 'Only this tool, such as call_service.' }),
      status: t.field({ type: refs.ToolCallStatus, description: 'Only this outcome.' }),
      entityId: t.string({ description: 'Only calls whose arguments name this entity, such as lock.front_door.' }),
      since: t.field({ type: 'DateTime', description: 'Only calls started at or after this instant.' }),
      until: t.field({ type: 'DateTime', description: 'Only calls started before this instant.' }),
    }),
  });

  const text = z.string().min(1, 'must not be empty').max(255, 'must be at most 255 characters').nullish();
  // One Zod object for the page arguments and the filter, so every invalid field is reported at once.
  const argumentsSchema = z.object({
    first: pageSizeArgument.nullish(),
    after: cursorArgument.nullish(),
    filter: z
      .object({ userId: text, tool: text, status: z.enum(TOOL_CALL_STATUSES).nullish(), entityId: text, since: z.date().nullish(), until: z.date().nullish() })
      .refine((filter) => !filter.since || !filter.until || filter.since < filter.until, { message: 'must be after since', path: ['until'] })
      .nullish(),
  });

  builder.queryField('toolExecutions', (t) =>
    t.field({
      type: ToolExecutionConnection,
      description: 'The audit trail: tool executions across all users, newest first. Requires the admin scope.',
      authScopes: { admin: true },
      args: {
        filter: t.arg({ type: ToolExecutionFilter }),
        first: t.arg.int(),
        after: t.arg.string(),
      },
      validate: argumentsSchema,
      resolve: (_root, args, context) => {
        const filter = args.filter ?? {};
        return context.services.audit.list(
          {
            userId: filter.userId === undefined || filter.userId === null ? undefined : String(filter.userId),
            tool: filter.tool ?? undefined,
            status: filter.status ?? undefined,
            entityId: filter.entityId ?? undefined,
            since: filter.since ?? undefined,
            until: filter.until ?? undefined,
          },
          args.first ?? DEFAULT_PAGE_SIZE,
          args.after ?? undefined,
        );
      },
    }),
  );
}
