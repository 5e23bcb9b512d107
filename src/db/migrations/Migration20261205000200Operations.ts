import type { Knex } from '@mikro-orm/knex';
import { SchemaMigration } from './schema-builder.js';

const timestamp = (table: Knex.CreateTableBuilder, name: string) => table.timestamp(name, { precision: 3, useTz: true });

/**
 * Tables and columns for running several instances and for data at rest: the instance registry with
 * heartbeats, the owning instance of each streaming reply, the registry of data encryption keys, and the
 * indexes that the retention job and the audit query read by.
 */
export class Migration20261205000200Operations extends SchemaMigration {
  override up(): void {
    this.schema((schema) =>
      schema
        .createTable('instances', (table) => {
          table.string('id', 64).primary();
          table.string('hostname', 255).notNullable();
          table.integer('pid').notNullable();
          timestamp(table, 'started_at').notNullable();
          timestamp(table, 'heartbeat_at').notNullable();
          table.string('encryption_key_id', 32).nullable();
        })
        .createTable('encryption_keys', (table) => {
          table.string('id', 32).primary();
          table.text('check_value').notNullable();
          timestamp(table, 'created_at').notNullable();
          timestamp(table, 'retired_at').nullable();
        })
        .alterTable('messages', (table) => {
          table.string('instance_id', 64).nullable();
        })
        .alterTable('conversations', (table) => {
          table.index(['updated_at'], 'conversations_updated_index');
        })
        .alterTable('tool_calls', (table) => {
          table.index(['owner_id', 'id'], 'tool_calls_owner_index');
        }),
    );
  }

  override down(): void {
    this.schema((schema) =>
      schema
        .alterTable('tool_calls', (table) => {
          table.dropIndex(['owner_id', 'id'], 'tool_calls_owner_index');
        })
        .alterTable('conversations', (table) => {
          table.dropIndex(['updated_at'], 'conversations_updated_index');
        })
        .alterTable('messages', (table) => {
          table.dropColumn('instance_id');
        })
        .dropTableIfExists('encryption_keys')
        .dropTableIfExists('instances'),
    );
  }
}
