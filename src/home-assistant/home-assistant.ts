import type { ExposureSettings } from '../config.js';
import { countTokens } from '../llm/tokens.js';
import type { Logger } from '../observability/logger.js';
import { AppError } from '../security/errors.js';
import { ExposureRules } from './exposure.js';
import { HomeCache } from './home-cache.js';
import { buildStableContext, buildVolatileContext, wrapStable, type ContextSection, type EntityDetail, type StableContext } from './home-context.js';
import { HomeIndex } from './home-index.js';
import { HomeAssistantRestClient, type HomeAssistantCallObserver } from './rest-client.js';
import type { HassState } from './types.js';
import { HomeAssistantConnection } from './websocket-connection.js';

export interface HomeAssistantClientSettings {
  url: string;
  token: string;
  /** Time allowed for each request or command, in milliseconds. */
  requestTimeoutMs: number;
  exposure: ExposureSettings;
  /** Connection tuning for tests; see HomeAssistantConnectionSettings. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  pingIntervalMs?: number;
  /** Receives every WebSocket command and REST request, for metrics. */
  observe?: HomeAssistantCallObserver;
}

export interface HomeStatus {
  configured: boolean;
  connected: boolean;
  /** When the connection entered its current state. */
  since: Date | undefined;
  /** Reason Home Assistant is not available, in our words. */
  problem: string | undefined;
  haVersion: string | undefined;
  /** When everything was last read in full. */
  syncedAt: Date | undefined;
}

/** The home context as the prompt gets it, with the parts the `home` query reports. */
export interface HomeContextSnapshot {
  status: HomeStatus;
  /** Goes right after the system prompt; identical between turns while the home's structure is unchanged. */
  stableBlock: string;
  /** Goes just before the user's message; changes with every state. */
  volatileBlock: string;
  sections: ContextSection[];
  totalTokens: number;
  maxTokens: number;
  detail: EntityDetail | undefined;
  /** When the states were last known to be current; undefined when none were ever read. */
  asOf: Date | undefined;
  totalEntities: number;
  exposedEntities: number;
}

/** One entity's history: its states in the period, oldest first. */
export interface EntityHistory {
  entityId: string;
  states: { state: string; at: string }[];
}

/** The compressed rows of `history/history_during_period`: `s` state, `lu` last updated, `lc` last changed. */
type CompressedHistory = Record<string, { s: string; lu?: number; lc?: number }[]>;

/** Builds the context for a server without Home Assistant. */
export function unconfiguredContext(maxTokens: number): HomeContextSnapshot {
  const text = 'Home Assistant is not configured (HA_URL and HA_TOKEN are unset), so there is no home data and every home tool fails.';
  const block = wrapStable(text);
  return {
    status: {
      configured: false,
      connected: false,
      since: undefined,
      problem: 'Home Assistant is not configured. Set HA_URL and HA_TOKEN.',
      haVersion: undefined,
      syncedAt: undefined,
    },
    stableBlock: block,
    volatileBlock: '',
    sections: [{ name: 'summary', text, tokens: countTokens(text) }],
    totalTokens: countTokens(block),
    maxTokens,
    detail: undefined,
    asOf: undefined,
    totalEntities: 0,
    exposedEntities: 0,
  };
}

/**
 * Home Assistant as the agent uses it: a live WebSocket connection with a cache of the whole home, the
 * exposure rules applied on top, and REST for the automation config editor, which has no WebSocket
 * command. Every call is bounded by the request timeout and fails with HOME_ASSISTANT_UNAVAILABLE when
 * Home Assistant cannot respond.
 */
export class HomeAssistantClient {
  readonly connection: HomeAssistantConnection;
  readonly rest: HomeAssistantRestClient;
  readonly cache: HomeCache;
  private readonly exposure: ExposureRules;
  private indexCache: { version: number; index: HomeIndex } | undefined;
  private stableCache: { version: number; maxTokens: number; context: StableContext } | undefined;

  constructor(
    private readonly settings: HomeAssistantClientSettings,
    logger: Logger,
  ) {
    this.connection = new HomeAssistantConnection(
      {
        url: settings.url,
        token: settings.token,
        requestTimeoutMs: settings.requestTimeoutMs,
        reconnectInitialMs: settings.reconnectInitialMs,
        reconnectMaxMs: settings.reconnectMaxMs,
        pingIntervalMs: settings.pingIntervalMs,
        observe: settings.observe,
      },
      logger,
    );
    this.rest = new HomeAssistantRestClient({ url: settings.url, token: settings.token, timeoutMs: settings.requestTimeoutMs, observe: settings.observe });
    this.cache = new HomeCache(this.connection, logger);
    this.exposure = new ExposureRules(settings.exposure);
  }

  start(): void {
    this.connection.start();
  }

  async close(): Promise<void> {
    this.cache.close();
    await this.connection.close();
  }

