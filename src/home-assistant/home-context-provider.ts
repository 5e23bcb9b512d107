import type { Logger } from '../observability/logger.js';
import { isAppError } from '../security/errors.js';
import { unconfiguredContext, type HomeAssistantClient, type HomeContextSnapshot } from './home-assistant.js';

/**
 * Gives the turn and the `home` query the home context within HA_CONTEXT_MAX_TOKENS, whether or not Home
 * Assistant is configured or reachable.
 */
/**
 * Shortest time between two full reads on request. The cache follows every change through the WebSocket
 * events, so reading more often only loads Home Assistant; any caller may ask for a refresh.
 */
export const MIN_REFRESH_INTERVAL_MS = 2_000;

export class HomeContextProvider {
  private refreshing: Promise<void> | undefined;
  private refreshedAt = 0;

  constructor(
    private readonly client: HomeAssistantClient | undefined,
    private readonly maxTokens: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Returns the context for a new turn. It waits for the first read after startup, at most the request
   * timeout, and with `refresh` reads the whole home again unless that first read or another refresh
   * happened within MIN_REFRESH_INTERVAL_MS. A failed
   * read leaves the cached data, which the context then marks with its age.
   */
  async get(options: { refresh?: boolean } = {}): Promise<HomeContextSnapshot> {
    const { client } = this;
    if (!client) return unconfiguredContext(this.maxTokens);
    // Right after startup the first read may still be running; a refresh before it would find no connection.
    const readyBefore = client.cache.hasData;
    await client.waitUntilReady();
    if (options.refresh && readyBefore) await this.refreshOnce(client);
    return client.context(this.maxTokens);
  }

  /** Reads the home again, unless a read is running (then waits for it) or has just finished. */
  private refreshOnce(client: HomeAssistantClient): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (Date.now() - this.refreshedAt < MIN_REFRESH_INTERVAL_MS) return Promise.resolve();
    this.refreshing = client
      .refresh()
      .catch((error: unknown) => {
        this.logger.warn(
          { event: 'home.refresh_failed', code: isAppError(error) ? error.code : undefined, err: isAppError(error) ? undefined : error },
          'Refreshing the home context failed; using the cached one',
        );
      })
      .finally(() => {
        this.refreshedAt = Date.now();
        this.refreshing = undefined;
      });
    return this.refreshing;
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
