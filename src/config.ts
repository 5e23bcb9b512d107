import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { KEY_FORMAT_HELP, parseDataKey, type DataKey } from './security/data-cipher.js';

/** Scopes a caller can hold. Without `control` the agent may only read the home. */
export const SCOPES = ['chat', 'read', 'control', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .refine((value) => /^\d+$/.test(value) && Number(value) >= min && Number(value) <= max, `a whole number from ${min} to ${max}`)
    .transform(Number);

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], 'true or false (1 and yes, 0 and no also work)')
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const httpUrl = z
  .string()
  .trim()
  .refine((value) => /^https?:\/\/[^\s]+$/i.test(value) && URL.canParse(value), 'an http:// or https:// URL');

const databaseUrl = z
  .string()
  .trim()
  .refine(
    (value) => /^sqlite:.+/.test(value) || /^postgres(ql)?:\/\/.+/.test(value),
    'sqlite:PATH (sqlite::memory: for a throwaway database) or postgres://USER@HOST:PORT/DATABASE',
  );

const originList = z
  .string()
  .trim()
  .transform((value) =>
    value
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean),
  )
  .refine(
    (origins) => origins.every((origin) => /^https?:\/\/[^/\s*]+$/i.test(origin)),
    'a comma-separated list of origins such as https://app.example.org (no path, no wildcard)',
  );

/** Returns whether the entry is an IP address or a CIDR block such as 10.0.0.0/8 or fd00::/8. */
function isAddressOrBlock(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const addressList = z
  .string()
  .trim()
  .transform((value) =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean),
  )
  .refine((entries) => entries.every(isAddressOrBlock), 'a comma-separated list of IP addresses or CIDR blocks such as 10.0.0.0/8');

/** JWS algorithms the server can verify: HMAC with JWT_SECRET, the rest with keys from JWT_JWKS_URL. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const PUBLIC_KEY_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
const JWT_ALGORITHMS = [...HMAC_ALGORITHMS, ...PUBLIC_KEY_ALGORITHMS] as const;

const algorithmList = z
  .string()
  .trim()
  .transform((value) =>
    value
      .split(',')
      .map((algorithm) => algorithm.trim())
      .filter(Boolean),
  )
  .refine(
    (algorithms) => algorithms.length > 0 && algorithms.every((algorithm) => (JWT_ALGORITHMS as readonly string[]).includes(algorithm)),
    `a comma-separated list of JWS algorithms from ${JWT_ALGORITHMS.join(', ')}`,
  );
/** A comma-separated list whose entries all match `pattern`; empty entries are dropped. */
const listOf = (pattern: RegExp, form: string) =>
  z
    .string()
    .trim()
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .refine((entries) => entries.every((entry) => pattern.test(entry)), form);

const domainList = listOf(/^[a-z0-9_]+$/, 'a comma-separated list of domains such as light,switch');
const areaList = listOf(/^[^,]+$/, 'a comma-separated list of area ids or names such as kitchen,living_room');
const entityPatternList = listOf(
  /^[a-z0-9_*]+\.[a-z0-9_*]+$/,
  'a comma-separated list of entity ids or patterns with * such as light.kitchen,sensor.*_battery',
);
const serviceList = listOf(
  /^(\*|[a-z0-9_]+(\.[a-z0-9_]+)?)$/,
  'a comma-separated list of domains or domain.service entries such as light,lock.unlock (or * for all)',
);

const optionalSecret = (minLength: number, form: string) =>
  z
    .string()
    .refine((value) => value.length >= minLength, form)
    .optional();

const dataKey = z
  .string()
  .trim()
  .refine((value) => parseDataKey(value) !== undefined, KEY_FORMAT_HELP)
  .transform((value) => parseDataKey(value) as DataKey);

const dataKeyList = z
  .string()
  .trim()
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  )
  .refine((items) => items.every((item) => parseDataKey(item) !== undefined), `a comma-separated list of ${KEY_FORMAT_HELP}`)
  .transform((items) => items.map((item) => parseDataKey(item) as DataKey))
  .refine((keys) => new Set(keys.map((key) => key.id)).size === keys.length, 'keys with distinct ids');

/**
 * Every environment variable the service reads, with its default. `.env.example` mirrors this list;
 * keep them in step.
 */
