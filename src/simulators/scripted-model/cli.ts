import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { SCRIPTED_MODEL_NAME } from './framing.js';
import { startScriptedModel } from './server.js';
import { COMPATIBILITY_MODES, type CompatibilityMode } from './types.js';

const USAGE = `Usage: tsx src/simulators/scripted-model/cli.ts [options]

Starts the scripted model, an OpenAI-compatible Chat Completions server that replies from
deterministic rules. It is a scripted demo model, not a real language model.

Options:
  --port N              TCP port to listen on, 0 for any free port (default: 8040)
  --host ADDRESS        address to bind (default: 127.0.0.1)
  --chunk-delay-ms N    milliseconds between streamed chunks (default: 0)
  --api-key KEY         require "Authorization: Bearer KEY" (default: no key required)
  --mode MODE           reply framing, one of: ${COMPATIBILITY_MODES.join(', ')} (default: openai)
  --help                show this help
`;

function parseNonNegativeInteger(value: string | undefined, fallback: number, option: string): number {
  if (value === undefined) {
    return fallback;
  }
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new Error(`Invalid ${option} ${value}: expected a non-negative integer.`);
  }
  return parsed;
}

/** Parses the command line, starts the scripted model and prints its base URL and model name. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'chunk-delay-ms': { type: 'string' },
      'api-key': { type: 'string' },
      mode: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }

  const mode = (values.mode ?? 'openai') as CompatibilityMode;
  if (!COMPATIBILITY_MODES.includes(mode)) {
    throw new Error(`Invalid --mode ${values.mode}: expected one of ${COMPATIBILITY_MODES.join(', ')}.`);
  }
  const port = parseNonNegativeInteger(values.port, 8040, '--port');
  if (port > 65535) {
    throw new Error(`Invalid --port ${port}: expected at most 65535.`);
  }

  const model = await startScriptedModel({
    port,
    host: values.host,
    chunkDelayMs: parseNonNegativeInteger(values['chunk-delay-ms'], 0, '--chunk-delay-ms'),
    apiKey: values['api-key'],
    mode,
  });
  process.stdout.write(
    [
      'Scripted model (a scripted demo model, not a real language model)',
      `OPENAI_BASE_URL=${model.url}`,
      `OPENAI_MODEL=${SCRIPTED_MODEL_NAME}`,
      `Mode: ${mode}`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );

  const stop = () => {
    void model.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  return script !== undefined && import.meta.url === pathToFileURL(realpathSync(script)).href;
}

if (isEntryPoint()) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  });
}
