import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8030);
    expect(config.host).toBe('0.0.0.0');
    expect(config.databaseUrl).toBe('sqlite:./data/ha_ai_agent.db');
    expect(config.openai.model).toBe('gpt-4o-mini');
    expect(config.openai.configured).toBe(false);
    expect(config.openai.maxInputTokens).toBe(16_000);
    expect(config.openai.maxRetries).toBe(3);
    expect(config.agent.maxToolRounds).toBe(5);
    expect(config.agent.maxToolCallsPerRound).toBe(16);
    expect(config.agent.maxMessageChars).toBe(16_000);
    expect(config.agent.contextMaxTokens).toBe(4000);
    expect(config.limits.chatPerMinute).toBe(100);
    expect(config.limits.concurrentRepliesPerUser).toBe(2);
    expect(config.limits.tokenBudgetPerDay).toBeUndefined();
    expect(config.limits.operationsPerMinute).toBe(600);
    expect(config.limits.authFailuresPerMinute).toBe(20);
    expect(config.limits.trustedProxies).toEqual([]);
    expect(config.openai.timeoutMs).toBe(60_000);
    expect(config.openai.idleTimeoutMs).toBe(60_000);
    expect(config.openai.maxRetryAfterMs).toBe(30_000);
    expect(config.agent.turnDeadlineMs).toBe(300_000);
    expect(config.shutdownGraceMs).toBe(10_000);
    expect(config.redisKeyPrefix).toBe('ha-ai-agent:');
    expect(config.conversationTtlDays).toBe(30);
    expect(config.allowedOrigins).toEqual(['http://localhost:3000', 'http://localhost:3001']);
    expect(config.logConversationContent).toBe(false);
    expect(config.graphiql).toBe(true);
    expect(config.openai.promptCacheKey).toBe(true);
    expect(config.homeAssistant.exposure).toEqual({
      exposeAll: false,
      domains: [],
      excludeDomains: [],
      areas: [],
      excludeAreas: [],
      entities: [],
      excludeEntities: [],
    });
    expect(config.agent).toMatchObject({
      toolTimeoutMs: 30_000,
      verifyTimeoutMs: 5_000,
      confirmationTtlMs: 300_000,
      allowedServices: undefined,
      deniedServices: undefined,
      confirmServices: [],
    });
  });

  it('reads exposure and policy settings', () => {
    const config = loadConfig({
      OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1',
      HA_EXPOSE_ALL: 'true',
      HA_EXPOSE_DOMAINS: 'light, switch',
      HA_EXCLUDE_AREAS: 'garage,Living Room',
      HA_EXCLUDE_ENTITIES: 'sensor.*_battery',
      AGENT_ALLOWED_SERVICES: 'light,lock.lock',
      AGENT_CONFIRM_SERVICES: 'script',
      AGENT_TOOL_TIMEOUT_SECONDS: '12',
      AGENT_CONFIRMATION_TTL_SECONDS: '60',
    });
    expect(config.openai.promptCacheKey).toBe(false);
    expect(config.homeAssistant.exposure).toMatchObject({
      exposeAll: true,
      domains: ['light', 'switch'],
      excludeAreas: ['garage', 'Living Room'],
      excludeEntities: ['sensor.*_battery'],
    });
    expect(config.agent).toMatchObject({
      allowedServices: ['light', 'lock.lock'],
      confirmServices: ['script'],
      toolTimeoutMs: 12_000,
      confirmationTtlMs: 60_000,
    });
    expect(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1', OPENAI_PROMPT_CACHE_KEY: 'true' }).openai.promptCacheKey).toBe(true);
  });

  it('names invalid exposure lists', () => {
    expect(() => loadConfig({ HA_EXPOSE_DOMAINS: 'Light!' })).toThrow(/HA_EXPOSE_DOMAINS: invalid value "Light!", expected a comma-separated list of domains/);
    expect(() => loadConfig({ HA_EXCLUDE_ENTITIES: 'kitchen' })).toThrow(
      /HA_EXCLUDE_ENTITIES: invalid value "[^"]+", expected a comma-separated list of entity ids or patterns/,
    );
    expect(() => loadConfig({ AGENT_DENIED_SERVICES: 'lock.unlock.now' })).toThrow(/AGENT_DENIED_SERVICES: invalid value/);
  });

  it('treats a base URL alone as a configured model', () => {
    const config = loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1' });
    expect(config.openai.configured).toBe(true);
    expect(config.openai.apiKey).toBeUndefined();
  });

  it('turns GraphiQL off in production unless overridden', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).graphiql).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', GRAPHIQL: 'true' }).graphiql).toBe(true);
  });

  it('validates the tool calls per round', () => {
    expect(loadConfig({ AGENT_MAX_TOOL_CALLS_PER_ROUND: '3' }).agent.maxToolCallsPerRound).toBe(3);
    expect(() => loadConfig({ AGENT_MAX_TOOL_CALLS_PER_ROUND: '0' })).toThrow(
      'AGENT_MAX_TOOL_CALLS_PER_ROUND: invalid value "0", expected a whole number from 1 to 128',
    );
    expect(() => loadConfig({ AGENT_MAX_TOOL_CALLS_PER_ROUND: '129' })).toThrow(/AGENT_MAX_TOOL_CALLS_PER_ROUND: invalid value "129"/);
  });

  it('treats empty values as unset', () => {
    const config = loadConfig({ PORT: '', OPENAI_API_KEY: '  ' });
    expect(config.port).toBe(8030);
    expect(config.openai.configured).toBe(false);
  });

  it('names every invalid variable in one error', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', HA_URL: 'not a url', LOG_LEVEL: 'loud', JWT_SECRET: 'short' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toContain('PORT: invalid value "eighty", expected a whole number from 0 to 65535');
    expect(problems.join('\n')).toContain('DATABASE_URL: invalid value, expected sqlite:PATH');
    expect(problems.join('\n')).toContain('HA_URL: invalid value, expected an http:// or https:// URL');
    expect(problems.join('\n')).toContain('LOG_LEVEL: invalid value "loud", expected fatal, error');
    expect(problems.join('\n')).toContain('JWT_SECRET: invalid value, expected at least 32 characters');
    expect(problems.join('\n')).not.toContain('short');
  });

  it('rejects HA_URL ending in /api', () => {
    for (const url of ['http://homeassistant.local:8123/api', 'http://127.0.0.1:8123/api/']) {
      expect(() => loadConfig({ HA_URL: url }), url).toThrow('HA_URL: invalid value, expected the base URL of Home Assistant without /api');
    }
    expect(loadConfig({ HA_URL: 'http://ha.example:8123/', HA_TOKEN: 'token' }).homeAssistant.url).toBe('http://ha.example:8123');
    expect(() => loadConfig({ HA_URL: 'not a url' })).toThrow('HA_URL: invalid value, expected an http:// or https:// URL');
  });

  it('names the accepted forms of a flag', () => {
    expect(() => loadConfig({ HA_EXPOSE_ALL: 'maybe' })).toThrow(
      'HA_EXPOSE_ALL: invalid value "maybe", expected true or false (1 and yes, 0 and no also work)',
    );
  });

  it('reads trusted proxies as addresses and CIDR blocks', () => {
    expect(loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1,fd00::/8' }).limits.trustedProxies).toEqual(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    for (const invalid of ['10.0.0.0/33', 'proxy.local', '10.0.0.1/8/2', '::1/129', '10.0.0.0/']) {
      expect(() => loadConfig({ TRUSTED_PROXIES: invalid }), invalid).toThrow(
        /TRUSTED_PROXIES: invalid value "[^"]+", expected a comma-separated list of IP addresses or CIDR blocks/,
      );
    }
  });

  it('rejects origins with wildcards or paths', () => {
    expect(() => loadConfig({ HA_AI_AGENT_ALLOWED_ORIGINS: '*' })).toThrow(/HA_AI_AGENT_ALLOWED_ORIGINS/);
    expect(() => loadConfig({ HA_AI_AGENT_ALLOWED_ORIGINS: 'https://a.example/path' })).toThrow(/HA_AI_AGENT_ALLOWED_ORIGINS/);
    expect(loadConfig({ HA_AI_AGENT_ALLOWED_ORIGINS: 'https://a.example, http://localhost:5173' }).allowedOrigins).toEqual([
      'https://a.example',
      'http://localhost:5173',
    ]);
  });
});