const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], 'development, production or test').default('development'),
  HOST: z.string().trim().min(1, 'a host name or IP address').default('0.0.0.0'),
  PORT: integer(0, 65535).default(8030),
  DATABASE_URL: databaseUrl.default('sqlite:./data/ha_ai_agent.db'),
  REDIS_URL: z
    .string()
    .trim()
    .regex(/^rediss?:\/\/.+/, 'redis://HOST:PORT or rediss://HOST:PORT')
    .optional(),
  REDIS_KEY_PREFIX: z.string().trim().min(1, 'a non-empty key prefix such as ha-ai-agent:').default('ha-ai-agent:'),

  OPENAI_API_KEY: z.string().trim().min(1, 'a non-empty API key').optional(),
  OPENAI_BASE_URL: httpUrl.optional(),
  OPENAI_MODEL: z.string().trim().min(1, 'a model name such as gpt-4o-mini').default('gpt-4o-mini'),
  OPENAI_MAX_INPUT_TOKENS: integer(256, 2_000_000).default(16_000),
  OPENAI_MAX_RETRIES: integer(0, 10).default(3),
  OPENAI_TIMEOUT_SECONDS: integer(1, 3600).default(60),
  OPENAI_IDLE_TIMEOUT_SECONDS: integer(1, 3600).default(60),
  OPENAI_RETRY_AFTER_MAX_SECONDS: integer(0, 3600).default(30),
  OPENAI_PROMPT_CACHE_KEY: booleanFlag.optional(),

  HA_URL: httpUrl
    .refine(
      (value) => !URL.canParse(value) || !/\/api\/?$/i.test(new URL(value).pathname),
      'the base URL of Home Assistant without /api, such as http://homeassistant.local:8123',
    )
    .optional(),
  HA_TOKEN: z.string().trim().min(1, 'a Home Assistant long-lived access token').optional(),
  HA_REQUEST_TIMEOUT_SECONDS: integer(1, 300).default(10),
  HA_EXPOSE_ALL: booleanFlag.default(false),
  HA_EXPOSE_DOMAINS: domainList.optional(),
  HA_EXCLUDE_DOMAINS: domainList.optional(),
  HA_EXPOSE_AREAS: areaList.optional(),
  HA_EXCLUDE_AREAS: areaList.optional(),
  HA_EXPOSE_ENTITIES: entityPatternList.optional(),
  HA_EXCLUDE_ENTITIES: entityPatternList.optional(),

  JWT_SECRET: optionalSecret(32, 'at least 32 characters (use a random value, e.g. `openssl rand -base64 48`)'),
  JWT_JWKS_URL: httpUrl.optional(),
  JWT_ALGORITHMS: algorithmList.optional(),
  JWT_ISSUER: z.string().trim().min(1).optional(),
  JWT_AUDIENCE: z.string().trim().min(1).optional(),
  JWT_CLOCK_TOLERANCE_SECONDS: integer(0, 300).default(30),
  JWT_JWKS_CACHE_SECONDS: integer(1, 86_400).default(600),
  JWT_JWKS_COOLDOWN_SECONDS: integer(0, 3600).default(30),
  API_KEY_REVOCATION_CHECK_SECONDS: integer(1, 3600).default(2),

  HA_AI_AGENT_ALLOWED_ORIGINS: originList.default(['http://localhost:3000', 'http://localhost:3001']),

  AGENT_MAX_TOOL_ROUNDS: integer(1, 50).default(5),
  AGENT_MAX_TOOL_CALLS_PER_ROUND: integer(1, 128).default(16),
  AGENT_TURN_DEADLINE_SECONDS: integer(1, 86_400).default(300),
  AGENT_TOOL_TIMEOUT_SECONDS: integer(1, 600).default(30),
  AGENT_VERIFY_TIMEOUT_SECONDS: integer(0, 120).default(5),
  AGENT_CONFIRMATION_TTL_SECONDS: integer(1, 86_400).default(300),
  AGENT_ALLOWED_SERVICES: serviceList.optional(),
  AGENT_DENIED_SERVICES: serviceList.optional(),
  AGENT_CONFIRM_SERVICES: serviceList.optional(),
  CHAT_MAX_MESSAGE_CHARS: integer(1, 1_000_000).default(16_000),
  HA_CONTEXT_MAX_TOKENS: integer(100, 200_000).default(4000),
  RATE_LIMIT_CHAT_PER_MINUTE: integer(1, 100_000).default(100),
  RATE_LIMIT_OPERATIONS_PER_MINUTE: integer(1, 1_000_000).default(600),
  RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: integer(1, 100_000).default(20),
  TRUSTED_PROXIES: addressList.default([]),
  MAX_CONCURRENT_REPLIES_PER_USER: integer(1, 1000).default(2),
  MAX_SUBSCRIPTIONS_PER_USER: integer(1, 1_000_000).default(100),
  TOKEN_BUDGET_PER_DAY: integer(1, 1_000_000_000).optional(),
  CONVERSATION_TTL_DAYS: integer(0, 36_500).default(30),
  SHUTDOWN_GRACE_SECONDS: integer(0, 3600).default(10),

  DATA_ENCRYPTION_KEY: dataKey.optional(),
  DATA_ENCRYPTION_OLD_KEYS: dataKeyList.optional(),
  METRICS_TOKEN: optionalSecret(16, 'at least 16 characters (use a random value, e.g. `openssl rand -hex 24`)'),
  INSTANCE_ID: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'up to 64 letters, digits, dots, dashes or underscores')
    .optional(),
  INSTANCE_HEARTBEAT_SECONDS: integer(1, 300).default(5),

  GRAPHIQL: booleanFlag.optional(),
  GRAPHQL_INTROSPECTION: booleanFlag.optional(),
  GRAPHQL_MAX_DEPTH: integer(2, 100).default(10),
  GRAPHQL_MAX_ALIASES: integer(0, 1000).default(10),
  GRAPHQL_MAX_TOKENS: integer(50, 100_000).default(1000),
  GRAPHQL_MAX_DIRECTIVES: integer(0, 1000).default(20),
  GRAPHQL_MAX_COST: integer(10, 100_000_000).default(50_000),
  HTTP_MAX_BODY_BYTES: integer(1024, 100_000_000).default(262_144),
  WS_MAX_PAYLOAD_BYTES: integer(1024, 100_000_000).default(262_144),
  WS_MAX_SUBSCRIPTIONS: integer(1, 10_000).default(50),
  WS_MAX_CONNECTIONS_PER_USER: integer(1, 100_000).default(20),
  WS_CONNECTION_INIT_TIMEOUT_SECONDS: integer(1, 300).default(5),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'fatal, error, warn, info, debug, trace or silent').default('info'),
  LOG_CONVERSATION_CONTENT: booleanFlag.default(false),
});

