import { chmodSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createSqliteFile, openDatabase, SQLITE_FILE_MODE } from './orm.js';

export interface BackupResult {
  file: string;
  bytes: number;
  /** Rows per table in the copy. */
  rows: Record<string, number>;
}

const COUNTED_TABLES = ['conversations', 'messages', 'tool_calls', 'reply_events', 'api_keys'];

/**
 * Copies a SQLite database into `target` while servers keep using it. `VACUUM INTO` reads one snapshot
 * in a single read transaction, which WAL mode lets writers continue beside, so the copy is consistent
 * (each reply's text matches its stored events) and leaves out free pages. The copy is written under a
 * temporary name, checked with `PRAGMA integrity_check`, and only then renamed to `target`, readable by
 * its owner only. Throws DatabaseNotFoundError, creating nothing, when the source file does not exist.
 */
export async function backupSqlite(databaseUrl: string, target: string, options: { overwrite?: boolean } = {}): Promise<BackupResult> {
  const file = path.resolve(target);
  if (existsSync(file) && !options.overwrite) throw new Error(`${file} already exists. Choose a new file name, or pass --force to replace it.`);
  const partial = `${file}.partial-${process.pid}`;
  rmSync(partial, { force: true });

  const source = await openDatabase(databaseUrl, () => {}, { migrate: false, create: false });
  try {
    // VACUUM INTO accepts an empty file, which keeps the mode it was created with.
    createSqliteFile(partial);
    await source.orm.em.getConnection().execute('vacuum into ?', [partial]);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    await source.close();
  }

  const copy = await openDatabase(`sqlite:${partial}`, () => {}, { migrate: false });
  const rows: Record<string, number> = {};
  try {
    const [check] = await copy.orm.em.getConnection().execute<{ integrity_check: string }[]>('pragma integrity_check');
    if (check?.integrity_check !== 'ok') throw new Error(`The copy failed its integrity check: ${check?.integrity_check ?? 'no result'}.`);
    for (const table of COUNTED_TABLES) {
      const [count] = await copy.orm.em.getConnection().execute<{ n: number }[]>(`select count(*) as n from ${table}`);
      rows[table] = Number(count?.n ?? 0);
    }
  } catch (error) {
    await copy.close();
    rmSync(partial, { force: true });
    throw error;
  }
  await copy.close();
  for (const suffix of ['-wal', '-shm']) rmSync(`${partial}${suffix}`, { force: true });
  renameSync(partial, file);
  chmodSync(file, SQLITE_FILE_MODE);
  return { file, bytes: statSync(file).size, rows };
}
