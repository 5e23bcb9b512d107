import type { Database, EntityManager } from '../db/orm.js';
import { findPlain } from '../db/plain-rows.js';
import { UUID_PATTERN } from '../db/uuid.js';
import { AppError } from '../security/errors.js';
import { ConversationSchema, type Conversation } from './conversation.entity.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { MessageSchema, type Message } from './message.entity.js';
import { ToolCallSchema, type ToolCall } from './tool-call.entity.js';

export interface Page<T> {
  items: T[];
  cursors: string[];
  /** Cursor of the next page's start when it differs from the last item's cursor (a page that ended a scan early). */
  endCursor?: string;
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

/** Largest page a client may request. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

type ConversationCursor = { u: number; i: string };
type MessageCursor = { i: string };

/** 9999-12-31T23:59:59.999Z, the latest time a page cursor may name. */
const LATEST_CURSOR_TIME = 253_402_300_799_999;

const isConversationCursor = (value: unknown): value is ConversationCursor =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as ConversationCursor).u === 'number' &&
  // Times this API writes lie between 1970 and 9999; anything else would reach the query as "Invalid
  // Date" (SQLite) or a timestamp PostgreSQL rejects.
  (value as ConversationCursor).u >= 0 &&
  (value as ConversationCursor).u <= LATEST_CURSOR_TIME &&
  typeof (value as ConversationCursor).i === 'string' &&
  UUID_PATTERN.test((value as ConversationCursor).i);

const isMessageCursor = (value: unknown): value is MessageCursor =>
  typeof value === 'object' && value !== null && typeof (value as MessageCursor).i === 'string' && UUID_PATTERN.test((value as MessageCursor).i);

function invalidCursor(field: string): AppError {
  return AppError.badUserInput([{ field, message: 'not a cursor returned by this API' }]);
}

/**
 * Reads and changes a caller's conversations. Every method takes the owner and filters by it, so a
 * conversation of another user looks exactly like one that does not exist.
 */
export class ConversationService {
  constructor(private readonly db: Database) {}

  async find(em: EntityManager, ownerId: string, id: string): Promise<Conversation | undefined> {
    return (await em.findOne(ConversationSchema, { id, ownerId })) ?? undefined;
  }

  async findMessage(em: EntityManager, ownerId: string, id: string): Promise<Message | undefined> {
    return (await em.findOne(MessageSchema, { id, ownerId })) ?? undefined;
  }

  /** The caller's conversations, most recent activity first. */
  async list(em: EntityManager, ownerId: string, first: number, after: string | undefined): Promise<Page<Conversation>> {
    const cursor = after === undefined ? undefined : decodeCursor(after, isConversationCursor);
    if (after !== undefined && !cursor) throw invalidCursor('after');

    const where = cursor
      ? {
          ownerId,
          $or: [{ updatedAt: { $lt: new Date(cursor.u) } }, { updatedAt: new Date(cursor.u), id: { $lt: cursor.i } }],
        }
      : { ownerId };
    const rows = await em.find(ConversationSchema, where, { orderBy: [{ updatedAt: 'desc' }, { id: 'desc' }], limit: first + 1 });
    const items = rows.slice(0, first);
    return {
      items,
      cursors: items.map((item) => encodeCursor({ u: item.updatedAt.getTime(), i: item.id })),
      hasNextPage: rows.length > first,
      hasPreviousPage: cursor !== undefined,
    };
  }

  /** A conversation's messages, oldest first (ids sort in creation order). */
  async listMessages(em: EntityManager, conversationId: string, first: number, after: string | undefined): Promise<Page<Message>> {
    const cursor = after === undefined ? undefined : decodeCursor(after, isMessageCursor);
    if (after !== undefined && !cursor) throw invalidCursor('after');

    const where = cursor ? { conversationId, id: { $gt: cursor.i } } : { conversationId };
    const rows = await findPlain(em, MessageSchema, { where, orderBy: { id: 'asc' }, limit: first + 1 });
    const items = rows.slice(0, first);
    return {
      items,
      cursors: items.map((item) => encodeCursor({ i: item.id })),
      hasNextPage: rows.length > first,
      hasPreviousPage: cursor !== undefined,
    };
  }

  async toolCalls(em: EntityManager, messageIds: readonly string[]): Promise<Map<string, ToolCall[]>> {
    const byMessage = new Map<string, ToolCall[]>(messageIds.map((id) => [id, []]));
    if (messageIds.length === 0) return byMessage;
    const rows = await findPlain(em, ToolCallSchema, { where: { messageId: { $in: [...messageIds] } }, orderBy: { id: 'asc' } });
    for (const row of rows) byMessage.get(row.messageId)?.push(row);
    return byMessage;
  }

  async rename(ownerId: string, id: string, title: string): Promise<Conversation> {
    const em = this.db.fork();
    const conversation = await this.find(em, ownerId, id);
    if (!conversation) throw AppError.notFound('Conversation');
    conversation.title = title;
    conversation.updatedAt = new Date();
    await em.flush();
    return conversation;
  }
}
