import { pino, type DestinationStream, type Logger } from 'pino';

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
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'connectionParams',
  '*.connectionParams',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
];

export interface LoggerOptions {
  level: string;
  /** Values that must never appear in a log line, such as configured secrets. */
  secrets?: string[];
  destination?: DestinationStream;
}

/**
 * Creates the JSON logger. Besides key-based redaction, every configured secret value is replaced in the
 * serialized line, because an error message from a library can quote a token verbatim.
 */
export function createLogger(options: LoggerOptions): Logger {
  const secrets = (options.secrets ?? []).filter((secret) => secret.length >= 8);
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
  const scrubbed: DestinationStream =
    secrets.length === 0
      ? destination
      : {
          write(line: string) {
            let clean = line;
            for (const secret of secrets) clean = clean.split(secret).join('[REDACTED]');
            destination.write(clean);
          },
        };

  return pino(
    {
      level: options.level,
      base: { service: 'ha-ai-agent' },
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    scrubbed,
  );
}
