import type { Config } from '../config.js';
import { parseDatabaseUrl } from '../db/database-url.js';

/** Returns a URL's origin and path without its user, password, query or fragment, or undefined when it is not a URL. */
function urlWithoutCredentials(value: string | undefined): string | undefined {
  if (!value || !URL.canParse(value)) return undefined;
  const url = new URL(value);
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}

function databaseSummary(databaseUrl: string): Record<string, unknown> {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.kind === 'sqlite') return { kind: 'sqlite', file: target.file };
  const url = new URL(target.url);
  return { kind: 'postgresql', host: url.host, database: decodeURIComponent(url.pathname.replace(/^\//, '')) };
}

/**
 * Fields of the `server.started` log line: what this instance runs with, so an operator can check the
 * deployment from one line. Secrets and URL credentials stay out.
 */
export function startupSummary(config: Config, instanceId: string, url: string): Record<string, unknown> {
  const redisHost = config.redisUrl && URL.canParse(config.redisUrl) ? new URL(config.redisUrl).host : undefined;
  return {
    event: 'server.started',
    url,
    instanceId,
    nodeVersion: process.version,
    database: databaseSummary(config.databaseUrl),
    bus: config.redisUrl ? { kind: 'redis', host: redisHost } : { kind: 'memory' },
    encryptionKeyId: config.encryption.key?.id ?? 'none',
    model: config.openai.configured
      ? // Without OPENAI_BASE_URL the line has no baseUrl, and the SDK uses OpenAI's own endpoint.
        { configured: true, name: config.openai.model, baseUrl: urlWithoutCredentials(config.openai.baseUrl) }
      : { configured: false },
    homeAssistant:
      config.homeAssistant.url && config.homeAssistant.token
        ? { configured: true, url: urlWithoutCredentials(config.homeAssistant.url) }
        : { configured: false },
    graphiql: config.graphiql,
  };
}
