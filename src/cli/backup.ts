import { ConfigError, loadConfig, type Config } from '../config.js';
import { backupSqlite } from '../db/backup.js';
import { parseDatabaseUrl } from '../db/database-url.js';
import { exitWithUsage, parseCommandLine } from './usage.js';

const USAGE = `Usage:
  npm run db:backup -- FILE [--force]

Copies the SQLite database of DATABASE_URL (default sqlite:./data/ha_ai_agent.db) into FILE while the
server keeps running, and checks the copy. --force replaces an existing FILE.
For PostgreSQL use pg_dump; see docs/operations.md.`;

function fail(message: string): never {
  exitWithUsage(USAGE, message);
}

async function main(): Promise<void> {
  const { positionals, values } = parseCommandLine(USAGE, {
    allowPositionals: true,
    options: { force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const [file] = positionals;
  if (!file || positionals.length > 1) fail('Give exactly one FILE to write the backup to.');

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const target = parseDatabaseUrl(config.databaseUrl);
  if (target.kind !== 'sqlite') {
    fail('DATABASE_URL points to PostgreSQL. Back it up with pg_dump, for example:\n  pg_dump --format=custom --file=ha_ai_agent.dump "$DATABASE_URL"');
  }
  if (target.file === ':memory:') fail('DATABASE_URL is an in-memory database; there is nothing to back up.');

  const result = await backupSqlite(config.databaseUrl, file, { overwrite: values.force });
  const counts = Object.entries(result.rows)
    .map(([table, count]) => `${table}=${count}`)
    .join(' ');
  process.stdout.write(`Backed up ${target.file} to ${result.file} (${result.bytes} bytes, integrity ok): ${counts}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Backup failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
