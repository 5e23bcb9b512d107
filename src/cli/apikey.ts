import { ApiKeyService } from '../auth/api-key-service.js';
import { ConfigError, loadConfig, SCOPES, type Scope, type Config } from '../config.js';
import { describeDatabaseTarget } from '../db/database-url.js';
import { openDatabase } from '../db/orm.js';
import { exitWithUsage, parseCommandLine } from './usage.js';

const USAGE = `Usage:
  npm run apikey -- create --user USER_ID [--name NAME] [--scopes "chat read control"]
  npm run apikey -- list [--user USER_ID]
  npm run apikey -- revoke KEY_ID

Keys are stored in DATABASE_URL (default sqlite:./data/ha_ai_agent.db). create makes a new SQLite
database when the file does not exist yet and prints which database it wrote to; list and revoke
fail when it does not exist.
Scopes: ${SCOPES.join(', ')}. The default is "chat read control".`;

const COMMANDS = ['create', 'list', 'revoke'];

function fail(message: string): never {
  exitWithUsage(USAGE, message);
}

async function main(): Promise<void> {
  const { positionals, values } = parseCommandLine(USAGE, {
    allowPositionals: true,
    options: { user: { type: 'string' }, name: { type: 'string' }, scopes: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, argument] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!command) fail('Missing command: create, list or revoke.');
  if (!COMMANDS.includes(command)) fail(`Unknown command: ${command}.`);

  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  // Only create may start a new database, as on a first run before the server ever started.
  const db = await openDatabase(config.databaseUrl, () => {}, { create: command === 'create' });
  const keys = new ApiKeyService(db);
  try {
    switch (command) {
      case 'create': {
        if (!values.user?.trim()) fail('Missing --user: the user id the key acts for.');
        const scopes = values.scopes?.split(/[\s,]+/).filter(Boolean);
        const invalid = scopes?.filter((scope) => !(SCOPES as readonly string[]).includes(scope)) ?? [];
        if (invalid.length > 0) fail(`Invalid scope: ${invalid.join(', ')}.`);
        const created = await keys.create(values.user.trim(), { name: values.name, scopes: scopes as Scope[] | undefined });
        process.stdout.write(
          `Created API key ${created.record.id} for user ${created.record.userId} (scopes: ${created.record.scopes}).\n` +
            `Stored in ${describeDatabaseTarget(db.target)}; only a server using this database accepts the key.\n` +
            `This is the only time the key is shown; store it now:\n\n${created.key}\n\n` +
            `Send it as "Authorization: Bearer <key>" on HTTP and SSE, or as {"authorization": "Bearer <key>"} in the graphql-ws connection_init payload.\n`,
        );
        break;
      }
      case 'list': {
        const records = await keys.list(values.user);
        if (records.length === 0) process.stdout.write('No API keys.\n');
        for (const record of records) {
          const state = record.revokedAt ? `revoked ${record.revokedAt.toISOString()}` : 'active';
          const used = record.lastUsedAt ? record.lastUsedAt.toISOString() : 'never';
          process.stdout.write(
            `${record.id}  user=${record.userId}  name=${record.name}  scopes="${record.scopes}"  ${state}  created=${record.createdAt.toISOString()}  last-used=${used}\n`,
          );
        }
        break;
      }
      case 'revoke': {
        if (!argument) fail('Missing KEY_ID: the id shown by "list".');
        const record = await keys.revoke(argument);
        // The invocation was right, so the usage would not help.
        if (!record) throw new Error(`No API key has the id ${argument}. Run "npm run apikey -- list" to see the ids.`);
        process.stdout.write(`Revoked API key ${record.id} of user ${record.userId}.\n`);
        break;
      }
    }
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
