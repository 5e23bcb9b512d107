import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './fixtures.js';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Every stdout line so far (JSON log lines). */
  output: string[];
  /** Sends a signal and waits for the process to exit; returns its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `src/main.ts` in a new Node process and waits until it listens. `nodeArguments` replaces how
 * Node starts the server, such as `['dist/main.js']` for the build output.
 */
export async function startServerProcess(
  env: Record<string, string>,
  timeoutMs = 20_000,
  nodeArguments = ['--import', 'tsx', path.join(repoRoot, 'src/main.ts')],
): Promise<ServerProcess> {
  const child = spawn(process.execPath, nodeArguments, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Server process did not start within ${timeoutMs} ms. stderr: ${stderr}`)), timeoutMs);
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        output.push(line);
        const match = /"event":"server.listening","url":"([^"]+)"/.exec(line);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Server process exited with ${code} before listening. stderr: ${stderr}`));
    });
  });

  return {
    child,
    url,
    output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a TypeScript command from `src/cli` (as `npm run` would) in a new Node process and waits for it.
 * The command is killed after timeoutMs, which stays below the test timeout so no process outlives its test.
 */
export async function runCommand(script: string, args: string[], env: Record<string, string>, timeoutMs = 25_000): Promise<CommandResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, script), ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  // 'close' comes after the output streams have ended, so nothing written is lost.
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
