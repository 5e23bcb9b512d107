import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';

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
  OPENAI_PROMPT_CACHE_KEY: booleanFlag.optional(),

  HA_URL: httpUrl.optional(),
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
  JWT_ISSUER: z.string().trim().min(1).optional(),
  JWT_AUDIENCE: z.string().trim().min(1).optional(),

  HA_AI_AGENT_ALLOWED_ORIGINS: originList.default(['http://localhost:3000', 'http://localhost:3001']),

  AGENT_MAX_TOOL_ROUNDS: integer(1, 50).default(5),
  AGENT_TOOL_TIMEOUT_SECONDS: integer(1, 600).default(30),
  AGENT_VERIFY_TIMEOUT_SECONDS: integer(0, 120).default(5),
  AGENT_CONFIRMATION_TTL_SECONDS: integer(1, 86_400).default(300),
  AGENT_ALLOWED_SERVICES: serviceList.optional(),
  AGENT_DENIED_SERVICES: serviceList.optional(),
  AGENT_CONFIRM_SERVICES: serviceList.optional(),
  CHAT_MAX_MESSAGE_CHARS: integer(1, 1_000_000).default(16_000),
  HA_CONTEXT_MAX_TOKENS: integer(100, 200_000).default(4000),
  RATE_LIMIT_CHAT_PER_MINUTE: integer(1, 100_000).default(100),
  MAX_CONCURRENT_REPLIES_PER_USER: integer(1, 1000).default(2),
  TOKEN_BUDGET_PER_DAY: integer(1, 1_000_000_000_000).optional(),
  CONVERSATION_TTL_DAYS: integer(1, 36_500).default(30),

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
    jwtIssuer: string | undefined;
    jwtAudience: string | undefined;
  };
  allowedOrigins: string[];
  agent: {
    maxToolRounds: number;
    maxMessageChars: number;
    contextMaxTokens: number;
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
    concurrentRepliesPerUser: number;
    tokenBudgetPerDay: number | undefined;
  };
  conversationTtlDays: number;
  graphiql: boolean;
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
      jwtIssuer: env.JWT_ISSUER,
      jwtAudience: env.JWT_AUDIENCE,
    },
    allowedOrigins: env.HA_AI_AGENT_ALLOWED_ORIGINS,
    agent: {
      maxToolRounds: env.AGENT_MAX_TOOL_ROUNDS,
      maxMessageChars: env.CHAT_MAX_MESSAGE_CHARS,
      contextMaxTokens: env.HA_CONTEXT_MAX_TOKENS,
      toolTimeoutMs: env.AGENT_TOOL_TIMEOUT_SECONDS * 1000,
      verifyTimeoutMs: env.AGENT_VERIFY_TIMEOUT_SECONDS * 1000,
      confirmationTtlMs: env.AGENT_CONFIRMATION_TTL_SECONDS * 1000,
      allowedServices: env.AGENT_ALLOWED_SERVICES,
      deniedServices: env.AGENT_DENIED_SERVICES,
      confirmServices: env.AGENT_CONFIRM_SERVICES ?? [],
    },
    limits: {
      chatPerMinute: env.RATE_LIMIT_CHAT_PER_MINUTE,
      concurrentRepliesPerUser: env.MAX_CONCURRENT_REPLIES_PER_USER,
      tokenBudgetPerDay: env.TOKEN_BUDGET_PER_DAY,
    },
    conversationTtlDays: env.CONVERSATION_TTL_DAYS,
    graphiql: env.GRAPHIQL ?? env.NODE_ENV !== 'production',
    logLevel: env.LOG_LEVEL,
    logConversationContent: env.LOG_CONVERSATION_CONTENT,
  };
}
