import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { ActiveReplies } from './agent/active-replies.js';
import { ChatService } from './agent/chat-service.js';
import { createMemoryEventBus, type EventBus } from './agent/event-bus.js';
import { conversationDeletedTopic } from './agent/chat-events.js';
import { InstanceRegistry } from './agent/instances.js';
import { AbandonedReplySweeper, interruptOrphanedReplies } from './agent/recovery.js';
import { createRedisEventBus, type RedisEventBus } from './agent/redis-event-bus.js';
import { ReplyEventStore } from './agent/reply-event-store.js';
import { callServiceTool } from './agent/tools/call-service.js';
import { getStatesTool } from './agent/tools/get-states.js';
import { ToolRegistry } from './agent/tools/registry.js';
import { TurnRunner } from './agent/turn-runner.js';
import { ApiKeyService } from './auth/api-key-service.js';
import { Authenticator } from './auth/authenticator.js';
import type { Config } from './config.js';
import { ConversationService } from './conversations/conversation-service.js';
import { RetentionJob } from './conversations/retention.js';
import { ToolAuditService } from './conversations/tool-audit.js';
import { UserDataService } from './conversations/user-data-service.js';
import { openDatabase, type Database } from './db/orm.js';
import type { Services } from './graphql/context.js';
import { buildSchema } from './graphql/schema.js';
import { attachWebSocketServer } from './graphql/websocket.js';
import { createYogaServer } from './graphql/yoga.js';
import { HomeSummaryCache } from './home-assistant/home-summary.js';
import { HomeAssistantRestClient } from './home-assistant/rest-client.js';
import { ChatModel } from './llm/chat-model.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { databaseProbe, homeAssistantProbe, modelProbe, redisProbe } from './observability/probes.js';
import { Readiness } from './observability/readiness.js';
import { newRequestId, withRequestId } from './observability/request-id.js';
import { useOperationMetrics } from './observability/use-operation-metrics.js';
import { useOperationsEndpoints } from './observability/use-operations-endpoints.js';
import { DataCipher } from './security/data-cipher.js';

export interface AppOptions {
  logger?: Logger;
  /** Readiness probe timings in milliseconds; tests shorten the cache. */
  readiness?: { timeoutMs?: number; cacheMs?: number };
  /** Clock of the retention job, replaceable in tests. */
  now?: () => Date;
}

/** How often each instance deletes expired conversations, and how long after startup it first does. */
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
const RETENTION_FIRST_RUN_MS = 60 * 1000;

/** Maximum wait at shutdown for open streams to send their end, in milliseconds. */
const STREAM_DRAIN_MS = 2_000;

export interface App {
  config: Config;
  logger: Logger;
  services: Services;
  bus: EventBus;
  server: Server;
  /** This process's entry in the instance registry. */
  instance: InstanceRegistry;
  metrics: Metrics;
  readiness: Readiness;
  retention: RetentionJob;
  /** Starts listening on HOST:PORT and returns the base URL, such as http://127.0.0.1:8030. */
  listen(): Promise<string>;
  /** Stops taking requests, lets running replies finish for up to graceMs, then closes everything. */
  close(graceMs?: number): Promise<void>;
}

/** Secrets from the configuration, which the logger scrubs from every line. */
function configuredSecrets(config: Config): string[] {
  const dataKeys = [config.encryption.key, ...config.encryption.oldKeys].flatMap((key) => (key ? [key.key.toString('base64'), key.key.toString('base64url')] : []));
  const urlPasswords = [config.databaseUrl, config.redisUrl].map((url) => (url && URL.canParse(url) ? decodeURIComponent(new URL(url).password) : ''));
  return [config.openai.apiKey, config.homeAssistant.token, config.auth.jwtSecret, config.metricsToken, ...dataKeys, ...urlPasswords].filter((value): value is string => Boolean(value));
}

