import { Migration } from '@mikro-orm/migrations';
import type { Knex } from '@mikro-orm/knex';

/**
 * A migration written with knex's schema builder, so one migration produces the right SQL for SQLite
 * and for PostgreSQL.
 */
export abstract class SchemaMigration extends Migration {
  protected schema(build: (schema: Knex.SchemaBuilder) => Knex.SchemaBuilder): void {
    for (const statement of build(this.getKnex().schema).toSQL()) {
      this.addSql(this.getKnex().raw(statement.sql, statement.bindings as Knex.RawBinding[]));
    }
  }
}
