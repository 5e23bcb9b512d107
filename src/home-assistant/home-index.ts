import type { ExposureRules } from './exposure.js';
import type { Registries } from './home-cache.js';
import { compareCodeUnits, normalizeText } from './text.js';
import { entityDomain, friendlyName, type HassArea, type HassDevice, type HassFloor, type HassState } from './types.js';

/** One exposed entity with everything the context, the search and the target resolution need. */
export interface IndexedEntity {
  entityId: string;
  domain: string;
  name: string;
  areaId: string | undefined;
  areaName: string | undefined;
  floorId: string | undefined;
  floorName: string | undefined;
  deviceId: string | undefined;
  deviceName: string | undefined;
  deviceClass: string | undefined;
  /** Normalized name, id words, domain, device class, area, floor, device and aliases, for the search. */
  searchText: string;
}

/** Keys that select the entities a service acts on, in a service target or in the service data. */
export const TARGET_KEYS = ['entity_id', 'device_id', 'area_id', 'floor_id', 'label_id'] as const;
export type TargetKey = (typeof TARGET_KEYS)[number];

/** Area, device, floor and label ids of a service target, which Home Assistant expands into entities. */
export interface TargetSelectors {
  areaIds?: string[];
  deviceIds?: string[];
  floorIds?: string[];
  labelIds?: string[];
}

/** The entities that a service target's selectors reach, exposed or not. */
export interface SelectedEntities {
  /** Exposed entities, ordered by entity id. */
  exposed: IndexedEntity[];
  /** Ids of entities that are not exposed to the agent, ordered. */
  unexposed: string[];
  /** Selector ids that name no area, device or floor of the home, or a label that nothing carries. */
  missing: { key: Exclude<TargetKey, 'entity_id'>; id: string }[];
}

/** An entity's area, device and labels, exposed or not, for expanding area, device, floor and label targets. */
interface Placement {
  entityId: string;
  domain: string;
  /** The entity's own area, else its device's. */
  areaId: string | undefined;
  deviceId: string | undefined;
  labels: string[];
}

