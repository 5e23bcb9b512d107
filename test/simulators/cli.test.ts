import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  env: Record<string, string> = {},
): Promise<{ output: string; match: RegExpMatchArray; child: ChildProcessWithoutNullStreams }> {
  const child = spawn(TSX, [path.join(repoRoot, script), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
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

/** Reads a `chatStream` over SSE, the way the demo banner's curl line does, and returns its event names and text. */
async function chatOverSse(graphqlUrl: string, key: string, message: string): Promise<{ types: string[]; text: string; status: number }> {
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({
      query: 'subscription($m: String!) { chatStream(input: { message: $m }) { __typename ... on ReplyDelta { text } } }',
      variables: { m: message },
    }),
  });
  const body = await response.text();
  const events = body
    .split('\n')
    .filter((line) => line.startsWith('data: {'))
    .map((line) => JSON.parse(line.slice('data: '.length)) as { data?: { chatStream: { __typename: string; text?: string } } });
  return {
    status: response.status,
    types: events.map((event) => event.data?.chatStream.__typename ?? 'error'),
    text: events.map((event) => event.data?.chatStream.text ?? '').join(''),
  };
}

describe('npm run demo', () => {
  const BANNER_END = /Press Ctrl\+C to stop\./;

  it('prints working URLs and rotates its key', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ha-ai-agent-demo-'));
    try {
      const env = { PORT: '0', DATABASE_URL: `sqlite:${path.join(dataDir, 'demo.db')}`, OPENAI_API_KEY: 'sk-fake-not-used', LOG_LEVEL: 'silent' };
      const first = await startCli('src/cli/demo.ts', [], BANNER_END, env);
      expect(first.output).toContain('running against SIMULATORS, not a real home or a real language model');
      expect(first.output).toContain('Ignored in demo mode:      OPENAI_API_KEY');
      const graphqlUrl = first.output.match(/GraphiQL: +(\S+)/)?.[1];
      const pageUrl = first.output.match(/Chat page: +(\S+)/)?.[1];
      const key = first.output.match(/API key for user "demo" \(new each run\): (\S+)/)?.[1];
      expect(graphqlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
      expect(pageUrl).toBe(graphqlUrl!.replace(/graphql$/, ''));
      expect(key).toMatch(/^haa_/);
      // The key also appears, ready to paste, in the header line and the curl line.
      expect(first.output).toContain(`{"Authorization": "Bearer ${key}"}`);
      expect(first.output).toContain(`-H 'Authorization: Bearer ${key}'`);

      const page = await fetch(pageUrl!);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>HA AI Agent</title>');

      const reply = await chatOverSse(graphqlUrl!, key!, 'Turn off the kitchen light');
      expect(reply.status).toBe(200);
      expect(reply.types[0]).toBe('ReplyStarted');
      expect(reply.types).toContain('ToolCallFinished');
      expect(reply.types.at(-1)).toBe('ReplyCompleted');
      expect(reply.text.toLowerCase()).toContain('kitchen');

      first.child.kill('SIGTERM');
      await new Promise((resolve) => first.child.once('exit', resolve));

      const second = await startCli('src/cli/demo.ts', [], BANNER_END, env);
      const secondUrl = second.output.match(/GraphiQL: +(\S+)/)?.[1];
      const secondKey = second.output.match(/API key for user "demo" \(new each run\): (\S+)/)?.[1];
      expect(secondKey).not.toBe(key);
      const stale = await fetch(secondUrl!, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      });
      expect(stale.status).toBe(401);
      const fresh = await fetch(secondUrl!, {
        method: 'POST',
        headers: { authorization: `Bearer ${secondKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      });
      expect(await fresh.json()).toEqual({ data: { viewer: { id: 'demo' } } });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
