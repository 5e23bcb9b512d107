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
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
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
