import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/** Suites that store data; they run once on SQLite and once more on PostgreSQL. */
const DATABASE_SUITES = ['test/chat/**/*.test.ts', 'test/graphql/**/*.test.ts', 'test/persistence/**/*.test.ts'];

const postgresUrl = new URL(process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test');

function isListening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (listening: boolean) => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

// Under CI the PostgreSQL project always runs, so a missing server fails it instead of hiding it.
const runPostgres = process.env.CI === 'true' || (await isListening(postgresUrl.hostname, Number(postgresUrl.port || 5432)));
if (!runPostgres) console.warn(`skipped: the "postgres" test project, because PostgreSQL at ${postgresUrl.host} is not reachable`);

export default defineConfig({
  resolve: {
    // graphql 16 ships CommonJS (main) and ESM (module) builds without an exports map. Vite would give
    // our sources the ESM copy while Node gives the libraries the CommonJS one, and GraphQLError from
    // one copy is not an instance of the other. One path for both keeps a single copy, as in production.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most of the suite waits on sockets, child processes and simulated delays, not on the CPU, so it
    // runs more files at once than there are cores (vitest's default is one less than the cores).
    maxWorkers: 3,
    // Test files share each worker's module cache instead of importing the whole service again. Each
    // test starts its own app; what modules keep between them (id counters, caches) does not change results.
    isolate: false,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      ...(runPostgres ? [{ extends: true as const, test: { name: 'postgres', include: DATABASE_SUITES, env: { TEST_DATABASE: 'postgres' } } }] : []),
    ],
  },
});
