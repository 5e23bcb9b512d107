import { print } from 'graphql';
import { ChatDocument, ChatStreamDocument, ReplyStreamDocument } from '../gql/graphql.js';
import {
  DEMO_HOME_PATH,
  loadHome,
  startHomeAssistantSimulator,
  type HomeAssistantSimulator,
  type SimulatedHome,
} from '../../src/simulators/home-assistant/index.js';
import { SCRIPTED_MODEL_NAME, startScriptedModel, type ScriptedModel, type ScriptedModelOptions } from '../../src/simulators/scripted-model/index.js';
import { startTestServer, type TestServer, type TestServerOptions } from './server.js';

/** A fake model key; the scripted model checks it so tests see that the service sends it. */
export const TEST_OPENAI_KEY = 'sk-test-fake-openai-key-0000000000000000';

export interface TestStack extends TestServer {
  homeAssistant: HomeAssistantSimulator;
  model: ScriptedModel;
}

export interface TestStackOptions extends TestServerOptions {
  home?: SimulatedHome;
  model?: ScriptedModelOptions;
}

/** Starts the Home Assistant simulator, the scripted model and the server wired to both. */
export const CONFIRM_TOOL_CALL = `mutation Confirm($id: ID!, $approve: Boolean!) {
  confirmToolCall(toolCallId: $id, approve: $approve) { id name status summary expiresAt confirmation { approved decidedAt } }
}`;

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const homeAssistant = await startHomeAssistantSimulator({ home: options.home ?? loadHome(DEMO_HOME_PATH) });
  const model = await startScriptedModel({ apiKey: TEST_OPENAI_KEY, ...options.model });
  const server = await startTestServer({
    ...options,
    env: {
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: TEST_OPENAI_KEY,
      OPENAI_MODEL: SCRIPTED_MODEL_NAME,
      HA_URL: homeAssistant.url,
      HA_TOKEN: homeAssistant.token,
      ...options.env,
    },
  });
  return {
    ...server,
    homeAssistant,
    model,
    async close() {
      await server.close();
      await model.close();
      await homeAssistant.close();
    },
  };
}

/** The GraphQL selection that tests use for reply events. */
export const EVENT_FIELDS = `
  __typename
  ... on ReplyStarted { sequence messageId conversationId }
  ... on ReplyDelta { sequence messageId text }
  ... on ToolCallStarted { sequence messageId toolCall { id name arguments status } }
  ... on ToolCallAwaitingConfirmation { sequence messageId summary expiresAt toolCall { id name status summary expiresAt preview } }
  ... on ToolCallFinished { sequence messageId toolCall { id name arguments result status error { code message } verification { outcome entities { entityId outcome previousState state } } confirmation { approved } } }
  ... on ReplyCompleted { sequence messageId message { id content status usage { promptTokens completionTokens totalTokens estimated } } }
  ... on ReplyFailed { sequence messageId code errorMessage retryable }
  ... on ReplyCancelled { sequence messageId message { id content status } }
  ... on ReplyInterrupted { sequence messageId message { id content status } }
`;

/** Typed documents from test/operations, printed for clients that take query strings. */
export const CHAT_MUTATION = print(ChatDocument);
export const REPLY_STREAM = print(ReplyStreamDocument);
export const CHAT_STREAM = print(ChatStreamDocument);

export interface StreamedEvent {
  __typename: string;
  sequence: number;
  messageId: string;
  text?: string;
  [key: string]: unknown;
}

/** Pulls the events out of collected subscription results, failing on any GraphQL error. */
export function eventsOf(results: { data?: Record<string, any> | null; errors?: readonly unknown[] }[], field: string): StreamedEvent[] {
  return results.map((result) => {
    if (result.errors) throw new Error(`Subscription error: ${JSON.stringify(result.errors)}`);
    return result.data?.[field] as StreamedEvent;
  });
}

export function joinDeltas(events: StreamedEvent[]): string {
  return events
    .filter((event) => event.__typename === 'ReplyDelta')
    .map((event) => event.text)
    .join('');
}

/** Reads a tool message as the model receives it: JSON inside a `<tool_result>` block. */
export function parseToolMessage(content: string): any {
  const match = /^<tool_result name="[^"]*">\n([\s\S]*)\n<\/tool_result>$/.exec(content);
  if (!match?.[1]) throw new Error(`Not a tool_result block: ${content.slice(0, 80)}`);
  return JSON.parse(match[1]);
}

/**
 * Sets a state in the simulator and waits until the server's Home Assistant cache has it, so the next
 * turn starts from that state rather than racing the state_changed event.
 */
export async function setHomeState(stack: TestStack, entityId: string, state: string, attributes?: Record<string, unknown>): Promise<void> {
  stack.homeAssistant.setState(entityId, state, attributes);
  // The first read of the home after startup can take seconds on a loaded machine.
  const deadline = Date.now() + 20_000;
  while (stack.app.services.home.stateOf(entityId) !== state) {
    if (Date.now() > deadline) throw new Error(`The server did not see ${entityId} become ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