  status(): HomeStatus {
    const connection = this.connection.current;
    const current = this.connection.connected && this.cache.isCurrent;
    let problem: string | undefined;
    if (!this.connection.connected) problem = connection.problem ?? 'Home Assistant is not connected yet.';
    else if (!current) problem = 'The home is being read again after connecting.';
    return {
      configured: true,
      connected: current,
      since: connection.since,
      problem,
      haVersion: connection.haVersion,
      syncedAt: this.cache.lastSyncedAt,
    };
  }

  /** Raises HOME_ASSISTANT_UNAVAILABLE unless connected and the home has been read. */
  assertAvailable(): void {
    const status = this.status();
    if (status.connected) return;
    const seconds = status.since ? Math.max(0, Math.round((Date.now() - status.since.getTime()) / 1000)) : 0;
    throw AppError.homeAssistantUnavailable(`Home Assistant has been unavailable for ${seconds} s. ${status.problem ?? 'It is not connected.'}`);
  }

  /**
   * Waits for the first full read of the home, at most `timeoutMs`, but not past a failed connection
   * attempt, so turns do not each wait out the timeout while Home Assistant is down. Returns whether the
   * home has been read.
   */
  async waitUntilReady(timeoutMs = this.settings.requestTimeoutMs): Promise<boolean> {
    if (this.cache.hasData) return true;
    if (this.connection.current.state !== 'connecting' && !this.connection.connected) return false;
    let timer: NodeJS.Timeout | undefined;
    let stopListening = () => {};
    const giveUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      stopListening = this.connection.onStatus((status) => {
        if (status.state === 'disconnected' || status.state === 'closed') resolve(false);
      });
    });
    try {
      return await Promise.race([this.cache.firstSync.then(() => true), giveUp]);
    } finally {
      clearTimeout(timer);
      stopListening();
    }
  }

  /** Reads the whole home again; HOME_ASSISTANT_UNAVAILABLE when that fails. */
  async refresh(): Promise<void> {
    if (!this.connection.connected) this.assertAvailable();
    await this.cache.sync();
  }

  /** Returns the exposed part of the home, rebuilding it only when the home's structure changed. */
  index(): HomeIndex {
    const version = this.cache.structureVersion;
    if (this.indexCache?.version !== version) {
      const index = new HomeIndex(this.cache.allStates(), this.cache.getRegistries(), this.exposure);
      this.indexCache = { version, index };
    }
    return this.indexCache.index;
  }

  /** Builds the home context within `maxTokens`; the stable part is reused while the structure is unchanged. */
  context(maxTokens: number, now = new Date()): HomeContextSnapshot {
    const status = this.status();
    const index = this.index();
    const version = this.cache.structureVersion;
    if (this.stableCache?.version !== version || this.stableCache.maxTokens !== maxTokens) {
      this.stableCache = { version, maxTokens, context: buildStableContext(index, this.cache.getConfig(), maxTokens) };
    }
    const stable = this.stableCache.context;
    const asOf = this.cache.currentAsOf(now);
    const volatile = buildVolatileContext(
      index,
      (entityId) => this.cache.getState(entityId),
      { connected: status.connected, asOf, now },
      maxTokens - stable.tokens,
    );
    return {
      status,
      stableBlock: stable.block,
      volatileBlock: volatile.block,
      sections: [...stable.sections, volatile.section],
      totalTokens: stable.tokens + volatile.tokens,
      maxTokens,
      detail: stable.detail,
      asOf,
      totalEntities: index.totalEntities,
      exposedEntities: index.entities.length,
    };
  }

  /**
   * Calls a service over the WebSocket API on exactly these entities. Home Assistant responds once the
   * service has run, and the state changes arrive as events, which StateVerifier watches.
   */
  async callService(domain: string, service: string, data: Record<string, unknown>, entityIds: string[], signal: AbortSignal): Promise<void> {
    this.assertAvailable();
    // A service without targets, such as a script's own service, must get no target key at all.
    const target = entityIds.length > 0 ? { target: { entity_id: entityIds } } : {};
    await this.connection.command({ type: 'call_service', domain, service, service_data: data, ...target }, { signal });
  }

  /** Reads the states of entities between two instants from the recorder, over the WebSocket API. */
  async history(entityIds: string[], start: Date, end: Date, signal: AbortSignal): Promise<EntityHistory[]> {
    this.assertAvailable();
    const rows = await this.connection.command<CompressedHistory>(
      {
        type: 'history/history_during_period',
        start_time: start.toISOString(),
        end_time: end.toISOString(),
        entity_ids: entityIds,
        include_start_time_state: true,
        significant_changes_only: false,
        minimal_response: true,
        no_attributes: true,
      },
      { signal },
    );
    return entityIds.map((entityId) => ({
      entityId,
      states: (rows[entityId] ?? []).map((row) => ({ state: row.s, at: new Date((row.lu ?? row.lc ?? 0) * 1000).toISOString() })),
    }));
  }

  /** Reads one state over REST, bypassing the cache; undefined when Home Assistant does not know the entity. */
  readState(entityId: string, signal?: AbortSignal): Promise<HassState | undefined> {
    return this.rest.getState(entityId, signal);
  }
}