export type Environment = z.input<typeof environmentSchema>;

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  host: string;
  port: number;
  databaseUrl: string;
  redisUrl: string | undefined;
  /** Prepended to every Redis key the service writes, so several deployments can share one Redis. */
  redisKeyPrefix: string;
  openai: {
    /** Set when OPENAI_API_KEY or OPENAI_BASE_URL is set; otherwise chat fails with LLM_NOT_CONFIGURED. */
    configured: boolean;
    apiKey: string | undefined;
    baseUrl: string | undefined;
    model: string;
    maxInputTokens: number;
    /** Retries after the first attempt; 3 means at most 4 requests per model call. */
    maxRetries: number;
    /** Time each attempt may take to receive the response headers. */
    timeoutMs: number;
    /** Maximum silence between two chunks of a streamed response. */
    idleTimeoutMs: number;
    /** Maximum Retry-After the service waits for. A longer one fails the call at once. */
    maxRetryAfterMs: number;
    /** Whether requests carry `prompt_cache_key`; on by default only for OpenAI itself. */
    promptCacheKey: boolean;
  };
  homeAssistant: {
    url: string | undefined;
    token: string | undefined;
    requestTimeoutMs: number;
    exposure: ExposureSettings;
  };
  auth: {
    jwtSecret: string | undefined;
    /** Set instead of jwtSecret: public keys come from this JWKS document. */
    jwksUrl: string | undefined;
    /** The only JWS algorithms accepted; anything else, `none` included, is rejected. */
    jwtAlgorithms: string[];
    jwtIssuer: string | undefined;
    jwtAudience: string | undefined;
    /** Allowed clock difference for `exp` and `nbf`, in seconds. */
    clockToleranceSeconds: number;
    jwksCacheMs: number;
    /** Minimum time between two JWKS downloads caused by tokens with an unknown `kid`. */
    jwksCooldownMs: number;
    /** How often revocations made elsewhere (the apikey CLI, another instance) are picked up. */
    revocationCheckMs: number;
  };
  allowedOrigins: string[];
  agent: {
    maxToolRounds: number;
    /** Maximum tool calls run from one model response. The rest are rejected, so the model can retry them later. */
    maxToolCallsPerRound: number;
    maxMessageChars: number;
    contextMaxTokens: number;
    /** Time a whole turn may take, tool calls and retries included. */
    turnDeadlineMs: number;
    toolTimeoutMs: number;
    verifyTimeoutMs: number;
    confirmationTtlMs: number;
    /** Unset lists mean the built-in defaults of the tool policy. */
    allowedServices: string[] | undefined;
    deniedServices: string[] | undefined;
    confirmServices: string[];
  };
  limits: {
    chatPerMinute: number;
    operationsPerMinute: number;
    authFailuresPerMinute: number;
    /** Proxies whose X-Forwarded-For header is believed when finding a client's IP address. */
    trustedProxies: string[];
    concurrentRepliesPerUser: number;
    /** Reply and conversation subscriptions one user may have open at once on one instance. */
    subscriptionsPerUser: number;
    tokenBudgetPerDay: number | undefined;
  };
  /** Idle days after which a conversation is deleted; 0 keeps conversations forever. */
  conversationTtlDays: number;
  /** Time running replies get to finish after SIGTERM or SIGINT before they are marked INTERRUPTED. */
  shutdownGraceMs: number;
  encryption: {
    /** Encrypts new values; unset stores them plain. */
    key: DataKey | undefined;
    /** Decrypt only: keys that encrypted earlier data. */
    oldKeys: DataKey[];
  };
  /** Bearer token that /metrics requires; unset leaves /metrics open. */
  metricsToken: string | undefined;
  instance: {
    /** Stable id of this instance; unset gives each process a new one. */
    id: string | undefined;
    heartbeatMs: number;
  };
  graphiql: boolean;
  graphql: {
    /** Introspection and "Did you mean" suggestions; off in production unless GRAPHQL_INTROSPECTION=true. */
    introspection: boolean;
    maxDepth: number;
    maxAliases: number;
    maxTokens: number;
    maxDirectives: number;
    maxCost: number;
  };
  http: {
    maxBodyBytes: number;
  };
  websocket: {
    maxPayloadBytes: number;
    /** Operations one socket may run at once. */
    maxSubscriptions: number;
    /** Authenticated WebSocket connections one user may have open at once on one instance. */
    maxConnectionsPerUser: number;
    connectionInitTimeoutMs: number;
  };
  logLevel: string;
  logConversationContent: boolean;
}

