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

/**
 * Names the database of a target for messages: the SQLite file path, or the PostgreSQL host and
 * database. The PostgreSQL user name and password are left out.
 */
export function describeDatabaseTarget(target: DatabaseTarget): string {
  if (target.kind === 'sqlite') return target.file === ':memory:' ? 'in-memory SQLite database' : `SQLite file ${target.file}`;
  const url = new URL(target.url);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return `PostgreSQL database "${database}" on ${url.host}`;
}
