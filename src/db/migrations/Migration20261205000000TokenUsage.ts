import { SchemaMigration } from './schema-builder.js';

/** Adds the per-user, per-day token counts that daily budgets are checked against. */
export class Migration20261205000000TokenUsage extends SchemaMigration {
  override up(): void {
    this.schema((schema) =>
      schema.createTable('token_usage', (table) => {
        table.string('user_id', 255).notNullable();
        table.string('day', 10).notNullable();
        table.bigInteger('tokens').notNullable().defaultTo(0);
        table.bigInteger('estimated_tokens').notNullable().defaultTo(0);
        table.primary(['user_id', 'day']);
      }),
    );
  }

  override down(): void {
    this.schema((schema) => schema.dropTableIfExists('token_usage'));
  }
}
