import { createServer, type Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
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
import { CreatedAutomations } from './agent/automations/created-automations.js';
import { ToolConfirmations } from './agent/tool-confirmations.js';
import { HOME_TOOLS } from './agent/tools/index.js';
import { ToolRegistry } from './agent/tools/registry.js';
import { ServicePolicy } from './agent/tools/service-policy.js';
import { TurnRunner } from './agent/turn-runner.js';
import { ApiKeyService } from './auth/api-key-service.js';
import { Authenticator } from './auth/authenticator.js';
import { apiKeyRevokedTopic, CredentialLifetime, RevocationPoller } from './auth/credential-lifetime.js';
import { JwtVerifier } from './auth/jwt.js';
import type { Config } from './config.js';
import { ConversationService, DEFAULT_PAGE_SIZE } from './conversations/conversation-service.js';
import { RetentionJob } from './conversations/retention.js';
import { ToolAuditService } from './conversations/tool-audit.js';
import { UserDataService } from './conversations/user-data-service.js';
import { instanceTimeoutMs } from './db/instance.entity.js';
import { openDatabase, type Database } from './db/orm.js';
import type { Services } from './graphql/context.js';
import { createErrorMasker } from './graphql/errors.js';
import { buildSchema } from './graphql/schema.js';
import { attachWebSocketServer } from './graphql/websocket.js';
import { useOperationRateLimit } from './graphql/use-operation-rate-limit.js';
import { createYogaServer, type ServerContext } from './graphql/yoga.js';
import { HomeAssistantClient } from './home-assistant/home-assistant.js';
import { HomeContextProvider } from './home-assistant/home-context-provider.js';
import { DEFAULT_BACKOFF } from './llm/backoff.js';
import { ChatModel } from './llm/chat-model.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { databaseProbe, homeAssistantProbe, modelProbe, redisProbe } from './observability/probes.js';
import { Readiness } from './observability/readiness.js';
import { newRequestId } from './observability/request-id.js';
import { startupSummary } from './observability/startup-summary.js';
import { logRequestWhenDone } from './observability/http-request-log.js';
import { useOperationMetrics } from './observability/use-operation-metrics.js';
import { useOperationsEndpoints } from './observability/use-operations-endpoints.js';
import { useRequestLog } from './observability/use-request-log.js';
import { createClientIpResolver } from './security/client-ip.js';
import { DataCipher } from './security/data-cipher.js';
import { openRateLimitStore } from './security/rate-limit/open-store.js';
import { RateLimits } from './security/rate-limit/rate-limits.js';
import { TokenBudget } from './security/token-budget.js';
import { createWebPageHandler } from './web/static-files.js';

/** How often each instance deletes expired conversations, and how long after startup it first does. */
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
const RETENTION_FIRST_RUN_MS = 60 * 1000;

/** Longest wait at shutdown for open streams to send the last events of their replies, in milliseconds. */
const STREAM_DRAIN_MS = 2_000;

export interface AppOptions {
  logger?: Logger;
  /** Shares one bus between apps in a test, as Redis does between instances. */
  bus?: EventBus;
  /** Readiness probe timings in milliseconds; tests shorten the cache. */
  readiness?: { timeoutMs?: number; cacheMs?: number };
  /** Clock of the retention job, replaceable in tests. */
  now?: () => Date;
}

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

/** Explains why the server could not listen, in terms of HOST and PORT, for the common causes. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  if (error.code === 'EADDRINUSE') return new Error(`Port ${port} on ${host} is already in use. Stop the other process or set PORT to a free port.`);
  if (error.code === 'EACCES') return new Error(`Listening on port ${port} is not permitted. Use a port above 1023 or run with the needed rights.`);
  if (error.code === 'ENOTFOUND' || error.code === 'EADDRNOTAVAIL' || error.code === 'EAI_AGAIN') {
    return new Error(`HOST ${host} is not an address of this machine. Set HOST to 0.0.0.0 (every interface), 127.0.0.1 or one of its addresses.`);
  }
  return error;
}

/** Secrets from the configuration, which the logger scrubs from every line. */
export function configuredSecrets(config: Config): string[] {
  const dataKeys = [config.encryption.key, ...config.encryption.oldKeys].flatMap((key) =>
    key ? [key.key.toString('base64'), key.key.toString('base64url')] : [],
  );
  const urlPasswords = [config.databaseUrl, config.redisUrl].map((url) => (url && URL.canParse(url) ? decodeURIComponent(new URL(url).password) : ''));
  return [config.openai.apiKey, config.homeAssistant.token, config.auth.jwtSecret, config.metricsToken, ...dataKeys, ...urlPasswords].filter(
    (value): value is string => Boolean(value),
  );
}

/** Wires the parts of the service together. Holds no logic of its own. */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, secrets: configuredSecrets(config) });
  const cipher = new DataCipher(config.encryption.key, config.encryption.oldKeys);
  const db: Database = await openDatabase(config.databaseUrl, (message) => logger.debug({ event: 'database' }, message), {
    cipher,
    instanceTimeoutMs: instanceTimeoutMs(config.instance.heartbeatMs),
    onUnusedKeyDropped: (keyId) =>
      logger.warn({ event: 'encryption.key_dropped', keyId }, 'Dropped the record of an encryption key that no stored value and no running instance uses'),
    warn: (message) => logger.warn({ event: 'database.warning', detail: message }, 'Database driver warning'),
  });

  const metrics = new Metrics();
  // Without Redis this is the only instance, so every reply still STREAMING lost its generator.
  if (!config.redisUrl) {
    const interrupted = await interruptOrphanedReplies(db);
    if (interrupted.length > 0) metrics.replies.inc({ status: 'INTERRUPTED' }, interrupted.length);
    if (interrupted.length > 0)
      logger.warn(
        { event: 'reply.recovered', count: interrupted.length, messageIds: interrupted },
        'Marked replies left streaming by an earlier process as INTERRUPTED',
      );
  }

  let redisBus: RedisEventBus | undefined;
  try {
    redisBus = config.redisUrl && !options.bus ? await createRedisEventBus(config.redisUrl, logger, config.redisKeyPrefix) : undefined;
  } catch (error) {
    await db.close();
    throw error;
  }
  const bus: EventBus = options.bus ?? redisBus ?? createMemoryEventBus();
  const instance = new InstanceRegistry(db, {
    id: config.instance.id,
    heartbeatMs: config.instance.heartbeatMs,
    encryptionKeyId: config.encryption.key?.id,
    logger,
  });
  try {
    await instance.start();
  } catch (error) {
    await redisBus?.close();
    await db.close();
    throw error;
  }
  const rateLimitStore = await openRateLimitStore(config.redisUrl, config.redisKeyPrefix, logger).catch(async (error: unknown) => {
    await instance.stop();
    await redisBus?.close();
    await db.close();
    throw error;
  });
  const rateLimits = new RateLimits(
    rateLimitStore.store,
    {
      chatPerMinute: config.limits.chatPerMinute,
      operationsPerMinute: config.limits.operationsPerMinute,
      authFailuresPerMinute: config.limits.authFailuresPerMinute,
    },
    logger,
  );
  const budget = new TokenBudget(db, config.limits.tokenBudgetPerDay);
  const resolveClientIp = createClientIpResolver(config.limits.trustedProxies);
  const apiKeys = new ApiKeyService(db, bus);
  const jwt = new JwtVerifier({
    secret: config.auth.jwtSecret,
    jwksUrl: config.auth.jwksUrl,
    algorithms: config.auth.jwtAlgorithms,
    issuer: config.auth.jwtIssuer,
    audience: config.auth.jwtAudience,
    clockToleranceSeconds: config.auth.clockToleranceSeconds,
    jwksCacheMs: config.auth.jwksCacheMs,
    jwksCooldownMs: config.auth.jwksCooldownMs,
  });
  const authenticator = new Authenticator(apiKeys, jwt, logger, rateLimits);
  const lifetime = new CredentialLifetime(bus, config.auth.clockToleranceSeconds * 1000);
  const revocations = new RevocationPoller(db, bus, logger, config.auth.revocationCheckMs);
  revocations.start();

  const homeAssistant =
    config.homeAssistant.url && config.homeAssistant.token
      ? new HomeAssistantClient(
          {
            url: config.homeAssistant.url,
            token: config.homeAssistant.token,
            requestTimeoutMs: config.homeAssistant.requestTimeoutMs,
            exposure: config.homeAssistant.exposure,
            observe: (operation, outcome, seconds) => metrics.homeAssistantRequest(operation, outcome, seconds),
          },
          logger,
        )
      : undefined;
  if (!homeAssistant) {
    const missing = [config.homeAssistant.url ? '' : 'HA_URL', config.homeAssistant.token ? '' : 'HA_TOKEN'].filter(Boolean);
    logger.warn(
      { event: 'home_assistant.not_configured', missing },
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set; the agent has no home data`,
    );
  }
  homeAssistant?.start();
  const home = new HomeContextProvider(homeAssistant, config.agent.contextMaxTokens, logger);
  const confirmations = new ToolConfirmations(db, bus, logger);
  const homeTools = {
    homeAssistant,
    policy: new ServicePolicy({ allowed: config.agent.allowedServices, denied: config.agent.deniedServices, confirm: config.agent.confirmServices }),
    automations: new CreatedAutomations(db),
    verifyTimeoutMs: config.agent.verifyTimeoutMs,
  };

  const model = config.openai.configured
    ? new ChatModel(
        {
          apiKey: config.openai.apiKey,
          baseUrl: config.openai.baseUrl,
          model: config.openai.model,
          maxRetries: config.openai.maxRetries,
          timeoutMs: config.openai.timeoutMs,
          idleTimeoutMs: config.openai.idleTimeoutMs,
          backoff: { ...DEFAULT_BACKOFF, maxRetryAfterMs: config.openai.maxRetryAfterMs },
        },
        logger,
      )
    : undefined;
  if (!model) logger.warn({ event: 'llm.not_configured' }, 'OPENAI_API_KEY and OPENAI_BASE_URL are not set; chat fails with LLM_NOT_CONFIGURED');

  const tools = new ToolRegistry(HOME_TOOLS);
  const active = new ActiveReplies();
  const store = new ReplyEventStore(db, active);
  const runner = model
    ? new TurnRunner({
        db,
        bus,
        store,
        model,
        tools,
        home,
        homeTools,
        confirmations,
        logger,
        maxToolRounds: config.agent.maxToolRounds,
        maxToolCallsPerRound: config.agent.maxToolCallsPerRound,
        maxInputTokens: config.openai.maxInputTokens,
        budget,
        turnDeadlineMs: config.agent.turnDeadlineMs,
        logContent: config.logConversationContent,
        toolTimeoutMs: config.agent.toolTimeoutMs,
        confirmationTtlMs: config.agent.confirmationTtlMs,
        promptCacheKey: config.openai.promptCacheKey,
        metrics,
      })
    : undefined;
  const chat = new ChatService({
    db,
    bus,
    logger,
    tools,
    runner,
    active,
    store,
    maxInputTokens: config.openai.maxInputTokens,
    rateLimits,
    budget,
    maxConcurrentReplies: config.limits.concurrentRepliesPerUser,
    maxStreamsPerUser: config.limits.subscriptionsPerUser,
    instanceId: instance.id,
    liveInstanceIds: () => instance.liveIds(),
    toolTimeoutMs: config.agent.toolTimeoutMs,
    onReplyEnded: (status) => metrics.replies.inc({ status }),
  });

  // With several instances, replies end only once the instance generating them has stopped its heartbeat.
  const sweeper = new AbandonedReplySweeper({
    db,
    registry: instance,
    bus,
    isRunningHere: (messageId) => active.get(messageId) !== undefined,
    logger,
    onReplyEnded: (status) => metrics.replies.inc({ status }),
  });
  if (config.redisUrl) await sweeper.sweep();
  sweeper.start(config.instance.heartbeatMs);

  const publishDeleted = (conversationIds: string[]) => {
    for (const conversationId of conversationIds) bus.publish(conversationDeletedTopic(conversationId), { conversationId });
  };
  const userData = new UserDataService({
    db,
    logger,
    cancelStreamingReplies: (ownerId) => chat.cancelStreamingReplies({ ownerId }),
    onConversationsDeleted: publishDeleted,
    onApiKeysDeleted: (keyIds) => {
      for (const keyId of keyIds) bus.publish(apiKeyRevokedTopic(keyId), { keyId });
    },
  });
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

  const services: Services = {
    db,
    chat,
    conversations: new ConversationService(db),
    apiKeys,
    authenticator,
    budget,
    home,
    confirmations,
    userData,
    audit: new ToolAuditService(db),
  };
  const schema = buildSchema({ maxMessageChars: config.agent.maxMessageChars });
  const maskError = createErrorMasker({
    logger,
    hideSuggestions: !config.graphql.introspection,
    onMasked: (code) => metrics.clientError(code),
  });
  const yoga = createYogaServer({
    schema,
    services,
    logger,
    graphiql: config.graphiql,
    allowedOrigins: config.allowedOrigins,
    maskError,
    lifetime,
    queryLimits: { ...config.graphql, defaultPageSize: DEFAULT_PAGE_SIZE },
    maxBodyBytes: config.http.maxBodyBytes,
    resolveClientIp,
    plugins: [
      useOperationsEndpoints({ readiness, metrics, metricsToken: config.metricsToken }),
      useOperationMetrics(metrics),
      useRequestLog(),
      usePrometheus({
        registry: metrics.registry,
        endpoint: false,
        // Operation names and error paths are chosen by clients, so they stay out of the labels.
        labels: { operationName: false, path: false, url: false, fieldName: false },
        // Per-request metrics only. The deprecated-field counter walks every document with type info and
        // the summary computes quantiles on each request; both cost more than the rest of a query.
        metrics: {
          graphql_yoga_http_duration: true,
          graphql_envelop_request: true,
          graphql_envelop_request_duration: true,
          graphql_envelop_phase_execute: true,
          graphql_envelop_phase_subscribe: true,
          graphql_envelop_error_result: true,
          graphql_envelop_request_time_summary: false,
          graphql_envelop_deprecated_field: false,
          graphql_envelop_phase_parse: false,
          graphql_envelop_phase_validate: false,
          graphql_envelop_phase_context: false,
          graphql_envelop_schema_change: false,
          graphql_envelop_execute_resolver: false,
        },
      }),
      useOperationRateLimit(rateLimits),
    ],
  });

  const serveWebPage = createWebPageHandler();
  const server = createServer((request, response) => {
    if (serveWebPage(request, response)) return;
    const requestId = newRequestId(request.headers['x-request-id'] as string | undefined);
    const serverContext: ServerContext = { requestId, requestLog: {} };
    logRequestWhenDone(logger, request, response, serverContext, resolveClientIp);
    void yoga(request, response, serverContext);
  });
  const websocket = attachWebSocketServer({
    server,
    yoga,
    authenticator,
    lifetime,
    logger,
    maskError,
    allowedOrigins: config.allowedOrigins,
    maxPayloadBytes: config.websocket.maxPayloadBytes,
    maxSubscriptions: config.websocket.maxSubscriptions,
    maxConnectionsPerUser: config.websocket.maxConnectionsPerUser,
    connectionInitTimeoutMs: config.websocket.connectionInitTimeoutMs,
    resolveClientIp,
    countOperation: (userId) => rateLimits.countOperation(userId),
  });

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
        const failed = (error: NodeJS.ErrnoException) => reject(listenError(error, config.host, config.port));
        server.once('error', failed);
        server.listen(config.port, config.host, () => {
          server.off('error', failed);
          const address = server.address() as AddressInfo;
          const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
          logger.info({ event: 'server.listening', url, graphiql: config.graphiql, instanceId: instance.id }, `Listening on ${url}/graphql`);
          logger.info(startupSummary(config, instance.id, url), 'Server started');
          resolve(url);
        });
      }),
    close: (graceMs = config.shutdownGraceMs) => {
      closing ??= (async () => {
        readiness.markStopping();
        await Promise.all([sweeper.stop(), retention.stop()]);
        await chat.shutdown(graceMs);
        confirmations.close();
        await homeAssistant?.close();
        await revocations.stop();
        apiKeys.close();
        // Reply streams end by themselves once the last event of their reply is written; give them time to
        // send it, and their `complete`, before the sockets close.
        const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        const drainUntil = Date.now() + STREAM_DRAIN_MS;
        while (chat.openStreams > 0 && Date.now() < drainUntil) await delay(10);
        await instance.stop();
        await websocket.close();
        server.closeAllConnections();
        await httpClosed;
        await bus.close();
        await rateLimitStore.close();
        await db.close();
        logger.info({ event: 'server.stopped' }, 'Server stopped');
      })();
      return closing;
    },
  };
}