/** Wires the parts of the service together. Holds no logic of its own. */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, secrets: configuredSecrets(config) });
  const cipher = new DataCipher(config.encryption.key, config.encryption.oldKeys);
  const db: Database = await openDatabase(config.databaseUrl, (message) => logger.debug({ event: 'database' }, message), {
    cipher,
    warn: (message) => logger.warn({ event: 'database.warning', detail: message }, 'Database driver warning'),
  });

  // Without Redis this is the only instance, so every reply still STREAMING lost its generator.
  if (!config.redisUrl) {
    const interrupted = await interruptOrphanedReplies(db);
    if (interrupted.length > 0) logger.warn({ event: 'reply.recovered', count: interrupted.length, messageIds: interrupted }, 'Marked replies left streaming by an earlier process as INTERRUPTED');
  }

  let redisBus: RedisEventBus | undefined;
  try {
    redisBus = config.redisUrl ? await createRedisEventBus(config.redisUrl, logger) : undefined;
  } catch (error) {
    await db.close();
    throw error;
  }
  const bus: EventBus = redisBus ?? createMemoryEventBus();
  const metrics = new Metrics();
  const instance = new InstanceRegistry(db, { id: config.instance.id, heartbeatMs: config.instance.heartbeatMs, encryptionKeyId: config.encryption.key?.id, logger });
  await instance.start();
  const apiKeys = new ApiKeyService(db);
  const authenticator = new Authenticator(
    apiKeys,
    { secret: config.auth.jwtSecret, issuer: config.auth.jwtIssuer, audience: config.auth.jwtAudience, clockToleranceSeconds: 30 },
    logger,
  );

  const homeAssistant =
    config.homeAssistant.url && config.homeAssistant.token
      ? new HomeAssistantRestClient({
          url: config.homeAssistant.url,
          token: config.homeAssistant.token,
          timeoutMs: config.homeAssistant.requestTimeoutMs,
          observe: (operation, outcome, seconds) => metrics.homeAssistantRequest(operation, outcome, seconds),
        })
      : undefined;
  if (!homeAssistant) logger.warn({ event: 'home_assistant.not_configured' }, 'HA_URL or HA_TOKEN is not set; the agent has no home data');
  const home = new HomeSummaryCache(homeAssistant, logger);

  const model = config.openai.configured
    ? new ChatModel(
        {
          apiKey: config.openai.apiKey,
          baseUrl: config.openai.baseUrl,
          model: config.openai.model,
          maxRetries: config.openai.maxRetries,
          timeoutMs: config.openai.timeoutMs,
        },
        logger,
      )
    : undefined;
  if (!model) logger.warn({ event: 'llm.not_configured' }, 'OPENAI_API_KEY and OPENAI_BASE_URL are not set; chat fails with LLM_NOT_CONFIGURED');

  const tools = new ToolRegistry([getStatesTool, callServiceTool]);
  const active = new ActiveReplies();
  const store = new ReplyEventStore(db, active);
  const runner = model
    ? new TurnRunner({ db, bus, store, model, tools, home, homeAssistant, logger, maxToolRounds: config.agent.maxToolRounds, maxInputTokens: config.openai.maxInputTokens, metrics })
    : undefined;
  const chat = new ChatService({ db, bus, logger, tools, runner, active, store, maxInputTokens: config.openai.maxInputTokens, instanceId: instance.id });

  // With several instances, replies end only once the instance generating them has stopped its heartbeat.
  const sweeper = new AbandonedReplySweeper({ db, registry: instance, bus, isRunningHere: (messageId) => active.get(messageId) !== undefined, logger });
  if (config.redisUrl) await sweeper.sweep();
  sweeper.start(config.instance.heartbeatMs);

  const publishDeleted = (conversationIds: string[]) => {
    for (const conversationId of conversationIds) bus.publish(conversationDeletedTopic(conversationId), { conversationId });
  };
  const userData = new UserDataService({ db, logger, cancelStreamingReplies: (ownerId) => chat.cancelStreamingReplies({ ownerId }), onConversationsDeleted: publishDeleted });
  const retention = new RetentionJob({ db, logger, ttlDays: config.conversationTtlDays, onConversationsDeleted: publishDeleted, now: options.now });
  retention.start(RETENTION_INTERVAL_MS, RETENTION_FIRST_RUN_MS);

  const readinessTimeoutMs = options.readiness?.timeoutMs ?? 2_000;
  const readiness = new Readiness({
    probes: {
      database: databaseProbe(db),
      redis: redisBus ? redisProbe(redisBus, readinessTimeoutMs) : undefined,
      homeAssistant: homeAssistant ? homeAssistantProbe(homeAssistant) : undefined,
      model: model ? modelProbe(model) : undefined,
    },
    logger,
    timeoutMs: readinessTimeoutMs,
    cacheMs: options.readiness?.cacheMs,
  });

  const services: Services = { db, chat, conversations: new ConversationService(db), apiKeys, authenticator, userData, audit: new ToolAuditService(db) };
  const schema = buildSchema({ maxMessageChars: config.agent.maxMessageChars });
  const yoga = createYogaServer({
    schema,
    services,
    logger,
    graphiql: config.graphiql,
    allowedOrigins: config.allowedOrigins,
    plugins: [
      useOperationsEndpoints({ readiness, metrics, metricsToken: config.metricsToken }),
      useOperationMetrics(metrics),
      // Operation names and error paths are chosen by clients, so they stay out of the labels.
      usePrometheus({ registry: metrics.registry, endpoint: false, labels: { operationName: false, path: false, url: false, fieldName: false } }),
    ],
    onClientError: (code) => metrics.clientError(code),
  });

  const server = createServer((request, response) => {
    const requestId = newRequestId(request.headers['x-request-id'] as string | undefined);
    withRequestId(requestId, () => void yoga(request, response));
  });
  const websocket = attachWebSocketServer({ server, yoga, authenticator, logger });

  let closing: Promise<void> | undefined;

  return {
    config,
    logger,
    services,
    bus,
    server,
    instance,
    metrics,
    readiness,
    retention,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
          logger.info({ event: 'server.listening', url, graphiql: config.graphiql, instanceId: instance.id }, `Listening on ${url}/graphql`);
          resolve(url);
        });
      }),
    close: (graceMs = 10_000) => {
      closing ??= (async () => {
        readiness.markStopping();
        await Promise.all([sweeper.stop(), retention.stop()]);
        await chat.shutdown(graceMs);
        // Ended streams send their `complete` to clients before the sockets close.
        const drainUntil = Date.now() + STREAM_DRAIN_MS;
        while (chat.openStreams > 0 && Date.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 10));
        await instance.stop();
        await websocket.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await bus.close();
        await db.close();
        logger.info({ event: 'server.stopped' }, 'Server stopped');
      })();
      return closing;
    },
  };
}
