import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { parseDatabaseUrl } from '../db/database-url.js';
import { openDatabase } from '../db/orm.js';
import { assertInstancesUseCurrentKey, reencryptAll } from '../db/reencrypt.js';
import { DataCipher } from '../security/data-cipher.js';

/** Missed heartbeats after which an instance counts as gone; the same rule the servers use. */
const MISSED_HEARTBEATS = 4;

const USAGE = `Usage:
  npm run db:reencrypt [-- --force] [-- --vacuum]

Rewrites every encrypted value (message text, titles, tool arguments and results, reply events) under
DATA_ENCRYPTION_KEY, reading older values with the keys in DATA_ENCRYPTION_OLD_KEYS. Without
DATA_ENCRYPTION_KEY it decrypts everything back to plain text. Afterwards the old keys are retired and
can be removed from the configuration. Safe while servers run, once every server uses the new key.
  --force   run even though a live instance still writes with another key
  --vacuum  SQLite only: rebuild the file afterwards, so no old value stays in free pages`;

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { force: { type: 'boolean' }, vacuum: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  if (!config.encryption.key && config.encryption.oldKeys.length === 0)
    fail('Neither DATA_ENCRYPTION_KEY nor DATA_ENCRYPTION_OLD_KEYS is set; there is nothing to re-encrypt.');

  const cipher = new DataCipher(config.encryption.key, config.encryption.oldKeys);
  const db = await openDatabase(config.databaseUrl, () => {}, { cipher });
  try {
    if (!values.force) await assertInstancesUseCurrentKey(db, config.instance.heartbeatMs * MISSED_HEARTBEATS);
    const target = config.encryption.key ? `key "${config.encryption.key.id}"` : 'plain text';
    process.stdout.write(`Rewriting stored values as ${target}.\n`);
    const result = await reencryptAll(db, (line) => process.stdout.write(`  ${line}\n`));

    if (parseDatabaseUrl(config.databaseUrl).kind === 'sqlite') {
      // Old values stay in the WAL file until a checkpoint; truncating it removes them.
      await db.orm.em.getConnection().execute('pragma wal_checkpoint(TRUNCATE)');
      if (values.vacuum) await db.orm.em.getConnection().execute('vacuum');
    }
    if (result.skipped > 0) process.stdout.write(`${result.skipped} values changed during the run and were left as the server wrote them.\n`);
    process.stdout.write(
      result.retiredKeys.length > 0
        ? `Retired key ${result.retiredKeys.map((id) => `"${id}"`).join(', ')}: remove it from DATA_ENCRYPTION_OLD_KEYS once every instance has restarted.\n`
        : 'No other key was in use.\n',
    );
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`Re-encryption failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