/** Rules for the entities the agent may see and act on, described in docs/home-assistant.md. */
export interface ExposureSettings {
  /** Whether to start from every entity instead of those Home Assistant exposes to Assist. */
  exposeAll: boolean;
  domains: string[];
  excludeDomains: string[];
  /** Area ids or names. */
  areas: string[];
  excludeAreas: string[];
  /** Entity ids or patterns where `*` matches any run of characters. */
  entities: string[];
  excludeEntities: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads a `.env` file when present. Variables already set in the real environment win, so a deployment
 * can override the file without editing it.
 */
export function readDotEnv(path = '.env'): Record<string, string> {
  if (!existsSync(path)) return {};
  return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
}

/** Variables whose values may hold a credential (URLs can carry a password), so errors never repeat them. */
const SECRET_VARIABLE = /KEY|TOKEN|SECRET|PASSWORD|_URL$/;

/** Quotes a rejected value for the error message, shortened, unless the variable may hold a secret. */
function shownValue(name: string, value: string | undefined): string {
  if (value === undefined || SECRET_VARIABLE.test(name)) return '';
  const shortened = value.length > 60 ? `${value.slice(0, 57)}...` : value;
  return ` ${JSON.stringify(shortened)}`;
}

/**
 * Builds the typed configuration from environment variables. Empty strings count as unset, because
 * `.env.example` copies leave many variables blank. Throws ConfigError naming every invalid variable.
 */
export function loadConfig(environment: Record<string, string | undefined> = { ...readDotEnv(), ...process.env }): Config {
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(environmentSchema.shape)) {
    const value = environment[key];
    if (value !== undefined && value.trim() !== '') relevant[key] = value;
  }

