import type { EntityManager } from '@mikro-orm/knex';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';
import { encryptedPrefix } from '../security/data-cipher.js';

/** A column that the DataCipher stores, with the entity property whose custom type converts it. */
export interface SealedColumn {
  entity: string;
  property: string;
  column: string;
  json: boolean;
}

export interface SealedTable {
  table: string;
  keys: string[];
  columns: SealedColumn[];
}

/** Every table with encrypted columns, read in primary-key order. */
export const SEALED_TABLES: SealedTable[] = [
  { table: 'conversations', keys: ['id'], columns: [{ entity: 'Conversation', property: 'title', column: 'title', json: false }] },
  { table: 'messages', keys: ['id'], columns: [{ entity: 'Message', property: 'content', column: 'content', json: false }] },
  {
    table: 'tool_calls',
    keys: ['id'],
    columns: [
      { entity: 'ToolCall', property: 'arguments', column: 'arguments', json: true },
      { entity: 'ToolCall', property: 'result', column: 'result', json: true },
      { entity: 'ToolCall', property: 'summary', column: 'summary', json: false },
      { entity: 'ToolCall', property: 'preview', column: 'preview', json: true },
      { entity: 'ToolCall', property: 'verification', column: 'verification', json: true },
    ],
  },
  { table: 'reply_events', keys: ['message_id', 'sequence'], columns: [{ entity: 'ReplyEvent', property: 'payload', column: 'payload', json: true }] },
  { table: 'created_automations', keys: ['id'], columns: [{ entity: 'CreatedAutomation', property: 'config', column: 'config', json: true }] },
];

/**
 * Returns the first encrypted column (`table.column`) holding a value encrypted with the key `keyId`, or
 * undefined when no stored value uses it. Scans the tables without an index, so it runs only when a key
 * record conflicts with the configuration. Runs inside the transaction of `em`, if any.
 */
export async function findColumnEncryptedWith(em: EntityManager, keyId: string): Promise<string | undefined> {
  const postgres = em.getPlatform() instanceof PostgreSqlPlatform;
  const textPrefix = encryptedPrefix(keyId);
  // A JSON column stores the encrypted text as a JSON string, in which U+0001 is written as \u0001.
  const jsonPrefix = JSON.stringify(textPrefix).slice(0, -1);
  const knex = em.getKnex();
  for (const table of SEALED_TABLES) {
    for (const column of table.columns) {
      const prefix = column.json ? jsonPrefix : textPrefix;
      const value = postgres && column.json ? '??::text' : '??';
      const query = knex(table.table).select(knex.raw('1 as found')).whereRaw(`substr(${value}, 1, ${prefix.length}) = ?`, [column.column, prefix]).limit(1);
      const rows = await em.execute<{ found: number }[]>(query);
      if (rows.length > 0) return `${table.table}.${column.column}`;
    }
  }
  return undefined;
}