function optional(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** Orders floors by level, then name; floors without a level come last. */
function compareFloors(a: HassFloor, b: HassFloor): number {
  const levelA = typeof a.level === 'number' ? a.level : Number.POSITIVE_INFINITY;
  const levelB = typeof b.level === 'number' ? b.level : Number.POSITIVE_INFINITY;
  return levelA - levelB || compareCodeUnits(a.name, b.name) || compareCodeUnits(a.floor_id, b.floor_id);
}

/**
 * An immutable view of the exposed part of the home: every exposed entity with its area, floor and
 * device resolved, in a stable order (entity id). Built again only when the home's structure changes,
 * never for a state value, so everything derived from it stays byte-identical between turns.
 */
export class HomeIndex {
  readonly entities: IndexedEntity[];
  readonly floors: HassFloor[];
  readonly areas: HassArea[];
  /** Entities in the home, exposed or not. */
  readonly totalEntities: number;
  private readonly byId: Map<string, IndexedEntity>;
  private readonly placements: Placement[];
  private readonly devices: HassDevice[];

  constructor(states: HassState[], registries: Registries, exposure: ExposureRules) {
    const areasById = new Map(registries.areas.map((area) => [area.area_id, area]));
    const floorsById = new Map(registries.floors.map((floor) => [floor.floor_id, floor]));
    const devicesById = new Map(registries.devices.map((device) => [device.id, device]));
    const entries = new Map(registries.entities.map((entry) => [entry.entity_id, entry]));

    const entities: IndexedEntity[] = [];
    const placements: Placement[] = [];
    for (const state of states) {
      const registry = entries.get(state.entity_id);
      const device = registry?.device_id ? devicesById.get(registry.device_id) : undefined;
      const areaId = optional(registry?.area_id) ?? optional(device?.area_id);
      const area = areaId ? areasById.get(areaId) : undefined;
      placements.push({
        entityId: state.entity_id,
        domain: entityDomain(state.entity_id),
        areaId,
        deviceId: optional(registry?.device_id),
        labels: registry?.labels ?? [],
      });
      if (!exposure.isExposed({ entityId: state.entity_id, registry, areaId, areaName: area?.name })) continue;

      const floor = area?.floor_id ? floorsById.get(area.floor_id) : undefined;
      const name =
        friendlyName(state) !== state.entity_id ? friendlyName(state) : (optional(registry?.name) ?? optional(registry?.original_name) ?? state.entity_id);
      const deviceName = optional(device?.name_by_user) ?? optional(device?.name);
      const domain = entityDomain(state.entity_id);
      const deviceClass = optional(state.attributes.device_class);
      const words = [
        name,
        state.entity_id.replace(/[._]/g, ' '),
        domain.replace(/_/g, ' '),
        deviceClass,
        area?.name,
        ...(area?.aliases ?? []),
        floor?.name,
        ...(floor?.aliases ?? []),
        deviceName,
      ];
      entities.push({
        entityId: state.entity_id,
        domain,
        name,
        areaId: area ? area.area_id : undefined,
        areaName: area?.name,
        floorId: floor?.floor_id,
        floorName: floor?.name,
        deviceId: optional(registry?.device_id),
        deviceName,
        deviceClass,
        searchText: normalizeText(words.filter(Boolean).join(' ')),
      });
    }

    this.entities = entities.sort((a, b) => compareCodeUnits(a.entityId, b.entityId));
    this.byId = new Map(this.entities.map((entity) => [entity.entityId, entity]));
    this.floors = [...registries.floors].sort(compareFloors);
    this.areas = [...registries.areas].sort((a, b) => compareCodeUnits(a.name, b.name) || compareCodeUnits(a.area_id, b.area_id));
    this.totalEntities = states.length;
    this.placements = placements.sort((a, b) => compareCodeUnits(a.entityId, b.entityId));
    this.devices = registries.devices;
  }

  get(entityId: string): IndexedEntity | undefined {
    return this.byId.get(entityId);
  }

  isExposed(entityId: string): boolean {
    return this.byId.has(entityId);
  }

  /** Finds an area by id, name or alias, ignoring case and accents. */
  findArea(reference: string): HassArea | undefined {
    const wanted = normalizeText(reference);
    return (
      this.areas.find((area) => area.area_id === reference) ??
      this.areas.find((area) => normalizeText(area.name) === wanted || (area.aliases ?? []).some((alias) => normalizeText(alias) === wanted))
    );
  }

  /** Finds a floor by id, name or alias, ignoring case and accents. */
  findFloor(reference: string): HassFloor | undefined {
    const wanted = normalizeText(reference);
    return (
      this.floors.find((floor) => floor.floor_id === reference) ??
      this.floors.find((floor) => normalizeText(floor.name) === wanted || (floor.aliases ?? []).some((alias) => normalizeText(alias) === wanted))
    );
  }

  inArea(areaId: string): IndexedEntity[] {
    return this.entities.filter((entity) => entity.areaId === areaId);
  }

  onFloor(floorId: string): IndexedEntity[] {
    return this.entities.filter((entity) => entity.floorId === floorId);
  }

  ofDevice(deviceId: string): IndexedEntity[] {
    return this.entities.filter((entity) => entity.deviceId === deviceId);
  }

  /**
   * Expands area, device, floor and label ids into the entities of the accepted domains that Home
   * Assistant acts on, exposed or not, following `async_extract_referenced_entity_ids` in Home
   * Assistant's homeassistant/helpers/target.py. An area reaches the entities whose own area it is, and
   * the entities without an own area on its devices. A device reaches its entities and those of the
   * devices connected through it. A floor reaches its areas, and a label reaches the entities, devices
   * and areas that carry it. Ids must match exactly, because Home Assistant does not look up names.
   *
   * Home Assistant leaves hidden, config and diagnostic entities out of most of these expansions, but
   * not all of them, and integrations that resolve targets themselves may include them, so they count
   * here too.
   */
  selectTargets(selectors: TargetSelectors, accepts: (domain: string) => boolean): SelectedEntities {
    const missing: SelectedEntities['missing'] = [];
    const areaIds = new Set<string>();
    const deviceIds = new Set<string>();
    const labelIds = new Set<string>();

    for (const areaId of selectors.areaIds ?? []) {
      if (this.areas.some((area) => area.area_id === areaId)) areaIds.add(areaId);
      else missing.push({ key: 'area_id', id: areaId });
    }
    for (const floorId of selectors.floorIds ?? []) {
      if (!this.floors.some((floor) => floor.floor_id === floorId)) missing.push({ key: 'floor_id', id: floorId });
      for (const area of this.areas.filter((candidate) => candidate.floor_id === floorId)) areaIds.add(area.area_id);
    }
    for (const deviceId of selectors.deviceIds ?? []) {
      if (this.devices.some((device) => device.id === deviceId)) deviceIds.add(deviceId);
      else missing.push({ key: 'device_id', id: deviceId });
    }
    // The label registry is not read, so a label is known only through what carries it.
    for (const labelId of selectors.labelIds ?? []) {
      const areas = this.areas.filter((area) => area.labels?.includes(labelId));
      const devices = this.devices.filter((device) => device.labels?.includes(labelId));
      const carried = areas.length > 0 || devices.length > 0 || this.placements.some((placement) => placement.labels.includes(labelId));
      if (!carried) missing.push({ key: 'label_id', id: labelId });
      for (const area of areas) areaIds.add(area.area_id);
      for (const device of devices) deviceIds.add(device.id);
      labelIds.add(labelId);
    }
    if (areaIds.size === 0 && deviceIds.size === 0 && labelIds.size === 0) return { exposed: [], unexposed: [], missing };
    this.addConnectedDevices(deviceIds);

    const exposed: IndexedEntity[] = [];
    const unexposed: string[] = [];
    for (const placement of this.placements) {
      if (!accepts(placement.domain)) continue;
      const reached =
        (placement.areaId !== undefined && areaIds.has(placement.areaId)) ||
        (placement.deviceId !== undefined && deviceIds.has(placement.deviceId)) ||
        placement.labels.some((label) => labelIds.has(label));
      if (!reached) continue;
      const entity = this.byId.get(placement.entityId);
      if (entity) exposed.push(entity);
      else unexposed.push(placement.entityId);
    }
    return { exposed, unexposed, missing };
  }

  /** Adds the devices connected through the given ones, at any depth. */
  private addConnectedDevices(deviceIds: Set<string>): void {
    for (let added = true; added; ) {
      added = false;
      for (const device of this.devices) {
        if (device.via_device_id && deviceIds.has(device.via_device_id) && !deviceIds.has(device.id)) {
          deviceIds.add(device.id);
          added = true;
        }
      }
    }
  }
}
