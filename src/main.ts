import { configuredSecrets, createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, endLogOutput } from './observability/logger.js';

/** The configuration once it loaded, so a startup failure line can scrub its secrets. */
let loadedConfig: Config | undefined;

/** Exits with `code` once the buffered log lines are written, or after at most a second without them. */
async function exitAfterLogs(code: number): Promise<never> {
  await endLogOutput();
  process.exit(code);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee .env.example for every variable and its default.\n`);
      process.exit(78);
    }
    throw error;
  }
  loadedConfig = config;

  const app = await createApp(config);
  await app.listen();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ event: 'server.stopping', signal }, 'Shutting down');
    // Running replies get SHUTDOWN_GRACE_SECONDS to finish; the rest end INTERRUPTED.
    app.close(config.shutdownGraceMs).then(
      () => exitAfterLogs(0),
      (error: unknown) => {
        app.logger.error({ event: 'server.stop_failed', err: error }, 'Shutdown failed');
        return exitAfterLogs(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  // One JSON line for log collectors, and a plain line on stderr for the person starting the server.
  const logger = createLogger({ level: 'error', secrets: loadedConfig ? configuredSecrets(loadedConfig) : [] });
  logger.error({ event: 'server.start_failed', err: error }, 'Startup failed');
  process.stderr.write(`Startup failed: ${error instanceof Error ? error.message : String(error)}\n`);
  return exitAfterLogs(1);
});
