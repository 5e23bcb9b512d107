import { resolve } from 'node:path';

export type DatabaseTarget = { kind: 'sqlite' /** File path, or `:memory:`. */; file: string } | { kind: 'postgresql'; url: string };

/** Splits DATABASE_URL into the driver and its location. The config schema has already checked the form. */
export function parseDatabaseUrl(databaseUrl: string): DatabaseTarget {
  if (databaseUrl.startsWith('sqlite:')) {
    const location = databaseUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    return { kind: 'sqlite', file: location === ':memory:' ? location : resolve(location) };
  }
  return { kind: 'postgresql', url: databaseUrl };
}
