import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { DEMO_HOME_PATH, loadHome } from './load-home.js';
import { DEFAULT_SIMULATOR_TOKEN, startHomeAssistantSimulator } from './server.js';

const USAGE = `Usage: tsx src/simulators/home-assistant/cli.ts [options]

Starts the Home Assistant simulator (not a real Home Assistant) on loopback.

Options:
  --home PATH         home file (.json) or fixture folder to load (default: the demo home)
  --port N            TCP port to listen on, 0 for any free port (default: 8123)
  --host ADDRESS      address to bind (default: 127.0.0.1)
  --token TOKEN       access token clients must send (default: ${DEFAULT_SIMULATOR_TOKEN})
  --ha-version X.Y.Z  Home Assistant version to report (default: the home's, or 2025.1.0)
  --help              show this help
`;

/** Parses the command line, starts the simulator and prints its URL and token. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      home: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'ha-version': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }

  const port = Number(values.port ?? '8123');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`Invalid --port ${values.port}: expected an integer from 0 to 65535.`);
  }
  const homePath = values.home ?? DEMO_HOME_PATH;
  const simulator = await startHomeAssistantSimulator({
    home: loadHome(homePath),
    port,
    host: values.host,
    token: values.token,
    haVersion: values['ha-version'],
  });

  process.stdout.write(
    [
      `Home Assistant simulator (not a real Home Assistant) serving ${homePath}`,
      `HA_URL=${simulator.url}`,
      `HA_TOKEN=${simulator.token}`,
      `WebSocket: ${simulator.websocketUrl}`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );

  const stop = () => {
    void simulator.close().then(() => process.exit(0));
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
