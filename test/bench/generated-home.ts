import type { SimulatedHome } from '../../src/simulators/home-assistant/index.js';

/** Domains and counts shaped like a large real home (1,572 entities in all). */
const DOMAINS: [string, number][] = [
  ['sensor', 301],
  ['switch', 254],
  ['light', 193],
  ['automation', 137],
  ['binary_sensor', 120],
  ['scene', 90],
  ['script', 79],
  ['media_player', 45],
  ['number', 60],
  ['select', 50],
  ['button', 70],
  ['input_boolean', 40],
  ['update', 50],
  ['climate', 6],
  ['cover', 20],
  ['fan', 12],
  ['lock', 3],
  ['person', 3],
  ['device_tracker', 20],
  ['camera', 8],
  ['weather', 1],
  ['sun', 1],
  ['zone', 3],
  ['input_number', 6],
];

const AREAS = [
  'Kitchen',
  'Living Room',
  'Dining Room',
  'Hallway',
  'Office',
  'Bedroom',
  'Guest Room',
  'Bathroom',
  'Garage',
  'Garden',
  'Basement',
  'Attic',
  'Laundry',
  'Nursery',
  'Studio',
  'Workshop',
  'Porch',
  'Terrace',
  'Pantry',
  'Cellar',
];

const STATE_BY_DOMAIN: Record<string, string> = {
  light: 'off',
  switch: 'on',
  binary_sensor: 'off',
  lock: 'locked',
  cover: 'closed',
  climate: 'heat',
  media_player: 'idle',
  person: 'home',
  sun: 'above_horizon',
};

/**
 * Builds a home of the same size and domain mix as the largest fixture home, for measuring the home
 * context when the shared fixtures are not there.
 */
export function generateHome(): SimulatedHome {
  const floors = ['ground', 'first', 'second'].map((floor, level) => ({ floor_id: floor, name: `${floor[0]?.toUpperCase()}${floor.slice(1)} Floor`, level }));
  const areas = AREAS.map((name, index) => ({
    area_id: name.toLowerCase().replace(/ /g, '_'),
    name,
    floor_id: floors[index % floors.length]?.floor_id ?? null,
  }));
  const states: SimulatedHome['states'] = [];
  const devices: NonNullable<SimulatedHome['devices']> = [];
  const entities: NonNullable<SimulatedHome['entities']> = [];
  const now = '2026-12-04T12:00:00.000000+00:00';

  for (const [domain, count] of DOMAINS) {
    for (let index = 0; index < count; index += 1) {
      const area = areas[(index * 7 + domain.length) % areas.length];
      const name = `${area?.name} ${domain.replace(/_/g, ' ')} ${index + 1}`;
      const entityId = `${domain}.${name.toLowerCase().replace(/[^a-z0-9]+/g, '_')}`;
      const deviceId = `device_${domain}_${index}`;
      const attributes: Record<string, unknown> = { friendly_name: name };
      if (domain === 'sensor') Object.assign(attributes, { device_class: index % 2 ? 'temperature' : 'power', unit_of_measurement: index % 2 ? '°C' : 'W' });
      states.push({
        entity_id: entityId,
        state: STATE_BY_DOMAIN[domain] ?? (domain === 'sensor' ? String(20 + (index % 7)) : 'on'),
        attributes,
        last_changed: now,
        last_updated: now,
        last_reported: now,
        context: { id: `ctx${states.length}`, parent_id: null, user_id: null },
      });
      devices.push({ id: deviceId, name, area_id: area?.area_id ?? null, manufacturer: 'Benchmark', model: domain });
      entities.push({ entity_id: entityId, id: `entity_${states.length}`, device_id: deviceId, platform: 'benchmark', options: {} });
    }
  }

  return {
    config: { location_name: 'Generated Home', version: '2026.2.2', time_zone: 'Europe/Amsterdam', unit_system: { temperature: '°C' } },
    states,
    floors,
    areas,
    devices,
    entities,
  };
}
