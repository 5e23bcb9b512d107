import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { toEpochSeconds } from './ids.js';
import type {
  AreaRegistryEntry,
  DeviceRegistryEntry,
  EntityRegistryEntry,
  FloorRegistryEntry,
  HassServiceDomain,
  HassState,
  LabelRegistryEntry,
  SimulatedHome,
} from './types.js';

/** The demo home shipped with the simulators (`src/simulators/homes/demo-home.json`). */
export const DEMO_HOME_PATH = fileURLToPath(new URL('../homes/demo-home.json', import.meta.url));

/** Version reported when a home does not say which Home Assistant it came from. */
export const DEFAULT_HA_VERSION = '2025.1.0';

const REGISTRY_TIMESTAMP_KEYS = ['created_at', 'modified_at'] as const;

/**
 * Loads a home from one of three layouts:
 * - a `.json` file in the simulator's own format (a bare `/api/states` array is accepted too);
 * - a folder with `api_states.json` and optionally `api_services.json` and `api_config.json`, as REST dumps;
 * - a folder of Home Assistant `.storage` files (`core.area_registry`, `core.device_registry`,
 *   `core.entity_registry`, `core.restore_state`, with or without a `.json` suffix), or a folder that
 *   contains such a `.storage` folder.
 *
 * Throws an Error that names the path when the layout is not recognised or a file is not valid JSON.
 */
export function loadHome(pathOrDir: string): SimulatedHome {
  const resolved = path.resolve(pathOrDir);
  if (!existsSync(resolved)) {
    throw new Error(`Home not found: ${resolved} does not exist.`);
  }

  if (!statSync(resolved).isDirectory()) {
    return parseHomeFile(readJson(resolved), resolved);
  }
  if (existsSync(path.join(resolved, 'api_states.json'))) {
    return loadRestDump(resolved);
  }
  const storageDir = existsSync(path.join(resolved, '.storage')) ? path.join(resolved, '.storage') : resolved;
  if (findStorageFile(storageDir, 'core.restore_state') || findStorageFile(storageDir, 'core.entity_registry')) {
    return loadStorageFolder(storageDir);
  }
  throw new Error(
    `Unrecognised home folder ${resolved}: expected api_states.json or Home Assistant .storage files (core.entity_registry, core.restore_state).`,
  );
}

/** Builds the `/api/config` body used when a home has none. */
export function defaultConfig(states: HassState[], version = DEFAULT_HA_VERSION): Record<string, unknown> {
  const domains = [...new Set(states.map((state) => state.entity_id.split('.')[0]!))].sort();
  return {
    allowlist_external_dirs: [],
    allowlist_external_urls: [],
    components: ['api', 'config', 'homeassistant', 'http', 'websocket_api', ...domains],
    config_dir: '/config',
    config_source: 'storage',
    country: null,
    currency: 'EUR',
    debug: false,
    elevation: 0,
    external_url: null,
    internal_url: null,
    language: 'en',
    latitude: 52.3731339,
    location_name: 'Simulated Home',
    longitude: 4.8903147,
    radius: 100,
    recovery_mode: false,
    safe_mode: false,
    state: 'RUNNING',
    time_zone: 'UTC',
    unit_system: {
      length: 'km',
      accumulated_precipitation: 'mm',
      area: 'm²',
      mass: 'g',
      pressure: 'Pa',
      temperature: '°C',
      volume: 'L',
      wind_speed: 'm/s',
    },
    version,
    whitelist_external_dirs: [],
  };
}

function parseHomeFile(parsed: unknown, source: string): SimulatedHome {
  if (Array.isArray(parsed)) {
    const states = parsed as HassState[];
    return { config: defaultConfig(states), states };
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.states)) {
    throw new Error(`Invalid home file ${source}: expected an object with a "states" array.`);
  }
  const states = parsed.states as HassState[];
  const config = isRecord(parsed.config) ? parsed.config : defaultConfig(states);
  return { ...(parsed as unknown as SimulatedHome), config, states };
}

