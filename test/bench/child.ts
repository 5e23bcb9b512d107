import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface Child<Ready> {
  process: ChildProcess;
  ready: Ready;
  /** Sends a request over IPC and waits for the reply with the same id. */
  call<Result>(command: string, argument?: unknown): Promise<Result>;
  /** Resident set size of the child, in bytes, from /proc. */
  rss(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts a benchmark helper script from this folder in its own Node process, so the load generator, the
 * system under test and the simulators do not share an event loop. The script sends `{ ready }` once.
 */
export async function startChild<Ready>(
  script: string,
  args: string[] = [],
  env: Record<string, string> = {},
  nodeOptions: string[] = [],
): Promise<Child<Ready>> {
  const child = fork(path.join(here, script), args, {
    execArgv: ['--import', 'tsx', ...nodeOptions],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;

  const ready = await new Promise<Ready>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${script} exited with ${code} before it was ready`));
    child.once('exit', onExit);
    child.on('message', (message: { ready?: Ready; id?: number; result?: unknown; error?: string }) => {
      if (message.ready !== undefined) {
        child.off('exit', onExit);
        resolve(message.ready);
        return;
      }
      const waiter = message.id === undefined ? undefined : pending.get(message.id);
      if (!waiter || message.id === undefined) return;
      pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error));
      else waiter.resolve(message.result);
    });
  });

  return {
    process: child,
    ready,
    call<Result>(command: string, argument?: unknown) {
      const id = nextId++;
      return new Promise<Result>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        child.send({ id, command, argument });
      });
    },
    async rss() {
      const { readFile } = await import('node:fs/promises');
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kilobytes = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
      return kilobytes * 1024;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Inside a helper script: answers IPC requests with the given handlers and announces readiness. */
export function serveParent(ready: unknown, handlers: Record<string, (argument: unknown) => unknown>): void {
  process.on('message', (message: { id: number; command: string; argument?: unknown }) => {
    const handler = handlers[message.command];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`Unknown command ${message.command}`);
        return handler(message.argument);
      })
      .then(
        (result) => process.send?.({ id: message.id, result }),
        (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
      );
  });
  process.on('SIGTERM', () => process.exit(0));
  process.send?.({ ready });
}
