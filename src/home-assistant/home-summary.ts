import type { Logger } from '../observability/logger.js';
import { isAppError } from '../security/errors.js';
import type { HomeAssistantRestClient } from './rest-client.js';
import { entityDomain, type HassConfig, type HassState } from './types.js';

export interface HomeSummary {
  /** Text for the prompt. */
  text: string;
  /** When the data behind the text was read from Home Assistant; undefined when it never was. */
  fetchedAt: Date | undefined;
  available: boolean;
}

const DEFAULT_TTL_MS = 60_000;

export function summarizeHome(states: HassState[], config: HassConfig | undefined): string {
  const counts = new Map<string, number>();
  for (const state of states) {
    const domain = entityDomain(state.entity_id);
    counts.set(domain, (counts.get(domain) ?? 0) + 1);
  }
  const domains = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([domain, count]) => `${domain} ${count}`);
  const name = typeof config?.location_name === 'string' ? config.location_name : 'Home';
  const version = typeof config?.version === 'string' ? `, Home Assistant ${config.version}` : '';
  return [`${name}${version}: ${states.length} entities.`, `Entities by domain: ${domains.join(', ')}.`].join('\n');
}

/**
 * Caches a short summary of the home (entity counts by domain) for the system prompt. When Home
 * Assistant cannot be reached, the last summary is kept and marked with its age.
 */
export class HomeSummaryCache {
  private summary: HomeSummary | undefined;
  private loading: Promise<HomeSummary> | undefined;

  constructor(
    private readonly client: HomeAssistantRestClient | undefined,
    private readonly logger: Logger,
    private readonly ttlMs = DEFAULT_TTL_MS,
  ) {}

  async get(options: { refresh?: boolean } = {}): Promise<HomeSummary> {
    if (!this.client) {
      return { text: 'Home Assistant is not configured, so no home data is available.', fetchedAt: undefined, available: false };
    }
    const fresh = this.summary?.available && this.summary.fetchedAt && Date.now() - this.summary.fetchedAt.getTime() < this.ttlMs;
    if (fresh && !options.refresh && this.summary) return this.summary;
    this.loading ??= this.load(this.client).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(client: HomeAssistantRestClient): Promise<HomeSummary> {
    try {
      const [states, config] = await Promise.all([client.getStates(), client.getConfig()]);
      this.summary = { text: summarizeHome(states, config), fetchedAt: new Date(), available: true };
      return this.summary;
    } catch (error) {
      this.logger.warn({ event: 'home.summary_failed', code: isAppError(error) ? error.code : undefined, err: isAppError(error) ? undefined : error }, 'Reading the home summary failed');
      const previous = this.summary;
      if (previous?.fetchedAt) {
        const ageSeconds = Math.round((Date.now() - previous.fetchedAt.getTime()) / 1000);
        return {
          text: `${previous.text}\nHome Assistant is unreachable right now; this summary is ${ageSeconds} s old.`,
          fetchedAt: previous.fetchedAt,
          available: false,
        };
      }
      return { text: 'Home Assistant is unreachable right now, so no home data is available.', fetchedAt: undefined, available: false };
    }
  }
}
