import { existsSync, readFileSync } from 'node:fs';
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
  .enum(['true', 'false', '1', '0', 'yes', 'no'], 'true or false')
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

  OPENAI_API_KEY: z.string().trim().min(1, 'a non-empty API key').optional(),
  OPENAI_BASE_URL: httpUrl.optional(),
  OPENAI_MODEL: z.string().trim().min(1, 'a model name such as gpt-4o-mini').default('gpt-4o-mini'),
  OPENAI_MAX_INPUT_TOKENS: integer(256, 2_000_000).default(16_000),
  OPENAI_MAX_RETRIES: integer(0, 10).default(3),
  OPENAI_TIMEOUT_SECONDS: integer(1, 3600).default(60),

  HA_URL: httpUrl.optional(),
  HA_TOKEN: z.string().trim().min(1, 'a Home Assistant long-lived access token').optional(),
  HA_REQUEST_TIMEOUT_SECONDS: integer(1, 300).default(10),

  JWT_SECRET: optionalSecret(32, 'at least 32 characters (use a random value, e.g. `openssl rand -base64 48`)'),
  JWT_ISSUER: z.string().trim().min(1).optional(),
  JWT_AUDIENCE: z.string().trim().min(1).optional(),

  HA_AI_AGENT_ALLOWED_ORIGINS: originList.default(['http://localhost:3000', 'http://localhost:3001']),

  AGENT_MAX_TOOL_ROUNDS: integer(1, 50).default(5),
  CHAT_MAX_MESSAGE_CHARS: integer(1, 1_000_000).default(16_000),
  HA_CONTEXT_MAX_TOKENS: integer(100, 200_000).default(4000),
  RATE_LIMIT_CHAT_PER_MINUTE: integer(1, 100_000).default(100),
  MAX_CONCURRENT_REPLIES_PER_USER: integer(1, 1000).default(2),
  TOKEN_BUDGET_PER_DAY: integer(1, 1_000_000_000_000).optional(),
  CONVERSATION_TTL_DAYS: integer(0, 36_500).default(30),

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
  openai: {
    /** Set when OPENAI_API_KEY or OPENAI_BASE_URL is set; otherwise chat fails with LLM_NOT_CONFIGURED. */
    configured: boolean;
    apiKey: string | undefined;
    baseUrl: string | undefined;
    model: string;
    maxInputTokens: number;
    maxRetries: number;
    timeoutMs: number;
  };
  homeAssistant: {
    url: string | undefined;
    token: string | undefined;
    requestTimeoutMs: number;
  };
  auth: {
    jwtSecret: string | undefined;
    jwtIssuer: string | undefined;
    jwtAudience: string | undefined;
  };
  allowedOrigins: string[];
  agent: {
    maxToolRounds: number;
    maxMessageChars: number;
    contextMaxTokens: number;
  };
  limits: {
    chatPerMinute: number;
    concurrentRepliesPerUser: number;
    tokenBudgetPerDay: number | undefined;
  };
  /** Idle days after which a conversation is deleted; 0 keeps conversations forever. */
  conversationTtlDays: number;
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
  logLevel: string;
  logConversationContent: boolean;
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
      return `${name}: invalid value, expected ${issue.message}`;
    });
    throw new ConfigError([...new Set(problems)]);
  }

  const env = parsed.data;
  const oldKeys = env.DATA_ENCRYPTION_OLD_KEYS ?? [];
  if (env.DATA_ENCRYPTION_KEY && oldKeys.some((key) => key.id === env.DATA_ENCRYPTION_KEY?.id)) {
    throw new ConfigError([`DATA_ENCRYPTION_OLD_KEYS: invalid value, expected keys whose ids differ from the DATA_ENCRYPTION_KEY id "${env.DATA_ENCRYPTION_KEY.id}"`]);
  }
  return {
    nodeEnv: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    openai: {
      configured: env.OPENAI_API_KEY !== undefined || env.OPENAI_BASE_URL !== undefined,
      apiKey: env.OPENAI_API_KEY,
      baseUrl: env.OPENAI_BASE_URL,
      model: env.OPENAI_MODEL,
      maxInputTokens: env.OPENAI_MAX_INPUT_TOKENS,
      maxRetries: env.OPENAI_MAX_RETRIES,
      timeoutMs: env.OPENAI_TIMEOUT_SECONDS * 1000,
    },
    homeAssistant: {
      url: env.HA_URL?.replace(/\/+$/, ''),
      token: env.HA_TOKEN,
      requestTimeoutMs: env.HA_REQUEST_TIMEOUT_SECONDS * 1000,
    },
    auth: {
      jwtSecret: env.JWT_SECRET,
      jwtIssuer: env.JWT_ISSUER,
      jwtAudience: env.JWT_AUDIENCE,
    },
    allowedOrigins: env.HA_AI_AGENT_ALLOWED_ORIGINS,
    agent: {
      maxToolRounds: env.AGENT_MAX_TOOL_ROUNDS,
      maxMessageChars: env.CHAT_MAX_MESSAGE_CHARS,
      contextMaxTokens: env.HA_CONTEXT_MAX_TOKENS,
    },
    limits: {
      chatPerMinute: env.RATE_LIMIT_CHAT_PER_MINUTE,
      concurrentRepliesPerUser: env.MAX_CONCURRENT_REPLIES_PER_USER,
      tokenBudgetPerDay: env.TOKEN_BUDGET_PER_DAY,
    },
    conversationTtlDays: env.CONVERSATION_TTL_DAYS,
    encryption: { key: env.DATA_ENCRYPTION_KEY, oldKeys },
    metricsToken: env.METRICS_TOKEN,
    instance: { id: env.INSTANCE_ID, heartbeatMs: env.INSTANCE_HEARTBEAT_SECONDS * 1000 },
    graphiql: env.GRAPHIQL ?? env.NODE_ENV !== 'production',
    logLevel: env.LOG_LEVEL,
    logConversationContent: env.LOG_CONVERSATION_CONTENT,
  };
}
