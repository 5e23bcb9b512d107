import { createApp } from '../app.js';
import { ConfigError, loadConfig, readDotEnv, type Config } from '../config.js';
import { endLogOutput } from '../observability/logger.js';
import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator } from '../simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel } from '../simulators/scripted-model/index.js';

/** Variables the demo sets itself, because they point at the simulators. */
const SIMULATOR_VARIABLES = ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_MODEL', 'HA_URL', 'HA_TOKEN'];

const DEMO_USER = 'demo';

/**
 * Runs the service against the Home Assistant simulator and the scripted model, with no keys needed.
 * Everything binds to 127.0.0.1, because the demo prints a ready API key.
 */
async function main(): Promise<void> {
  const environment: Record<string, string | undefined> = { ...readDotEnv(), ...process.env };
  const ignored = SIMULATOR_VARIABLES.filter((name) => environment[name]);
  for (const name of SIMULATOR_VARIABLES) delete environment[name];

  const homeAssistant = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
  const model = await startScriptedModel({ chunkDelayMs: 25 });

  let config: Config;
  try {
    config = loadConfig({
      ...environment,
      HOST: '127.0.0.1',
      DATABASE_URL: environment.DATABASE_URL || 'sqlite:./data/demo.db',
      OPENAI_BASE_URL: model.url,
      OPENAI_MODEL: SCRIPTED_MODEL_NAME,
      HA_URL: homeAssistant.url,
      HA_TOKEN: homeAssistant.token,
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }

  const app = await createApp(config);
  const url = await app.listen();

  // One fresh key per run; earlier demo keys are revoked so old printouts stop working.
  for (const key of await app.services.apiKeys.list(DEMO_USER)) {
    if (key.name === 'demo' && !key.revokedAt) await app.services.apiKeys.revoke(key.id);
  }
  const { key } = await app.services.apiKeys.create(DEMO_USER, { name: 'demo', scopes: ['chat', 'read', 'control'] });

  const graphqlUrl = `${url}/graphql`;
  const banner = [
    '',
    'HA AI Agent demo: running against SIMULATORS, not a real home or a real language model.',
    `  Home Assistant simulator: ${homeAssistant.url} (demo home, ${homeAssistant.states().length} entities)`,
    `  Scripted model:           ${model.url} (model "${SCRIPTED_MODEL_NAME}", deterministic rules, no AI)`,
    `  Database:                 ${config.databaseUrl}`,
    ...(ignored.length > 0 ? [`  Ignored in demo mode:      ${ignored.join(', ')}`] : []),
    '',
    `Chat page: ${url}/  (paste the API key below into its key field)`,
    `GraphiQL:  ${graphqlUrl}`,
    `API key for user "${DEMO_USER}" (new each run): ${key}`,
    '',
    'In GraphiQL, open the Headers tab and paste:',
    `  {"Authorization": "Bearer ${key}"}`,
    'then run:',
    '  subscription { chatStream(input: { message: "Turn off the kitchen light" }) {',
    '    __typename ... on ReplyDelta { text } ... on ToolCallFinished { toolCall { name status result } }',
    '    ... on ToolCallAwaitingConfirmation { summary expiresAt toolCall { id } }',
    '    ... on ReplyCompleted { message { content } } } }',
    '',
    'Also try "Unlock the front door" or "Create an automation that turns on the porch light at sunset":',
    'they wait until you run  mutation { confirmToolCall(toolCallId: "<toolCall.id>", approve: true) { status } }',
    '',
    'Or from a terminal, over SSE:',
    `  curl -N ${graphqlUrl} -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' -H 'Accept: text/event-stream' \\`,
    `    -d '{"query":"subscription { chatStream(input: {message: \\"Is the kitchen light on?\\"}) { __typename ... on ReplyDelta { text } } }"}'`,
    '',
    'Press Ctrl+C to stop.',
    '',
  ];
  process.stdout.write(`${banner.join('\n')}\n`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await app.close(5_000);
      await model.close();
      await homeAssistant.close();
      await endLogOutput();
      process.exit(0);
    })();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`Demo failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
