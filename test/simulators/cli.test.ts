import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { repoRoot } from '../support/fixtures.js';

const TSX = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
});

/** Starts a CLI and resolves with its stdout once `pattern` appears in it. */
function startCli(
  script: string,
  args: string[],
  pattern: RegExp,
): Promise<{ output: string; match: RegExpMatchArray; child: ChildProcessWithoutNullStreams }> {
  const child = spawn(TSX, [path.join(repoRoot, script), ...args], { cwd: repoRoot });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    let errors = '';
    const timer = setTimeout(() => reject(new Error(`No match for ${pattern} within 15 s. Output: ${output} ${errors}`)), 15_000);
    child.stderr.on('data', (data: Buffer) => {
      errors += data.toString();
    });
    child.stdout.on('data', (data: Buffer) => {
      output += data.toString();
      const match = output.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve({ output, match, child });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`CLI exited with ${code}: ${output} ${errors}`));
    });
  });
}

describe('simulator CLIs', () => {
  it('starts the Home Assistant simulator', async () => {
    const { output, match } = await startCli('src/simulators/home-assistant/cli.ts', ['--port', '0'], /HA_URL=(\S+)\nHA_TOKEN=(\S+)/);
    expect(output).toContain('Home Assistant simulator (not a real Home Assistant)');
    const [, url, token] = match;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${url}/api/states/light.kitchen`, { headers: { Authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { attributes: { friendly_name: string } }).attributes.friendly_name).toBe('Kitchen Light');
  });

  it('starts the scripted model', async () => {
    const { output, match } = await startCli('src/simulators/scripted-model/cli.ts', ['--port', '0', '--mode', 'no-usage'], /OPENAI_BASE_URL=(\S+)/);
    expect(output).toContain('scripted demo model, not a real language model');
    expect(output).toContain('OPENAI_MODEL=scripted-demo-model');
    const response = await fetch(`${match[1]}/models`);
    expect(((await response.json()) as { data: { id: string }[] }).data[0]!.id).toBe('scripted-demo-model');
  });

  it('rejects an unknown mode', async () => {
    await expect(startCli('src/simulators/scripted-model/cli.ts', ['--mode', 'bogus'], /never/)).rejects.toThrow(/Invalid --mode bogus/);
  });
});
