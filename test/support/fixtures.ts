import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder that contains package.json). */
export const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * The shared fixtures folder (real Home Assistant dumps and OpenAI streams) sits next to the repository,
 * not in it, because some of those files carry no license that allows copying them here.
 */
export const FIXTURES_PATH = path.resolve(repoRoot, '../shared/fixtures');

/** Returns the fixtures folder (or a file or folder inside it) when it exists, otherwise undefined. */
export function fixturesDir(...segments: string[]): string | undefined {
  const target = path.join(FIXTURES_PATH, ...segments);
  return existsSync(target) ? target : undefined;
}

/**
 * Returns the fixtures path a test needs. When it is missing, the test fails under CI (`CI=true`), where a
 * silent skip would hide lost coverage, and is skipped with a printed reason elsewhere.
 */
export function requireFixtures(ctx: { skip: (note?: string) => never }, ...segments: string[]): string {
  const found = fixturesDir(...segments);
  if (found) {
    return found;
  }
  const wanted = path.join(FIXTURES_PATH, ...segments);
  if (process.env.CI === 'true') {
    throw new Error(`Fixtures missing at ${wanted}; CI must run with the shared fixtures checked out next to the repository.`);
  }
  const reason = `skipped: fixtures missing at ${wanted}`;
  console.warn(reason);
  return ctx.skip(reason);
}
