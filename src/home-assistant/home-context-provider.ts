import type { Logger } from '../observability/logger.js';
import { isAppError } from '../security/errors.js';
import { unconfiguredContext, type HomeAssistantClient, type HomeContextSnapshot } from './home-assistant.js';

/**
 * Gives the turn and the `home` query the home context within HA_CONTEXT_MAX_TOKENS, whether or not Home
 * Assistant is configured or reachable.
 */
export class HomeContextProvider {
  constructor(
    private readonly client: HomeAssistantClient | undefined,
    private readonly maxTokens: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Returns the context for a new turn. It waits for the first read after startup, at most the request
   * timeout, and with `refresh` reads the whole home again unless that first read just happened. A failed
   * read leaves the cached data, which the context then marks with its age.
   */
  async get(options: { refresh?: boolean } = {}): Promise<HomeContextSnapshot> {
    const { client } = this;
    if (!client) return unconfiguredContext(this.maxTokens);
    // Right after startup the first read may still be running; a refresh before it would find no connection.
    const readyBefore = client.cache.hasData;
    await client.waitUntilReady();
    if (options.refresh && readyBefore) {
      await client.refresh().catch((error: unknown) => {
        this.logger.warn(
          { event: 'home.refresh_failed', code: isAppError(error) ? error.code : undefined, err: isAppError(error) ? undefined : error },
          'Refreshing the home context failed; using the cached one',
        );
      });
    }
    return client.context(this.maxTokens);
  }

  /** Builds the context from what is cached now, without waiting; each tool round of a turn uses it. */
  current(now = new Date()): HomeContextSnapshot {
    return this.client ? this.client.context(this.maxTokens, now) : unconfiguredContext(this.maxTokens);
  }

  /** Returns an entity's state as the cache has it now, or undefined when the entity is unknown. */
  stateOf(entityId: string): string | undefined {
    return this.client?.cache.getState(entityId)?.state;
  }

  /** Returns the IANA time zone of the home, when Home Assistant reported one. */
  timeZone(): string | undefined {
    const zone = this.client?.cache.getConfig()?.time_zone;
    return typeof zone === 'string' && zone !== '' ? zone : undefined;
  }
}
