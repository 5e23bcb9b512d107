import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/fixtures.js';
import { startTestServer } from '../support/server.js';

/** Runs `src/main.ts` until it exits and returns its exit code and output. */
async function runMain(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/main.ts')], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout, stderr };
}

describe('listening', () => {
  it('explains common listen failures', async () => {
    const first = await startTestServer();
    try {
      const port = new URL(first.url).port;
      await expect(startTestServer({ env: { PORT: port } })).rejects.toThrow(
        `Port ${port} on 127.0.0.1 is already in use. Stop the other process or set PORT to a free port.`,
      );
      // An address from the documentation range, which no interface here has.
      await expect(startTestServer({ env: { HOST: '192.0.2.1' } })).rejects.toThrow(
        'HOST 192.0.2.1 is not an address of this machine. Set HOST to 0.0.0.0 (every interface), 127.0.0.1 or one of its addresses.',
      );
      expect(first.logs.some((line) => line.event === 'websocket.error')).toBe(false);
    } finally {
      await first.close();
    }
  });

  it('logs a startup summary', async () => {
    const server = await startTestServer({ env: { HA_URL: 'http://user:ha-password-0123456789@127.0.0.1:1/', HA_TOKEN: 'ha-token-0123456789' } });
    try {
      const started = server.logs.filter((line) => line.event === 'server.started');
      expect(started).toHaveLength(1);
      expect(started[0]).toMatchObject({
        level: 'info',
        url: server.url,
        instanceId: server.app.instance.id,
        nodeVersion: process.version,
        bus: { kind: 'memory' },
        encryptionKeyId: 'none',
        model: { configured: false },
        homeAssistant: { configured: true, url: 'http://127.0.0.1:1' },
      });
      if (server.databaseFile) expect(started[0]?.database).toEqual({ kind: 'sqlite', file: server.databaseFile });
      else expect(started[0]?.database).toMatchObject({ kind: 'postgresql' });
      expect(JSON.stringify(started[0])).not.toContain('ha-password-0123456789');
    } finally {
      await server.close();
    }
  });

  it('logs a startup failure as JSON and plain text', async () => {
    const blocker = await startTestServer();
    try {
      const port = new URL(blocker.url).port;
      const { code, stdout, stderr } = await runMain({ PORT: port, DATABASE_URL: 'sqlite::memory:' });
      expect(code).toBe(1);
      expect(stderr).toContain(`Startup failed: Port ${port} on 127.0.0.1 is already in use.`);
      const lines = stdout
        .split('\n')
        .filter((line) => line.trim())
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const failed = lines.find((line) => line.event === 'server.start_failed');
      expect(failed).toMatchObject({
        level: 'error',
        err: { type: 'Error', message: `Port ${port} on 127.0.0.1 is already in use. Stop the other process or set PORT to a free port.` },
      });
    } finally {
      await blocker.close();
    }
  });
});
