import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';
import { serializeError } from './safe-error.js';

export type { Logger };

/**
 * Paths pino removes from every log line. Credentials may appear under these keys in request objects,
 * graphql-ws `connection_init` payloads and error objects.
 */
const REDACTED_PATHS = [
  'authorization',
  'Authorization',
  '*.authorization',
  '*.Authorization',
  'cookie',
  '*.cookie',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  'connectionParams',
  '*.connectionParams',
  'payload',
  '*.payload',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'key',
  '*.key',
  'secret',
  '*.secret',
  'secretHash',
  '*.secretHash',
  'password',
  '*.password',
];

/**
 * Credential shapes replaced in every serialized line, whatever key or message they hide in: API keys
 * (the public id stays, so a line still says which key was used), JWTs and bearer values.
 */
const CREDENTIAL_PATTERNS: [RegExp, string][] = [
  [/\b(haa_[0-9a-f]{16})_[A-Za-z0-9_-]+/g, '$1_[REDACTED]'],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '[REDACTED JWT]'],
  [/(Bearer\s+)(?!\[REDACTED)[^\s"\\]+/gi, '$1[REDACTED]'],
];

export interface LoggerOptions {
  level: string;
  /** Values that must never appear in a log line, such as configured secrets. */
  secrets?: string[];
  destination?: DestinationStream;
}

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * The asynchronous log destination on stdout. It stops at the first failed write, because a reader that
 * is gone (EPIPE) must not crash the server, and pino emits every other write error again, which throws
 * without a listener.
 *
 * NOTE: pino flushes the destination synchronously when the process exits. In sonic-boom 4.2.1 that
 * flush retries a failed write without end (EPIPE included), so call endLogOutput() before
 * process.exit(). Without it, an exit while a line is still in flight to a closed pipe hangs.
 */
class StdoutOutput {
  private readonly stream: SonicBoom = pino.destination({ dest: 1, sync: false });
  private ended = false;

  /** Whether the output writes no more lines, after a failed write or endLogOutput(). */
  get stopped(): boolean {
    return this.ended;
  }

  constructor() {
    this.stream.on('error', (error: NodeJS.ErrnoException) => this.fail(error));
  }

  write(line: string): void {
    if (!this.stopped) this.stream.write(line);
  }

  /** Waits until every buffered line is written, for at most timeoutMs, then drops the rest. */
  end(timeoutMs: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.stop();
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.stream.once('close', finish);
      this.stream.once('error', finish);
      this.stream.end();
    });
  }

  private fail(error: NodeJS.ErrnoException): void {
    if (this.stopped) return;
    this.stop();
    try {
      // stdout cannot carry this message, so it goes to stderr, which may be closed as well.
      writeSync(2, `Writing log lines to stdout failed (${error.code ?? error.message}); later log lines are dropped.\n`);
    } catch {
      // Nowhere is left to report it.
    }
  }

  /** Drops every buffered line, so pino's exit hook has nothing left to write. */
  private stop(): void {
    if (this.ended) return;
    this.ended = true;
    // After EPIPE, pino has made destroy() a no-op, and its exit flush as well.
    this.stream.destroy();
  }
}

/** The stdout destination of every logger created without one of its own. */
let stdoutOutput: StdoutOutput | undefined;

function sharedStdoutOutput(): StdoutOutput {
  if (!stdoutOutput || stdoutOutput.stopped) stdoutOutput = new StdoutOutput();
  return stdoutOutput;
}

/** How long endLogOutput() waits by default for buffered log lines to reach stdout, in milliseconds. */
const LOG_FLUSH_TIMEOUT_MS = 1_000;

/**
 * Writes the buffered log lines to stdout, waiting at most timeoutMs, and stops the log output. Lines
 * still unwritten then are dropped, so a log reader that is gone or stalled cannot keep the process from
 * exiting. Call it before process.exit(). Never rejects.
 */
export async function endLogOutput(timeoutMs = LOG_FLUSH_TIMEOUT_MS): Promise<void> {
  await stdoutOutput?.end(timeoutMs);
}

/** Replaces configured secret values and credential-shaped text in one serialized log line. */
export function scrubLine(line: string, secrets: readonly string[]): string {
  let clean = line;
  for (const secret of secrets) clean = clean.split(secret).join('[REDACTED]');
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) clean = clean.replace(pattern, replacement);
  return clean;
}

/**
 * Creates the JSON logger. Besides key-based redaction, every serialized line is scrubbed of configured
 * secret values and of anything shaped like an API key or JWT, because an error message from a library
 * can quote a credential verbatim. Errors are logged by type, code and a cleaned message, without
 * stacks, SQL or file paths (see safe-error.ts).
 */
export function createLogger(options: LoggerOptions): Logger {
  // JSON escapes some characters, so a secret is also looked for in its escaped form.
  const secrets = (options.secrets ?? [])
    .filter((secret) => secret.length >= 8)
    .flatMap((secret) => [...new Set([secret, JSON.stringify(secret).slice(1, -1)])]);
  const destination = options.destination ?? sharedStdoutOutput();
  const scrubbed: DestinationStream = {
    write(line: string) {
      destination.write(scrubLine(line, secrets));
    },
  };

  return pino(
    {
      level: options.level,
      base: { service: 'ha-ai-agent' },
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      serializers: { err: serializeError, error: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    scrubbed,
  );
}
