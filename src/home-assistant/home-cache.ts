import type { Logger } from '../observability/logger.js';
import { isAppError } from '../security/errors.js';
import { HomeAssistantCommandError, type HomeAssistantConnection } from './websocket-connection.js';
import type { HassArea, HassConfig, HassDevice, HassEntityEntry, HassEvent, HassFloor, HassServices, HassState, StateChangedData } from './types.js';

export interface Registries {
  floors: HassFloor[];
  areas: HassArea[];
  devices: HassDevice[];
  entities: HassEntityEntry[];
}

type RegistryName = keyof Registries;

/** Registry list commands, each of which returns an array. */
const REGISTRY_COMMANDS: Record<RegistryName, string> = {
  floors: 'config/floor_registry/list',
  areas: 'config/area_registry/list',
  devices: 'config/device_registry/list',
  entities: 'config/entity_registry/list',
};

/** Events after which a registry, the service list or the config is read again. */
const RELOAD_EVENTS: Record<string, RegistryName | 'services' | 'config'> = {
  floor_registry_updated: 'floors',
  area_registry_updated: 'areas',
  device_registry_updated: 'devices',
  entity_registry_updated: 'entities',
  service_registered: 'services',
  service_removed: 'services',
  core_config_updated: 'config',
};

/** Registry events come in bursts (one per entity when an integration reloads); one read covers a burst. */
const RELOAD_DEBOUNCE_MS = 200;

/**
 * The home as Home Assistant last reported it: states, kept live by `state_changed` events, plus the
 * config, the services and the floor, area, device and entity registries, each read again when its
 * update event arrives. Everything is read again after every (re)connection, because events are lost
 * while disconnected.
 */
export class HomeCache {
  private states = new Map<string, HassState>();
  private registries: Registries = { floors: [], areas: [], devices: [], entities: [] };
  private services: HassServices = {};
  private config: HassConfig | undefined;
  private syncing: Promise<void> | undefined;
  private readonly pendingReloads = new Map<string, NodeJS.Timeout>();
  private readonly stateListeners = new Set<(change: StateChangedData) => void>();
  private syncedAt: Date | undefined;
  private changedAt: Date | undefined;
  /** Bumped when anything but a state value changes: registries, services, config, the set of entities. */
  private structure = 0;
  /** Bumped on every state change. */
  private stateRevision = 0;
  private resolveFirstSync!: () => void;
  /** State changes received while a full read runs; undefined when none runs. */
  private changesDuringRead: StateChangedData[] | undefined;
  /** When the data stopped being current: the moment the connection dropped, until a full read after it. */
  private staleSince: Date | undefined;
  /** Counts connection losses, so a read that overlapped one does not mark the data current. */
  private outages = 0;
  /** Settles when the home has been read in full for the first time. */
  readonly firstSync = new Promise<void>((resolve) => {
    this.resolveFirstSync = resolve;
  });

  constructor(
    private readonly connection: HomeAssistantConnection,
    private readonly logger: Logger,
  ) {
    connection.subscribeEvents('state_changed', (event) => this.applyStateChange(event as unknown as HassEvent<StateChangedData>));
    for (const [eventType, target] of Object.entries(RELOAD_EVENTS)) {
      connection.subscribeEvents(eventType, () => this.scheduleReload(target));
    }
    connection.onStatus((status) => {
      if (status.state === 'connected') {
        void this.sync().catch(() => {});
        return;
      }
      this.outages += 1;
      if (this.syncedAt && !this.staleSince) this.staleSince = status.since;
    });
  }

  /** When the last full read finished; undefined before the first. */
  get lastSyncedAt(): Date | undefined {
    return this.syncedAt;
  }

  /** When the data last changed through an event or a read. */
  get lastChangedAt(): Date | undefined {
    return this.changedAt;
  }

  get structureVersion(): number {
    return this.structure;
  }

  get stateVersion(): number {
    return this.stateRevision;
  }

  get hasData(): boolean {
    return this.syncedAt !== undefined;
  }

  /** Whether the data is current: read in full since the last connection, and kept live by events since. */
  get isCurrent(): boolean {
    return this.syncedAt !== undefined && this.staleSince === undefined;
  }

  /** Until when the data is known to be correct: `now` while current, else when the connection dropped. */
  currentAsOf(now: Date): Date | undefined {
    if (!this.syncedAt) return undefined;
    return this.staleSince ?? now;
  }

  getState(entityId: string): HassState | undefined {
    return this.states.get(entityId);
  }

  allStates(): HassState[] {
    return [...this.states.values()];
  }

  getRegistries(): Registries {
    return this.registries;
  }

  getServices(): HassServices {
    return this.services;
  }

  getConfig(): HassConfig | undefined {
    return this.config;
  }

