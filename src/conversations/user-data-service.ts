import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { CreatedAutomationSchema } from '../agent/automations/created-automation.entity.js';
import { ApiKeySchema } from '../auth/api-key.entity.js';
import { DailyTokenUsageSchema } from '../security/daily-token-usage.entity.js';
import type { Database, EntityManager } from '../db/orm.js';
import type { Logger } from '../observability/logger.js';
import { AppError } from '../security/errors.js';
import { ConversationSchema } from './conversation.entity.js';
import { MessageSchema } from './message.entity.js';
import { ReplyEventSchema } from './reply-event.entity.js';
import { ToolCallSchema } from './tool-call.entity.js';

/** Identifies the layout of exportMyData documents, so a reader can tell later versions apart. */
export const EXPORT_FORMAT = 'ha-ai-agent.user-export.v1';

/** Rows read per query when exporting, so `IN (...)` lists stay well below the databases' parameter limits. */
const READ_BATCH = 500;

export interface DeletedUserData {
  conversations: number;
  messages: number;
  apiKeys: number;
  createdAutomations: number;
}

export interface UserDataServiceOptions {
  db: Database;
  logger: Logger;
  /** Cancels the user's STREAMING replies on every instance and waits until they have ended. */
  cancelStreamingReplies: (ownerId: string) => Promise<void>;
  /** Tells live subscribers that these conversations are gone. */
  onConversationsDeleted: (conversationIds: string[]) => void;
  /** Tells every instance that these API keys are gone, so they stop working and their sockets close. */
  onApiKeysDeleted?: (keyIds: string[]) => void;
}

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let index = 0; index < items.length; index += size) result.push(items.slice(index, index + size));
  return result;
}

/**
 * Everything stored about one user, for `exportMyData` and `deleteMyData`: conversations with their
 * messages, tool calls and reply events, the user's API keys (without their secret hashes), the
 * automations the agent created for them, and their daily token usage.
 *
 * NOTE: a new table with rows per user must be added to export() and, unless it is accounting, delete().
 */
export class UserDataService {
  /** Users whose export is running in this process. */
  private readonly exporting = new Set<string>();

  constructor(private readonly options: UserDataServiceOptions) {}

  /**
   * Returns one JSON document with everything stored about the user, decrypted. Throws CONFLICT while
   * another export of the same user runs in this process, on any transport.
   *
   * NOTE: the document is built whole in memory, and Yoga then serializes it once into one string, so
   * an export costs an estimated two to three times the size of the user's stored data at its peak. The
   * limit covers building the document, not sending it, and applies per user on one instance only.
   */
  async export(userId: string): Promise<Record<string, unknown>> {
    if (this.exporting.has(userId)) throw AppError.conflict('An export of your data is already running; wait for it to finish.');
    this.exporting.add(userId);
    try {
      return await this.buildExport(userId);
    } finally {
      this.exporting.delete(userId);
    }
  }

