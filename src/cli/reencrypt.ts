import { ConfigError, loadConfig, type Config } from '../config.js';
import { parseDatabaseUrl } from '../db/database-url.js';
import { instanceTimeoutMs } from '../db/instance.entity.js';
import { openDatabase } from '../db/orm.js';
import { assertInstancesUseCurrentKey, reencryptAll } from '../db/reencrypt.js';
import { DataCipher } from '../security/data-cipher.js';
import { exitWithUsage, parseCommandLine } from './usage.js';

const USAGE = `Usage:
  npm run db:reencrypt -- [--force] [--vacuum]

Rewrites every encrypted value (message text, titles, tool calls, reply events, automation configs) under
DATA_ENCRYPTION_KEY, reading older values with the keys in DATA_ENCRYPTION_OLD_KEYS. Without
DATA_ENCRYPTION_KEY it decrypts everything back to plain text. Afterwards the old keys are retired and
can be removed from the configuration. Safe while servers run, once every server uses the new key.
Nothing is written when a check fails, and the new key is registered with the first value it encrypts.
  --force   run even though a live instance still writes with another key
  --vacuum  SQLite only: rebuild the file afterwards, so no old value stays in free pages`;

async function main(): Promise<void> {
  const { values } = parseCommandLine(USAGE, { options: { force: { type: 'boolean' }, vacuum: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) exitWithUsage(USAGE, error.message);
    throw error;
  }
  if (!config.encryption.key && config.encryption.oldKeys.length === 0)
    exitWithUsage(USAGE, 'Neither DATA_ENCRYPTION_KEY nor DATA_ENCRYPTION_OLD_KEYS is set; there is nothing to re-encrypt.');

  const cipher = new DataCipher(config.encryption.key, config.encryption.oldKeys);
  const timeoutMs = instanceTimeoutMs(config.instance.heartbeatMs);
  // The key check writes nothing here: reencryptAll() registers the key with the first value it encrypts.
  const db = await openDatabase(config.databaseUrl, () => {}, { cipher, registerKey: false, instanceTimeoutMs: timeoutMs, create: false });
  try {
    if (!values.force) await assertInstancesUseCurrentKey(db, timeoutMs);
    const target = config.encryption.key ? `key "${config.encryption.key.id}"` : 'plain text';
    process.stdout.write(`Rewriting stored values as ${target}.\n`);
    const result = await reencryptAll(db, { log: (line) => process.stdout.write(`  ${line}\n`), instanceTimeoutMs: timeoutMs });

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