describe('security settings', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config.auth).toMatchObject({
      jwksUrl: undefined,
      jwtAlgorithms: ['HS256'],
      clockToleranceSeconds: 30,
      jwksCacheMs: 600_000,
      jwksCooldownMs: 30_000,
      revocationCheckMs: 2000,
    });
    expect(config.graphql).toEqual({ introspection: true, maxDepth: 10, maxAliases: 10, maxTokens: 1000, maxDirectives: 20, maxCost: 50_000 });
    expect(config.http.maxBodyBytes).toBe(262_144);
    expect(config.websocket).toEqual({ maxPayloadBytes: 262_144, maxSubscriptions: 50, maxConnectionsPerUser: 20, connectionInitTimeoutMs: 5000 });
  });

  it('uses RS256 and ES256 for a JWKS unless JWT_ALGORITHMS says otherwise', () => {
    expect(loadConfig({ JWT_JWKS_URL: 'https://id.example/jwks.json' }).auth.jwtAlgorithms).toEqual(['RS256', 'ES256']);
    expect(loadConfig({ JWT_JWKS_URL: 'https://id.example/jwks.json', JWT_ALGORITHMS: 'PS256, EdDSA' }).auth.jwtAlgorithms).toEqual(['PS256', 'EdDSA']);
  });

  it('rejects mixed JWT key sources', () => {
    const secret = 'a-secret-that-is-long-enough-for-hs256-0123';
    expect(() => loadConfig({ JWT_SECRET: secret, JWT_JWKS_URL: 'https://id.example/jwks.json' })).toThrow(/JWT_SECRET and JWT_JWKS_URL: invalid combination/);
    expect(() => loadConfig({ JWT_JWKS_URL: 'https://id.example/jwks.json', JWT_ALGORITHMS: 'RS256,HS256' })).toThrow(
      /JWT_ALGORITHMS: invalid value, expected only public-key algorithms/,
    );
    expect(() => loadConfig({ JWT_SECRET: secret, JWT_ALGORITHMS: 'RS256' })).toThrow(/JWT_ALGORITHMS: invalid value, expected only HS256, HS384, HS512/);
    expect(() => loadConfig({ JWT_ALGORITHMS: 'none' })).toThrow(/JWT_ALGORITHMS: invalid value "none", expected a comma-separated list of JWS algorithms/);
  });

  it('turns introspection off in production unless GRAPHQL_INTROSPECTION overrides it', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).graphql.introspection).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' }).graphql.introspection).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development', GRAPHQL_INTROSPECTION: 'false' }).graphql.introspection).toBe(false);
  });
});

