import type { EntityName, FilterQuery, QueryOrderMap } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/knex';

export interface PlainQuery<T extends object> {
  where: FilterQuery<T>;
  orderBy?: QueryOrderMap<T>;
  limit?: number;
}

/**
 * Reads rows as plain objects shaped like the entity, without creating entities. Read-only lists (a
 * page of messages, a reply's events) skip the unit of work this way, which costs several times the
 * query itself. Custom types (the encrypted columns) and JSON columns are converted as entities would be.
 */
export async function findPlain<T extends object>(em: EntityManager, entity: EntityName<T>, query: PlainQuery<T>): Promise<T[]> {
  const metadata = em.getMetadata().get(entity as never);
  const platform = em.getPlatform();
  const builder = em
    .createQueryBuilder(entity)
    .select('*')
    .where(query.where as never);
  if (query.orderBy) builder.orderBy(query.orderBy as never);
  if (query.limit !== undefined) builder.limit(query.limit);
  const rows = (await builder.execute('all', true)) as Record<string, unknown>[];

  const converters: [string, (value: unknown) => unknown][] = [];
  for (const property of Object.values(metadata.properties)) {
    if (property.customType) {
      const type = property.customType;
      converters.push([property.name, (value) => type.convertToJSValue(value, platform)]);
    } else if (property.type === 'json') {
      converters.push([property.name, (value) => (typeof value === 'string' ? JSON.parse(value) : value)]);
    }
  }
  for (const row of rows) {
    for (const [name, convert] of converters) {
      if (row[name] !== null && row[name] !== undefined) row[name] = convert(row[name]);
    }
  }
  return rows as T[];
}