  const parsed = environmentSchema.safeParse(relevant);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      return `${name}: invalid value${shownValue(name, relevant[name])}, expected ${issue.message}`;
    });
    throw new ConfigError([...new Set(problems)]);
  }

  const env = parsed.data;
  const oldKeys = env.DATA_ENCRYPTION_OLD_KEYS ?? [];
  if (env.DATA_ENCRYPTION_KEY && oldKeys.some((key) => key.id === env.DATA_ENCRYPTION_KEY?.id)) {
    throw new ConfigError([
      `DATA_ENCRYPTION_OLD_KEYS: invalid value, expected keys whose ids differ from the DATA_ENCRYPTION_KEY id "${env.DATA_ENCRYPTION_KEY.id}"`,
    ]);
  }
  const problems = crossCheck(env);
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    nodeEnv: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    openai: {
      configured: env.OPENAI_API_KEY !== undefined || env.OPENAI_BASE_URL !== undefined,
      apiKey: env.OPENAI_API_KEY,
      baseUrl: env.OPENAI_BASE_URL,
      model: env.OPENAI_MODEL,
      maxInputTokens: env.OPENAI_MAX_INPUT_TOKENS,
      maxRetries: env.OPENAI_MAX_RETRIES,
      timeoutMs: env.OPENAI_TIMEOUT_SECONDS * 1000,
      idleTimeoutMs: env.OPENAI_IDLE_TIMEOUT_SECONDS * 1000,
      maxRetryAfterMs: env.OPENAI_RETRY_AFTER_MAX_SECONDS * 1000,
      // Strict local servers may reject fields they do not know, so only OpenAI itself gets it by default.
      promptCacheKey: env.OPENAI_PROMPT_CACHE_KEY ?? env.OPENAI_BASE_URL === undefined,
    },
    homeAssistant: {
      url: env.HA_URL?.replace(/\/+$/, ''),
      token: env.HA_TOKEN,
      requestTimeoutMs: env.HA_REQUEST_TIMEOUT_SECONDS * 1000,
      exposure: {
        exposeAll: env.HA_EXPOSE_ALL,
        domains: env.HA_EXPOSE_DOMAINS ?? [],
        excludeDomains: env.HA_EXCLUDE_DOMAINS ?? [],
        areas: env.HA_EXPOSE_AREAS ?? [],
        excludeAreas: env.HA_EXCLUDE_AREAS ?? [],
        entities: env.HA_EXPOSE_ENTITIES ?? [],
        excludeEntities: env.HA_EXCLUDE_ENTITIES ?? [],
      },
    },
    auth: {
      jwtSecret: env.JWT_SECRET,
      jwksUrl: env.JWT_JWKS_URL,
      jwtAlgorithms: env.JWT_ALGORITHMS ?? (env.JWT_JWKS_URL ? ['RS256', 'ES256'] : ['HS256']),
      jwtIssuer: env.JWT_ISSUER,
      jwtAudience: env.JWT_AUDIENCE,
      clockToleranceSeconds: env.JWT_CLOCK_TOLERANCE_SECONDS,
      jwksCacheMs: env.JWT_JWKS_CACHE_SECONDS * 1000,
      jwksCooldownMs: env.JWT_JWKS_COOLDOWN_SECONDS * 1000,
      revocationCheckMs: env.API_KEY_REVOCATION_CHECK_SECONDS * 1000,
    },
    allowedOrigins: env.HA_AI_AGENT_ALLOWED_ORIGINS,
    agent: {
      maxToolRounds: env.AGENT_MAX_TOOL_ROUNDS,
      maxToolCallsPerRound: env.AGENT_MAX_TOOL_CALLS_PER_ROUND,
      maxMessageChars: env.CHAT_MAX_MESSAGE_CHARS,
      contextMaxTokens: env.HA_CONTEXT_MAX_TOKENS,
      turnDeadlineMs: env.AGENT_TURN_DEADLINE_SECONDS * 1000,
      toolTimeoutMs: env.AGENT_TOOL_TIMEOUT_SECONDS * 1000,
      verifyTimeoutMs: env.AGENT_VERIFY_TIMEOUT_SECONDS * 1000,
      confirmationTtlMs: env.AGENT_CONFIRMATION_TTL_SECONDS * 1000,
      allowedServices: env.AGENT_ALLOWED_SERVICES,
      deniedServices: env.AGENT_DENIED_SERVICES,
      confirmServices: env.AGENT_CONFIRM_SERVICES ?? [],
    },
    limits: {
      chatPerMinute: env.RATE_LIMIT_CHAT_PER_MINUTE,
      operationsPerMinute: env.RATE_LIMIT_OPERATIONS_PER_MINUTE,
      authFailuresPerMinute: env.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE,
      trustedProxies: env.TRUSTED_PROXIES,
      concurrentRepliesPerUser: env.MAX_CONCURRENT_REPLIES_PER_USER,
      subscriptionsPerUser: env.MAX_SUBSCRIPTIONS_PER_USER,
      tokenBudgetPerDay: env.TOKEN_BUDGET_PER_DAY,
    },
    conversationTtlDays: env.CONVERSATION_TTL_DAYS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_SECONDS * 1000,
    encryption: { key: env.DATA_ENCRYPTION_KEY, oldKeys },
    metricsToken: env.METRICS_TOKEN,
    instance: { id: env.INSTANCE_ID, heartbeatMs: env.INSTANCE_HEARTBEAT_SECONDS * 1000 },
    graphiql: env.GRAPHIQL ?? env.NODE_ENV !== 'production',
    graphql: {
      introspection: env.GRAPHQL_INTROSPECTION ?? env.NODE_ENV !== 'production',
      maxDepth: env.GRAPHQL_MAX_DEPTH,
      maxAliases: env.GRAPHQL_MAX_ALIASES,
      maxTokens: env.GRAPHQL_MAX_TOKENS,
      maxDirectives: env.GRAPHQL_MAX_DIRECTIVES,
      maxCost: env.GRAPHQL_MAX_COST,
    },
    http: {
      maxBodyBytes: env.HTTP_MAX_BODY_BYTES,
    },
    websocket: {
      maxPayloadBytes: env.WS_MAX_PAYLOAD_BYTES,
      maxSubscriptions: env.WS_MAX_SUBSCRIPTIONS,
      maxConnectionsPerUser: env.WS_MAX_CONNECTIONS_PER_USER,
      connectionInitTimeoutMs: env.WS_CONNECTION_INIT_TIMEOUT_SECONDS * 1000,
    },
    logLevel: env.LOG_LEVEL,
    logConversationContent: env.LOG_CONVERSATION_CONTENT,
  };
}