  private async buildExport(userId: string): Promise<Record<string, unknown>> {
    const em = this.options.db.fork();
    // better-sqlite3 runs queries synchronously, so without these yields a large export would hold the event
    // loop, and every other request, from the first query to the last.
    const conversations = await em.find(ConversationSchema, { ownerId: userId }, { orderBy: { id: 'asc' } });
    await yieldToEventLoop();
    const messages = await em.find(MessageSchema, { ownerId: userId }, { orderBy: { id: 'asc' } });
    await yieldToEventLoop();
    const toolCalls = await em.find(ToolCallSchema, { ownerId: userId }, { orderBy: { id: 'asc' } });
    await yieldToEventLoop();
    const events = await this.readEvents(
      em,
      messages.filter((message) => message.role === 'ASSISTANT').map((message) => message.id),
    );
    const apiKeys = await em.find(ApiKeySchema, { userId }, { orderBy: { createdAt: 'asc' } });
    const automations = await em.find(CreatedAutomationSchema, { ownerId: userId }, { orderBy: { id: 'asc' } });
    const usage = await em.find(DailyTokenUsageSchema, { userId }, { orderBy: { day: 'asc' } });

    const callsByMessage = groupBy(toolCalls, (call) => call.messageId);
    const messagesByConversation = groupBy(messages, (message) => message.conversationId);

    return {
      format: EXPORT_FORMAT,
      exportedAt: new Date().toISOString(),
      userId,
      conversations: conversations.map((conversation) => ({
        id: conversation.id,
        title: conversation.title,
        createdAt: iso(conversation.createdAt),
        updatedAt: iso(conversation.updatedAt),
        messages: (messagesByConversation.get(conversation.id) ?? []).map((message) => ({
          id: message.id,
          role: message.role,
          content: message.content,
          status: message.status,
          model: message.model ?? null,
          usage: message.usage ?? null,
          error: message.error ?? null,
          clientMessageId: message.clientMessageId ?? null,
          replyToId: message.replyToId ?? null,
          createdAt: iso(message.createdAt),
          completedAt: iso(message.completedAt),
          toolCalls: (callsByMessage.get(message.id) ?? []).map((call) => ({
            id: call.id,
            callId: call.callId,
            name: call.name,
            arguments: call.arguments,
            result: call.result ?? null,
            status: call.status,
            error: call.error ?? null,
            round: call.round,
            createdAt: iso(call.createdAt),
            finishedAt: iso(call.finishedAt),
            summary: call.summary ?? null,
            expiresAt: iso(call.expiresAt),
            preview: call.preview ?? null,
            verification: call.verification ?? null,
            decision: call.decision ?? null,
            decidedAt: iso(call.decidedAt),
          })),
          events: events.get(message.id) ?? [],
        })),
      })),
      apiKeys: apiKeys.map((key) => ({
        id: key.id,
        name: key.name,
        scopes: key.scopes.split(' ').filter(Boolean),
        createdAt: iso(key.createdAt),
        lastUsedAt: iso(key.lastUsedAt),
        revokedAt: iso(key.revokedAt),
      })),
      createdAutomations: automations.map((automation) => ({
        id: automation.id,
        automationId: automation.automationId,
        entityId: automation.entityId ?? null,
        alias: automation.alias,
        config: automation.config,
        toolCallId: automation.toolCallId,
        createdAt: iso(automation.createdAt),
        deletedAt: iso(automation.deletedAt),
      })),
      tokenUsage: usage.map((day) => ({ day: day.day, tokens: day.tokens, estimatedTokens: day.estimatedTokens })),
    };
  }

  /**
   * Deletes everything stored about the user: conversations with their messages, tool calls and reply
   * events (by foreign-key cascade), API keys, and the records of automations the agent created (the
   * automations stay in Home Assistant, which owns them). Streaming replies are cancelled first, so no
   * generator writes into deleted rows. Daily token counts stay: they are accounting, and deleting them
   * would reset the day's budget.
   */
  async delete(userId: string): Promise<DeletedUserData> {
    await this.options.cancelStreamingReplies(userId);
    const em = this.options.db.fork();
    const conversationIds = (await em.find(ConversationSchema, { ownerId: userId }, { fields: ['id'] })).map((row) => row.id);
    const keyIds = (await em.find(ApiKeySchema, { userId }, { fields: ['id'] })).map((row) => row.id);

    const deleted = await em.transactional(async (tx) => {
      const messages = await tx.count(MessageSchema, { ownerId: userId });
      const conversations = await tx.nativeDelete(ConversationSchema, { ownerId: userId });
      const apiKeys = await tx.nativeDelete(ApiKeySchema, { userId });
      const createdAutomations = await tx.nativeDelete(CreatedAutomationSchema, { ownerId: userId });
      return { conversations, messages, apiKeys, createdAutomations };
    });

    if (conversationIds.length > 0) this.options.onConversationsDeleted(conversationIds);
    if (keyIds.length > 0) this.options.onApiKeysDeleted?.(keyIds);
    this.options.logger.info({ event: 'user_data.deleted', userId, ...deleted }, 'Deleted all data of a user');
    return deleted;
  }

  private async readEvents(em: EntityManager, replyIds: string[]): Promise<Map<string, Record<string, unknown>[]>> {
    const events: { messageId: string; event: Record<string, unknown> }[] = [];
    for (const batch of chunks(replyIds, READ_BATCH)) {
      const rows = await em.find(ReplyEventSchema, { messageId: { $in: batch } }, { orderBy: [{ messageId: 'asc' }, { sequence: 'asc' }] });
      await yieldToEventLoop();
      for (const row of rows)
        events.push({ messageId: row.messageId, event: { sequence: row.sequence, type: row.type, ...row.payload, createdAt: iso(row.createdAt) } });
    }
    return new Map([...groupBy(events, (item) => item.messageId)].map(([messageId, items]) => [messageId, items.map((item) => item.event)]));
  }
}
