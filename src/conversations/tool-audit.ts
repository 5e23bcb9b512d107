import type { FilterQuery } from '@mikro-orm/core';
import type { Database } from '../db/orm.js';
import { UUID_PATTERN } from '../db/uuid.js';
import { AppError } from '../security/errors.js';
import type { Page } from './conversation-service.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { MessageSchema } from './message.entity.js';
import { ToolCallSchema, type ToolCall, type ToolCallStatus } from './tool-call.entity.js';

export interface ToolAuditFilter {
  userId?: string;
  tool?: string;
  status?: ToolCallStatus;
  /** Only calls started at or after this instant. */
  since?: Date;
  /** Only calls started before this instant. */
  until?: Date;
  /** Only calls whose arguments target this entity. */
  entityId?: string;
}

/** One tool execution as the audit trail shows it. */
export interface ToolExecution {
  call: ToolCall;
  conversationId: string | null;
  targetEntities: string[];
  /** Total tokens of the reply that made the call; null while it streams or when it recorded none. */
  replyTokens: number | null;
}

/** Keys whose values name target entities in the arguments of Home Assistant tools and services. */
const ENTITY_KEYS = new Set(['entity_id', 'entity_ids']);

/** Nesting depth searched for entity keys, such as `target.entity_id` or `data.entity_id`. */
const MAX_ARGUMENT_DEPTH = 4;

/**
 * Entity ids that a tool call's arguments target: every string, or array of strings, under an
 * `entity_id` or `entity_ids` key at any level (`target.entity_id` included), in order and without
 * repeats. Works for any tool that names entities the way Home Assistant services do.
 */
export function targetEntities(args: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, depth: number) => {
    if (depth > MAX_ARGUMENT_DEPTH || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) visit(item, depth + 1);
      return;
    }
    for (const [key, item] of Object.entries(value)) {
      if (ENTITY_KEYS.has(key)) {
        const ids = Array.isArray(item) ? item : [item];
        for (const id of ids) if (typeof id === 'string' && id.trim() !== '') found.push(id.trim());
      } else {
        visit(item, depth + 1);
      }
    }
  };
  visit(args, 0);
  return [...new Set(found)];
}

/** Rows read per query while filtering by entity, which the database cannot do on encrypted arguments. */
const ENTITY_SCAN_BATCH = 200;
/** Most rows one request scans for an entity filter; the page then ends early with a cursor to go on. */
const ENTITY_SCAN_LIMIT = 5_000;

type AuditCursor = { i: string };
const isAuditCursor = (value: unknown): value is AuditCursor =>
  typeof value === 'object' && value !== null && typeof (value as AuditCursor).i === 'string' && UUID_PATTERN.test((value as AuditCursor).i);

/**
 * The audit trail of tool executions across all users, newest first. The tool name, status, user and
 * time filters run in the database. Arguments may be encrypted at rest, so the entity filter decrypts
 * rows in batches and may return a short page whose end cursor continues the scan.
 */
export class ToolAuditService {
  constructor(private readonly db: Database) {}

  async list(filter: ToolAuditFilter, first: number, after: string | undefined): Promise<Page<ToolExecution>> {
    const cursor = after === undefined ? undefined : decodeCursor(after, isAuditCursor);
    if (after !== undefined && !cursor) throw AppError.badUserInput([{ field: 'after', message: 'not a cursor returned by this API' }]);

    const em = this.db.fork();
    const where: FilterQuery<ToolCall> = {
      ...(filter.userId !== undefined ? { ownerId: filter.userId } : {}),
      ...(filter.tool !== undefined ? { name: filter.tool } : {}),
      ...(filter.status !== undefined ? { status: filter.status } : {}),
      ...(filter.since || filter.until
        ? { createdAt: { ...(filter.since ? { $gte: filter.since } : {}), ...(filter.until ? { $lt: filter.until } : {}) } }
        : {}),
    };

    const matches: ToolCall[] = [];
    let lastScanned = cursor?.i;
    let scanned = 0;
    let exhausted = false;
    const batchSize = filter.entityId === undefined ? first + 1 : ENTITY_SCAN_BATCH;
    while (matches.length <= first && scanned < ENTITY_SCAN_LIMIT) {
      const rows = await em.find(ToolCallSchema, { ...where, ...(lastScanned ? { id: { $lt: lastScanned } } : {}) } as FilterQuery<ToolCall>, {
        orderBy: { id: 'desc' },
        limit: batchSize,
      });
      for (const row of rows) {
        scanned += 1;
        if (filter.entityId === undefined || targetEntities(row.arguments).includes(filter.entityId)) matches.push(row);
        lastScanned = row.id;
        if (matches.length > first) break;
      }
      if (rows.length < batchSize) {
        exhausted = true;
        break;
      }
      if (filter.entityId === undefined) break;
    }

    const items = matches.slice(0, first);
    const hasNextPage = matches.length > first || (!exhausted && filter.entityId !== undefined);
    const replies =
      items.length === 0
        ? []
        : await em.find(
            MessageSchema,
            { id: { $in: [...new Set(items.map((call) => call.messageId))] } },
            { fields: ['id', 'conversationId', 'usage', 'status'] },
          );
    const replyById = new Map(replies.map((reply) => [reply.id, reply]));

    const cursors = items.map((call) => encodeCursor({ i: call.id }));
    // A short page of an entity scan ends where the scan stopped, not at its last match.
    const endCursor = hasNextPage && matches.length <= first && lastScanned ? encodeCursor({ i: lastScanned }) : undefined;
    return {
      items: items.map((call) => {
        const reply = replyById.get(call.messageId);
        return {
          call,
          conversationId: reply?.conversationId ?? null,
          targetEntities: targetEntities(call.arguments),
          replyTokens: reply?.status !== 'STREAMING' && reply?.usage ? reply.usage.totalTokens : null,
        };
      }),
      cursors,
      ...(endCursor ? { endCursor } : {}),
      hasNextPage,
      hasPreviousPage: cursor !== undefined,
    };
  }
}
