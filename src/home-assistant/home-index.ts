import type { ExposureRules } from './exposure.js';
import type { Registries } from './home-cache.js';
import { compareCodeUnits, normalizeText } from './text.js';
import { entityDomain, friendlyName, type HassArea, type HassFloor, type HassState } from './types.js';

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

  constructor(states: HassState[], registries: Registries, exposure: ExposureRules) {
    const areasById = new Map(registries.areas.map((area) => [area.area_id, area]));
    const floorsById = new Map(registries.floors.map((floor) => [floor.floor_id, floor]));
    const devicesById = new Map(registries.devices.map((device) => [device.id, device]));
    const entries = new Map(registries.entities.map((entry) => [entry.entity_id, entry]));

    const entities: IndexedEntity[] = [];
    for (const state of states) {
      const registry = entries.get(state.entity_id);
      const device = registry?.device_id ? devicesById.get(registry.device_id) : undefined;
      const areaId = optional(registry?.area_id) ?? optional(device?.area_id);
      const area = areaId ? areasById.get(areaId) : undefined;
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
}
