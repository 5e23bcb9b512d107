import type { Knex } from '@mikro-orm/knex';
import { SchemaMigration } from './schema-builder.js';

const timestamp = (table: Knex.CreateTableBuilder, name: string) => table.timestamp(name, { precision: 3, useTz: true });

export class Migration20261204000000Initial extends SchemaMigration {
  override up(): void {
    this.schema((schema) =>
      schema
        .createTable('conversations', (table) => {
          table.string('id', 36).primary();
          table.string('owner_id', 255).notNullable();
          table.string('title', 255).notNullable();
          timestamp(table, 'created_at').notNullable();
          timestamp(table, 'updated_at').notNullable();
          table.index(['owner_id', 'updated_at', 'id'], 'conversations_owner_updated_index');
        })
        .createTable('messages', (table) => {
          table.string('id', 36).primary();
          table.string('conversation_id', 36).notNullable().references('id').inTable('conversations').onDelete('CASCADE');
          table.string('owner_id', 255).notNullable();
          table.string('role', 16).notNullable();
          table.text('content').notNullable();
          table.string('status', 16).notNullable();
          table.string('model', 255).nullable();
          table.json('usage').nullable();
          table.json('error').nullable();
          table.string('client_message_id', 255).nullable();
          table.string('reply_to_id', 36).nullable();
          table.integer('last_sequence').notNullable().defaultTo(0);
          timestamp(table, 'created_at').notNullable();
          timestamp(table, 'completed_at').nullable();
          table.index(['conversation_id', 'id'], 'messages_conversation_index');
          table.index(['status'], 'messages_status_index');
          table.unique(['owner_id', 'client_message_id'], { indexName: 'messages_owner_client_message_unique' });
        })
        .createTable('tool_calls', (table) => {
          table.string('id', 36).primary();
          table.string('message_id', 36).notNullable().references('id').inTable('messages').onDelete('CASCADE');
          table.string('owner_id', 255).notNullable();
          table.string('call_id', 255).notNullable();
          table.string('name', 255).notNullable();
          table.json('arguments').notNullable();
          table.json('result').nullable();
          table.string('status', 32).notNullable();
          table.json('error').nullable();
          table.integer('round').notNullable();
          timestamp(table, 'created_at').notNullable();
          timestamp(table, 'finished_at').nullable();
          table.index(['message_id', 'id'], 'tool_calls_message_index');
        })
        .createTable('reply_events', (table) => {
          table.string('message_id', 36).notNullable().references('id').inTable('messages').onDelete('CASCADE');
          table.integer('sequence').notNullable();
          table.string('type', 64).notNullable();
          table.json('payload').notNullable();
          timestamp(table, 'created_at').notNullable();
          table.primary(['message_id', 'sequence']);
        })
        .createTable('api_keys', (table) => {
          table.string('id', 32).primary();
          table.string('user_id', 255).notNullable();
          table.string('name', 255).notNullable();
          table.string('secret_hash', 64).notNullable();
          table.string('scopes', 255).notNullable();
          timestamp(table, 'created_at').notNullable();
          timestamp(table, 'last_used_at').nullable();
          timestamp(table, 'revoked_at').nullable();
          table.index(['user_id'], 'api_keys_user_index');
        }),
    );
  }

  override down(): void {
    this.schema((schema) =>
      schema
        .dropTableIfExists('api_keys')
        .dropTableIfExists('reply_events')
        .dropTableIfExists('tool_calls')
        .dropTableIfExists('messages')
        .dropTableIfExists('conversations'),
    );
  }
}
