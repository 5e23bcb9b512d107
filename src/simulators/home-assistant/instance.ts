import { AutomationStore } from './automations.js';
import type { HomeAssistantFaults } from './faults.js';
import { newContext } from './ids.js';
import { RegistryIndex, toAreaListEntry, toDeviceListEntry, toEntityListEntry, toFloorListEntry, toLabelListEntry } from './registries.js';
import { generateServices } from './service-catalog.js';
import { ServiceCaller } from './service-caller.js';
import { EventBus, StateMachine } from './state-machine.js';
import type {
  AreaRegistryEntry,
  DeviceRegistryEntry,
  EntityRegistryEntry,
  FloorRegistryEntry,
  HassServiceDescription,
  HassServiceDomain,
  HassState,
  RecordedServiceCall,
  SimulatedHome,
} from './types.js';

type RegistryAction = 'create' | 'update' | 'remove';

/**
 * The whole state of a simulated Home Assistant, shared by the REST and WebSocket front ends: states and
 * their history, the event bus, registries, automation configs and the service caller.
 */
export class HomeAssistantInstance {
  readonly bus = new EventBus();
  readonly states: StateMachine;
  readonly registry: RegistryIndex;
  readonly automations: AutomationStore;
  readonly caller: ServiceCaller;
  readonly serviceCalls: RecordedServiceCall[] = [];
  readonly services: HassServiceDomain[];
  readonly config: Record<string, unknown>;
  private readonly home: Required<Pick<SimulatedHome, 'floors' | 'areas' | 'devices' | 'entities' | 'labels'>>;

  constructor(
    home: SimulatedHome,
    readonly haVersion: string,
    readonly token: string,
    readonly faults: HomeAssistantFaults,
  ) {
    const copy = structuredClone(home);
    this.home = {
      floors: copy.floors ?? [],
      areas: copy.areas ?? [],
      devices: copy.devices ?? [],
      entities: copy.entities ?? [],
      labels: copy.labels ?? [],
    };
    this.config = { ...copy.config, version: haVersion };
    this.states = new StateMachine(copy.states, this.bus);
    this.services = copy.services ?? generateServices(copy.states);
    this.registry = new RegistryIndex({ config: this.config, states: [], ...this.home });
    this.automations = new AutomationStore(this.states, this.bus, this.home.entities, copy.automations ?? []);
    this.caller = new ServiceCaller({
      states: this.states,
      bus: this.bus,
      registry: this.registry,
      services: () => this.services,
      consumeInjectedFailure: () => faults.consumeServiceCallFailure(),
      record: (call) => this.serviceCalls.push(call),
    });
  }

  /** Returns the services in the WebSocket `get_services` form: a dict keyed by domain, then by service. */
  servicesByDomain(): Record<string, Record<string, HassServiceDescription>> {
    return Object.fromEntries(this.services.map((entry) => [entry.domain, entry.services]));
  }

  floorList(): Record<string, unknown>[] {
    return this.home.floors.map(toFloorListEntry);
  }

  areaList(): Record<string, unknown>[] {
    return this.home.areas.map(toAreaListEntry);
  }

  deviceList(): Record<string, unknown>[] {
    return this.home.devices.map(toDeviceListEntry);
  }

  entityList(): Record<string, unknown>[] {
    return this.home.entities.map(toEntityListEntry);
  }

  labelList(): Record<string, unknown>[] {
    return this.home.labels.map(toLabelListEntry);
  }

  /** Writes a state as a device would: unspecified attributes keep their values. */
  setDeviceState(entityId: string, state: string, attributes?: Record<string, unknown>): HassState {
    const current = this.states.get(entityId);
    const merged = { ...(current?.attributes ?? {}), ...(attributes ?? {}) };
    return this.states.set(entityId, state, merged, newContext()).state;
  }

  upsertFloor(floor: FloorRegistryEntry): void {
    const action = upsert(this.home.floors, floor, (entry) => entry.floor_id === floor.floor_id);
    this.bus.fire('floor_registry_updated', { action, floor_id: floor.floor_id });
  }

  upsertArea(area: AreaRegistryEntry): void {
    const action = upsert(this.home.areas, area, (entry) => entry.area_id === area.area_id);
    this.bus.fire('area_registry_updated', { action, area_id: area.area_id });
  }

  removeArea(areaId: string): boolean {
    const index = this.home.areas.findIndex((entry) => entry.area_id === areaId);
    if (index === -1) {
      return false;
    }
    this.home.areas.splice(index, 1);
    // Home Assistant clears the area of devices and entities that were in a removed area.
    for (const device of this.home.devices.filter((entry) => entry.area_id === areaId)) {
      this.upsertDevice({ ...device, area_id: null });
    }
    for (const entity of this.home.entities.filter((entry) => entry.area_id === areaId)) {
      this.upsertEntityEntry({ ...entity, area_id: null });
    }
    this.bus.fire('area_registry_updated', { action: 'remove', area_id: areaId });
    return true;
  }

  upsertDevice(device: DeviceRegistryEntry): void {
    const previous = this.home.devices.find((entry) => entry.id === device.id);
    const action = upsert(this.home.devices, device, (entry) => entry.id === device.id);
    const data: Record<string, unknown> = { action, device_id: device.id };
    if (previous) {
      data.changes = changedKeys(toDeviceListEntry(previous), toDeviceListEntry(device));
    }
    this.bus.fire('device_registry_updated', data);
  }

  upsertEntityEntry(entry: EntityRegistryEntry): void {
    const previous = this.home.entities.find((item) => item.entity_id === entry.entity_id);
    const action = upsert(this.home.entities, entry, (item) => item.entity_id === entry.entity_id);
    const data: Record<string, unknown> = { action, entity_id: entry.entity_id };
    if (previous) {
      data.changes = changedKeys(toEntityListEntry(previous), toEntityListEntry(entry));
    }
    this.bus.fire('entity_registry_updated', data);
  }
}

/** Replaces the matching entry or appends a new one; returns the registry action to announce. */
function upsert<T>(list: T[], entry: T, matches: (item: T) => boolean): RegistryAction {
  const index = list.findIndex(matches);
  if (index === -1) {
    list.push(structuredClone(entry));
    return 'create';
  }
  list[index] = structuredClone(entry);
  return 'update';
}

/** Collects the old values of keys that differ, which registry update events carry in `changes`. */
function changedKeys(previous: Record<string, unknown>, next: Record<string, unknown>): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(previous), ...Object.keys(next)])) {
    if (JSON.stringify(previous[key]) !== JSON.stringify(next[key])) {
      changes[key] = previous[key] ?? null;
    }
  }
  return changes;
}
