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
    expect(config.agent.maxMessageChars).toBe(16_000);
    expect(config.agent.contextMaxTokens).toBe(4000);
    expect(config.limits.chatPerMinute).toBe(100);
    expect(config.limits.concurrentRepliesPerUser).toBe(2);
    expect(config.limits.tokenBudgetPerDay).toBeUndefined();
    expect(config.conversationTtlDays).toBe(30);
    expect(config.allowedOrigins).toEqual(['http://localhost:3000', 'http://localhost:3001']);
    expect(config.logConversationContent).toBe(false);
    expect(config.graphiql).toBe(true);
    expect(config.openai.promptCacheKey).toBe(true);
    expect(config.homeAssistant.exposure).toEqual({ exposeAll: false, domains: [], excludeDomains: [], areas: [], excludeAreas: [], entities: [], excludeEntities: [] });
    expect(config.agent).toMatchObject({ toolTimeoutMs: 30_000, verifyTimeoutMs: 5_000, confirmationTtlMs: 300_000, allowedServices: undefined, deniedServices: undefined, confirmServices: [] });
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
    expect(config.homeAssistant.exposure).toMatchObject({ exposeAll: true, domains: ['light', 'switch'], excludeAreas: ['garage', 'Living Room'], excludeEntities: ['sensor.*_battery'] });
    expect(config.agent).toMatchObject({ allowedServices: ['light', 'lock.lock'], confirmServices: ['script'], toolTimeoutMs: 12_000, confirmationTtlMs: 60_000 });
    expect(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1', OPENAI_PROMPT_CACHE_KEY: 'true' }).openai.promptCacheKey).toBe(true);
  });

  it('names invalid exposure lists', () => {
    expect(() => loadConfig({ HA_EXPOSE_DOMAINS: 'Light!' })).toThrow(/HA_EXPOSE_DOMAINS: invalid value, expected a comma-separated list of domains/);
    expect(() => loadConfig({ HA_EXCLUDE_ENTITIES: 'kitchen' })).toThrow(/HA_EXCLUDE_ENTITIES: invalid value, expected a comma-separated list of entity ids or patterns/);
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
    expect(problems.join('\n')).toContain('PORT: invalid value, expected a whole number from 0 to 65535');
    expect(problems.join('\n')).toContain('DATABASE_URL: invalid value, expected sqlite:PATH');
    expect(problems.join('\n')).toContain('HA_URL: invalid value, expected an http:// or https:// URL');
    expect(problems.join('\n')).toContain('LOG_LEVEL');
    expect(problems.join('\n')).toContain('JWT_SECRET: invalid value, expected at least 32 characters');
  });

  it('rejects origins with wildcards or paths', () => {
    expect(() => loadConfig({ HA_AI_AGENT_ALLOWED_ORIGINS: '*' })).toThrow(/HA_AI_AGENT_ALLOWED_ORIGINS/);
    expect(() => loadConfig({ HA_AI_AGENT_ALLOWED_ORIGINS: 'https://a.example/path' })).toThrow(/HA_AI_AGENT_ALLOWED_ORIGINS/);
    expect(loadConfig({ HA_AI_AGENT_ALLOWED_ORIGINS: 'https://a.example, http://localhost:5173' }).allowedOrigins).toEqual(['https://a.example', 'http://localhost:5173']);
  });
});
