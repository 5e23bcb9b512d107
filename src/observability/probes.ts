import { setTimeout as delay } from 'node:timers/promises';
import OpenAI from 'openai';
import type { RedisEventBus } from '../agent/redis-event-bus.js';
import type { Database } from '../db/orm.js';
import type { HomeAssistantClient } from '../home-assistant/home-assistant.js';
import type { ChatModel } from '../llm/chat-model.js';
import { isAppError } from '../security/errors.js';
import type { ReadinessProbe } from './readiness.js';

/** Runs `select 1` on the database. */
export function databaseProbe(db: Database): ReadinessProbe {
  return {
    check: async () => {
      await db.orm.em.getConnection().execute('select 1');
    },
  };
}

/** Sends PING over the connection that publishes events. */
export function redisProbe(bus: RedisEventBus, timeoutMs: number): ReadinessProbe {
  return { check: () => bus.ping(timeoutMs) };
}

/** How long the probe waits for a WebSocket connection that is being made, such as right after startup. */
const CONNECTION_WAIT_MS = 500;

/**
 * Checks the WebSocket connection the agent uses, then calls Home Assistant's `/api/` with the configured
 * token, so a connection that looks open but no longer answers is caught too.
 */
export function homeAssistantProbe(client: Pick<HomeAssistantClient, 'assertAvailable' | 'status' | 'rest'>): ReadinessProbe {
  return {
    check: async (signal) => {
      const deadline = Date.now() + CONNECTION_WAIT_MS;
      while (!client.status().connected && Date.now() < deadline && !signal?.aborted) await delay(25);
      client.assertAvailable();
      await client.rest.ping(signal);
    },
    // Our own Home Assistant messages carry no response text, so they are safe to show.
    describeFailure: (error) => (isAppError(error) ? error.message : undefined),
  };
}

/** Lists models at the configured endpoint with the configured key. */
export function modelProbe(model: ChatModel): ReadinessProbe {
  return {
    check: (signal) => model.ping(signal),
    describeFailure: (error) => {
      if (error instanceof OpenAI.AuthenticationError || error instanceof OpenAI.PermissionDeniedError) return 'the model endpoint rejected the API key';
      if (error instanceof OpenAI.APIError && error.status !== undefined) return `the model endpoint responded with HTTP ${error.status}`;
      return undefined;
    },
  };
}
