import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/fixtures.js';
import { startServerProcess } from '../support/process.js';

/** Runs `npm run build` (the TypeScript compiler, then a copy of the chat page and the simulator homes) and returns its exit code and output. */
function build(): Promise<{ code: number | null; output: string }> {
  const child = spawn('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}

describe('production build', () => {
  it('compiles to dist and serves /health and /ready with plain node', async () => {
    const result = await build();
    expect(result.output).toBe('');
    expect(result.code).toBe(0);

    // dist/cli/demo.js loads the demo home next to the compiled simulator.
    const built = path.join(repoRoot, 'dist/simulators/homes/demo-home.json');
    expect(readFileSync(built, 'utf8')).toBe(readFileSync(path.join(repoRoot, 'src/simulators/homes/demo-home.json'), 'utf8'));
    const { DEMO_HOME_PATH, loadHome } = (await import(
      pathToFileURL(path.join(repoRoot, 'dist/simulators/home-assistant/load-home.js')).href
    )) as typeof import('../../src/simulators/home-assistant/load-home.js');
    expect(DEMO_HOME_PATH).toBe(built);
    expect(loadHome(DEMO_HOME_PATH).states.length).toBeGreaterThan(0);

    const server = await startServerProcess({ DATABASE_URL: 'sqlite::memory:', NODE_ENV: 'production' }, 20_000, [path.join(repoRoot, 'dist/main.js')]);
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: { status: 'up' } } });
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(server.output.some((line) => line.includes('"event":"server.stopped"'))).toBe(true);
  }, 120_000);
});
