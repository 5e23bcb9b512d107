import type { Knex } from '@mikro-orm/knex';
import { SchemaMigration } from './schema-builder.js';

const timestamp = (table: Knex.CreateTableBuilder, name: string) => table.timestamp(name, { precision: 3, useTz: true });

/** Adds what tool confirmations and verification store on a tool call, and the automations the agent created. */
export class Migration20261205000100ConfirmationsAndAutomations extends SchemaMigration {
  override up(): void {
    this.schema((schema) =>
      schema
        .alterTable('tool_calls', (table) => {
          table.text('summary').nullable();
          timestamp(table, 'expires_at').nullable();
          table.json('preview').nullable();
          table.json('verification').nullable();
          table.string('decision', 16).nullable();
          table.string('decided_by', 255).nullable();
          timestamp(table, 'decided_at').nullable();
        })
        .createTable('created_automations', (table) => {
          table.string('id', 36).primary();
          table.string('owner_id', 255).notNullable();
          table.string('automation_id', 255).notNullable();
          table.string('entity_id', 255).nullable();
          table.string('alias', 255).notNullable();
          table.json('config').notNullable();
          table.string('tool_call_id', 36).notNullable();
          timestamp(table, 'created_at').notNullable();
          timestamp(table, 'deleted_at').nullable();
          table.index(['owner_id', 'automation_id'], 'created_automations_owner_index');
          table.unique(['automation_id'], { indexName: 'created_automations_automation_unique' });
        }),
    );
  }

  override down(): void {
    this.schema((schema) =>
      schema.dropTableIfExists('created_automations').alterTable('tool_calls', (table) => {
        table.dropColumns('summary', 'expires_at', 'preview', 'verification', 'decision', 'decided_by', 'decided_at');
      }),
    );
  }
}