describe('operations settings', () => {
  const key = (id: string, bytes = 32) => `${id}:${Buffer.alloc(bytes, 7).toString('base64')}`;

  it('parses encryption keys with their ids', () => {
    const config = loadConfig({ DATA_ENCRYPTION_KEY: key('k2'), DATA_ENCRYPTION_OLD_KEYS: `${key('k1')}, ${key('k0').replace(/\+/g, '-')}` });
    expect(config.encryption.key?.id).toBe('k2');
    expect(config.encryption.key?.key).toEqual(Buffer.alloc(32, 7));
    expect(config.encryption.oldKeys.map((item) => item.id)).toEqual(['k1', 'k0']);
    expect(loadConfig({}).encryption).toEqual({ key: undefined, oldKeys: [] });
  });

  it('names every invalid key setting', () => {
    let error: unknown;
    try {
      loadConfig({
        DATA_ENCRYPTION_KEY: key('k1', 16),
        DATA_ENCRYPTION_OLD_KEYS: `${key('k0')},${key('k0')}`,
        METRICS_TOKEN: 'short',
        INSTANCE_ID: 'has spaces',
      });
    } catch (caught) {
      error = caught;
    }
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('DATA_ENCRYPTION_KEY: invalid value, expected KEY_ID:BASE64, where BASE64 encodes 32 random bytes');
    expect(problems).toContain('DATA_ENCRYPTION_OLD_KEYS: invalid value, expected keys with distinct ids');
    expect(problems).toContain('METRICS_TOKEN: invalid value, expected at least 16 characters');
    expect(problems).toContain('INSTANCE_ID: invalid value');
    expect(problems).not.toContain(Buffer.alloc(16, 7).toString('base64'));
    expect(() => loadConfig({ DATA_ENCRYPTION_KEY: 'no-id-here' })).toThrow(/DATA_ENCRYPTION_KEY/);
    expect(() => loadConfig({ DATA_ENCRYPTION_KEY: key('k1'), DATA_ENCRYPTION_OLD_KEYS: key('k1') })).toThrow(
      'keys whose ids differ from the DATA_ENCRYPTION_KEY id "k1"',
    );
  });

  it('accepts a TTL of 0, which keeps conversations forever', () => {
    expect(loadConfig({ CONVERSATION_TTL_DAYS: '0' }).conversationTtlDays).toBe(0);
    expect(loadConfig({ INSTANCE_HEARTBEAT_SECONDS: '2', INSTANCE_ID: 'node-a.1' }).instance).toEqual({ id: 'node-a.1', heartbeatMs: 2000 });
  });
});