/**
 * Checks the rules that involve more than one variable. A server with both a JWT secret and a JWKS URL
 * would have to pick the key by the token's own `alg` header, which is how HMAC/RSA confusion attacks
 * start. So only one source of keys is allowed, and the algorithm list must match it.
 */
function crossCheck(env: z.output<typeof environmentSchema>): string[] {
  const problems: string[] = [];
  if (env.JWT_SECRET && env.JWT_JWKS_URL) {
    problems.push('JWT_SECRET and JWT_JWKS_URL: invalid combination, expected only one of them (a shared secret or a JWKS URL)');
  }
  if (env.JWT_ALGORITHMS) {
    const hmac = env.JWT_ALGORITHMS.filter((algorithm) => (HMAC_ALGORITHMS as readonly string[]).includes(algorithm));
    const publicKey = env.JWT_ALGORITHMS.filter((algorithm) => !(HMAC_ALGORITHMS as readonly string[]).includes(algorithm));
    if (env.JWT_JWKS_URL && hmac.length > 0) {
      problems.push(`JWT_ALGORITHMS: invalid value, expected only public-key algorithms with JWT_JWKS_URL, not ${hmac.join(', ')}`);
    }
    if (!env.JWT_JWKS_URL && publicKey.length > 0) {
      problems.push(`JWT_ALGORITHMS: invalid value, expected only ${HMAC_ALGORITHMS.join(', ')} without JWT_JWKS_URL, not ${publicKey.join(', ')}`);
    }
  }
  return problems;
}