  /** Calls the listener for every state change from now on. Returns a function that removes it. */
  onStateChanged(listener: (change: StateChangedData) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /**
   * Reads everything again. Concurrent calls share one read. Raises HOME_ASSISTANT_UNAVAILABLE when a
   * read fails; the data read before stays in place.
   */
  sync(): Promise<void> {
    this.syncing ??= this.readAll().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async readAll(): Promise<void> {
    const startedAt = Date.now();
    const outages = this.outages;
    // State changes that arrive while the read runs may be newer than the states it returns; they are
    // applied again on top of the new snapshot, or the snapshot would undo them.
    const changesDuringRead: StateChangedData[] = [];
    this.changesDuringRead = changesDuringRead;
    const [states, config, services, floors, areas, devices, entities] = await Promise.all([
      this.connection.command<HassState[]>({ type: 'get_states' }),
      this.connection.command<HassConfig>({ type: 'get_config' }),
      this.connection.command<HassServices>({ type: 'get_services' }),
      this.readRegistry('floors'),
      this.readRegistry('areas'),
      this.readRegistry('devices'),
      this.readRegistry('entities'),
    ])
      .catch((error: unknown) => {
        this.logger.warn(
          { event: 'home.sync_failed', code: isAppError(error) ? error.code : undefined, err: isAppError(error) ? undefined : error },
          'Reading the home from Home Assistant failed',
        );
        throw error;
      })
      .finally(() => {
        if (this.changesDuringRead === changesDuringRead) this.changesDuringRead = undefined;
      });

    this.states = new Map(states.map((state) => [state.entity_id, state]));
    for (const change of changesDuringRead) applyNewer(this.states, change);
    this.config = config;
    this.services = services;
    this.registries = { floors, areas, devices, entities };
    this.structure += 1;
    this.stateRevision += 1;
    this.syncedAt = new Date();
    this.changedAt = this.syncedAt;
    if (outages === this.outages && this.connection.connected) this.staleSince = undefined;
    else this.staleSince ??= this.syncedAt;
    this.resolveFirstSync();
    this.logger.info(
      { event: 'home.synced', entities: states.length, areas: areas.length, devices: devices.length, durationMs: Date.now() - startedAt },
      'Read the home from Home Assistant',
    );
  }

  /** Reads one registry; a registry the Home Assistant version does not have (floors before 2024.4) is empty. */
  private async readRegistry<Name extends RegistryName>(name: Name): Promise<Registries[Name]> {
    try {
      return await this.connection.command<Registries[Name]>({ type: REGISTRY_COMMANDS[name] });
    } catch (error) {
      if (error instanceof HomeAssistantCommandError) {
        this.logger.warn(
          { event: 'home.registry_unavailable', registry: name, code: error.code },
          'A Home Assistant registry could not be read; treating it as empty',
        );
        return [] as Registries[Name];
      }
      throw error;
    }
  }

  private applyStateChange(event: HassEvent<StateChangedData>): void {
    const change = event.data;
    if (!change || typeof change.entity_id !== 'string') return;
    this.changesDuringRead?.push(change);
    const known = this.states.get(change.entity_id);
    if (change.new_state) {
      // An event older than what a full read returned would move the state back in time.
      if (known && Date.parse(change.new_state.last_updated ?? '') < Date.parse(known.last_updated ?? '')) return;
      this.states.set(change.entity_id, change.new_state);
    } else {
      this.states.delete(change.entity_id);
    }
    if (!known !== !change.new_state) this.structure += 1;
    this.stateRevision += 1;
    this.changedAt = new Date();
    for (const listener of this.stateListeners) listener(change);
  }

  private scheduleReload(target: RegistryName | 'services' | 'config'): void {
    if (this.pendingReloads.has(target)) return;
    const timer = setTimeout(() => {
      this.pendingReloads.delete(target);
      void this.reload(target);
    }, RELOAD_DEBOUNCE_MS);
    timer.unref();
    this.pendingReloads.set(target, timer);
  }

  private async reload(target: RegistryName | 'services' | 'config'): Promise<void> {
    try {
      if (target === 'services') this.services = await this.connection.command<HassServices>({ type: 'get_services' });
      else if (target === 'config') this.config = await this.connection.command<HassConfig>({ type: 'get_config' });
      else this.registries = { ...this.registries, [target]: await this.readRegistry(target) };
      this.structure += 1;
      this.changedAt = new Date();
      this.logger.debug({ event: 'home.reloaded', target }, 'Read a changed part of the home again');
    } catch (error) {
      // The next (re)connection reads everything again.
      this.logger.warn({ event: 'home.reload_failed', target, code: isAppError(error) ? error.code : undefined }, 'Reading a changed part of the home failed');
    }
  }

  /** Stops pending reloads. */
  close(): void {
    for (const timer of this.pendingReloads.values()) clearTimeout(timer);
    this.pendingReloads.clear();
  }
}

/** Applies a state change to a snapshot unless the snapshot already has a newer state of that entity. */
function applyNewer(states: Map<string, HassState>, change: StateChangedData): void {
  const known = states.get(change.entity_id);
  if (change.new_state) {
    if (known && Date.parse(change.new_state.last_updated ?? '') < Date.parse(known.last_updated ?? '')) return;
    states.set(change.entity_id, change.new_state);
  } else if (!known || Date.parse(change.old_state?.last_updated ?? '') >= Date.parse(known.last_updated ?? '')) {
    states.delete(change.entity_id);
  }
}