function loadRestDump(dir: string): SimulatedHome {
  const states = readJson(path.join(dir, 'api_states.json'));
  if (!Array.isArray(states)) {
    throw new Error(`Invalid ${path.join(dir, 'api_states.json')}: expected an array of states.`);
  }

  const home: SimulatedHome = {
    states: states as HassState[],
    config: defaultConfig(states as HassState[]),
  };
  const configFile = path.join(dir, 'api_config.json');
  if (existsSync(configFile)) {
    home.config = readJson(configFile) as Record<string, unknown>;
  }
  const servicesFile = path.join(dir, 'api_services.json');
  if (existsSync(servicesFile)) {
    home.services = readJson(servicesFile) as HassServiceDomain[];
  }
  return home;
}

/**
 * Converts `.storage` files into the list shapes the WebSocket API sends: areas rename `id` to
 * `area_id`, timestamps become float epoch seconds, and entity entries keep only the list keys (done when
 * serving). States come from `core.restore_state`, so registry entries without a restored state have none.
 */
function loadStorageFolder(dir: string): SimulatedHome {
  const restored = readStorageData(dir, 'core.restore_state');
  const states = Array.isArray(restored)
    ? restored
        .filter(isRecord)
        .map((item) => item.state as HassState)
        .filter((state) => isRecord(state))
    : [];

  const areasData = readStorageData(dir, 'core.area_registry');
  const areas = recordsOf(areasData, 'areas').map((area) => {
    const { id, ...rest } = area;
    return withEpochTimestamps({ ...rest, area_id: (area.area_id ?? id) as string }) as AreaRegistryEntry;
  });

  const floors = recordsOf(readStorageData(dir, 'core.floor_registry'), 'floors').map((floor) => withEpochTimestamps(floor) as FloorRegistryEntry);
  const labels = recordsOf(readStorageData(dir, 'core.label_registry'), 'labels').map((label) => withEpochTimestamps(label) as LabelRegistryEntry);
  const devices = recordsOf(readStorageData(dir, 'core.device_registry'), 'devices').map((device) => withEpochTimestamps(device) as DeviceRegistryEntry);
  const entities = recordsOf(readStorageData(dir, 'core.entity_registry'), 'entities').map((entry) => withEpochTimestamps(entry) as EntityRegistryEntry);

  return { config: defaultConfig(states), states, floors, areas, devices, entities, labels };
}

function findStorageFile(dir: string, key: string): string | undefined {
  for (const name of [key, `${key}.json`]) {
    const file = path.join(dir, name);
    if (existsSync(file) && statSync(file).isFile()) {
      return file;
    }
  }
  return undefined;
}

function readStorageData(dir: string, key: string): unknown {
  const file = findStorageFile(dir, key);
  if (!file) {
    return undefined;
  }
  const wrapper = readJson(file);
  if (!isRecord(wrapper) || !('data' in wrapper)) {
    throw new Error(`Invalid storage file ${file}: expected {version, key, data}.`);
  }
  return wrapper.data;
}

function recordsOf(data: unknown, key: string): Record<string, unknown>[] {
  if (!isRecord(data) || !Array.isArray(data[key])) {
    return [];
  }
  return (data[key] as unknown[]).filter(isRecord);
}

function withEpochTimestamps(entry: Record<string, unknown>): Record<string, unknown> {
  const converted = { ...entry };
  for (const key of REGISTRY_TIMESTAMP_KEYS) {
    if (key in converted) {
      converted[key] = toEpochSeconds(converted[key]);
    }
  }
  return converted;
}

function readJson(file: string): unknown {
  let text = readFileSync(file, 'utf8');
  if (text.charCodeAt(0) === 0xfeff) {
    text = text.slice(1);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`Invalid JSON in ${file}: ${(error as Error).message}`);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
