import { stableHexId } from './ids.js';
import type { AreaRegistryEntry, DeviceRegistryEntry, EntityRegistryEntry, FloorRegistryEntry, LabelRegistryEntry, SimulatedHome } from './types.js';

/** 2025-01-01T00:00:00Z, used for registry timestamps a home file leaves out so replies stay deterministic. */
const DEFAULT_REGISTRY_TIMESTAMP = 1_735_689_600;

/** Keys of one `config/entity_registry/list` element; `.storage` entries carry more, which the list drops. */
const ENTITY_LIST_KEYS = [
  'area_id',
  'categories',
  'config_entry_id',
  'config_subentry_id',
  'created_at',
  'device_id',
  'disabled_by',
  'entity_category',
  'entity_id',
  'has_entity_name',
  'hidden_by',
  'icon',
  'id',
  'labels',
  'modified_at',
  'name',
  'options',
  'original_name',
  'platform',
  'translation_key',
  'unique_id',
] as const;

export function toFloorListEntry(floor: FloorRegistryEntry): Record<string, unknown> {
  return {
    aliases: [],
    icon: null,
    level: null,
    created_at: DEFAULT_REGISTRY_TIMESTAMP,
    modified_at: DEFAULT_REGISTRY_TIMESTAMP,
    ...floor,
  };
}

export function toAreaListEntry(area: AreaRegistryEntry): Record<string, unknown> {
  return {
    aliases: [],
    floor_id: null,
    humidity_entity_id: null,
    icon: null,
    labels: [],
    picture: null,
    temperature_entity_id: null,
    created_at: DEFAULT_REGISTRY_TIMESTAMP,
    modified_at: DEFAULT_REGISTRY_TIMESTAMP,
    ...area,
  };
}

export function toDeviceListEntry(device: DeviceRegistryEntry): Record<string, unknown> {
  return {
    area_id: null,
    configuration_url: null,
    config_entries: [],
    config_entries_subentries: {},
    connections: [],
    created_at: DEFAULT_REGISTRY_TIMESTAMP,
    disabled_by: null,
    entry_type: null,
    hw_version: null,
    identifiers: [['simulator', device.id]],
    labels: [],
    manufacturer: null,
    model: null,
    model_id: null,
    modified_at: DEFAULT_REGISTRY_TIMESTAMP,
    name_by_user: null,
    primary_config_entry: null,
    serial_number: null,
    sw_version: null,
    via_device_id: null,
    ...device,
  };
}

export function toEntityListEntry(entry: EntityRegistryEntry): Record<string, unknown> {
  const filled: Record<string, unknown> = {
    area_id: null,
    categories: {},
    config_entry_id: null,
    config_subentry_id: null,
    created_at: DEFAULT_REGISTRY_TIMESTAMP,
    device_id: null,
    disabled_by: null,
    entity_category: null,
    has_entity_name: false,
    hidden_by: null,
    icon: null,
    id: stableHexId(`entity:${entry.entity_id}`),
    labels: [],
    modified_at: DEFAULT_REGISTRY_TIMESTAMP,
    name: null,
    options: {},
    original_name: null,
    platform: 'simulator',
    translation_key: null,
    unique_id: entry.entity_id,
    ...entry,
  };
  const listed: Record<string, unknown> = {};
  for (const key of ENTITY_LIST_KEYS) {
    listed[key] = filled[key];
  }
  return listed;
}

export function toLabelListEntry(label: LabelRegistryEntry): Record<string, unknown> {
  return {
    color: null,
    description: null,
    icon: null,
    created_at: DEFAULT_REGISTRY_TIMESTAMP,
    modified_at: DEFAULT_REGISTRY_TIMESTAMP,
    ...label,
  };
}

/**
 * Looks up areas, devices and floors of a home. An entity's effective area is its own `area_id`, or else
 * its device's `area_id`, which is how Home Assistant resolves area targets.
 */
export class RegistryIndex {
  constructor(private readonly home: SimulatedHome) {}

  entityEntry(entityId: string): EntityRegistryEntry | undefined {
    return this.home.entities?.find((entry) => entry.entity_id === entityId);
  }

  device(deviceId: string): DeviceRegistryEntry | undefined {
    return this.home.devices?.find((device) => device.id === deviceId);
  }

  effectiveAreaId(entityId: string): string | null {
    const entry = this.entityEntry(entityId);
    if (!entry) {
      return null;
    }
    if (entry.area_id) {
      return entry.area_id;
    }
    const device = entry.device_id ? this.device(entry.device_id) : undefined;
    return device?.area_id ?? null;
  }

  entityIdsInArea(areaId: string, candidates: Iterable<string>): string[] {
    return [...candidates].filter((entityId) => this.effectiveAreaId(entityId) === areaId);
  }

  entityIdsOfDevice(deviceId: string, candidates: Iterable<string>): string[] {
    return [...candidates].filter((entityId) => this.entityEntry(entityId)?.device_id === deviceId);
  }

  entityIdsOnFloor(floorId: string, candidates: Iterable<string>): string[] {
    const areaIds = new Set((this.home.areas ?? []).filter((area) => area.floor_id === floorId).map((area) => area.area_id));
    return [...candidates].filter((entityId) => {
      const areaId = this.effectiveAreaId(entityId);
      return areaId !== null && areaIds.has(areaId);
    });
  }

  entityIdsWithLabel(labelId: string, candidates: Iterable<string>): string[] {
    return [...candidates].filter((entityId) => {
      const labels = this.entityEntry(entityId)?.labels;
      return Array.isArray(labels) && labels.includes(labelId);
    });
  }
}
