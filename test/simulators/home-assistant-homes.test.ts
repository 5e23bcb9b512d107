import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createConnection, createLongLivedTokenAuth, getServices } from 'home-assistant-js-websocket';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { DEMO_HOME_PATH, loadHome, startHomeAssistantSimulator, type HassState, type SimulatedHome } from '../../src/simulators/home-assistant/index.js';
import { requireFixtures } from '../support/fixtures.js';

(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const tempDirs: string[] = [];

afterAll(() => {
  for (const dir of tempDirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

function domainsOf(home: SimulatedHome): Set<string> {
  return new Set(home.states.map((state) => state.entity_id.split('.')[0]!));
}

/** Resolves an entity's area the way Home Assistant does: its own area, else its device's area. */
function areaOf(home: SimulatedHome, entityId: string): string | null | undefined {
  const entry = home.entities?.find((item) => item.entity_id === entityId);
  if (entry?.area_id) {
    return entry.area_id;
  }
  return home.devices?.find((device) => device.id === entry?.device_id)?.area_id;
}

describe('demo home', () => {
  const home = loadHome(DEMO_HOME_PATH);

  it('contains the entities the docs rely on', () => {
    const kitchen = home.states.find((state) => state.entity_id === 'light.kitchen')!;
    expect(kitchen.attributes.friendly_name).toBe('Kitchen Light');
    expect(areaOf(home, 'light.kitchen')).toBe('kitchen');

    const frontDoor = home.states.find((state) => state.entity_id === 'lock.front_door')!;
    expect(frontDoor.attributes.friendly_name).toBe('Front Door');
    expect(frontDoor.state).toBe('locked');
    expect(areaOf(home, 'lock.front_door')).toBe('hallway');
  });

  it('spans two floors and eight areas', () => {
    expect(home.floors?.map((floor) => floor.floor_id)).toEqual(['ground_floor', 'first_floor']);
    expect(home.areas?.map((area) => area.area_id).sort()).toEqual(
      ['bathroom', 'bedroom', 'garage', 'garden', 'hallway', 'kitchen', 'living_room', 'office'].sort(),
    );
    expect(home.states.length).toBeGreaterThanOrEqual(40);
  });

  it('covers the domains an agent controls', () => {
    const domains = domainsOf(home);
    for (const domain of [
      'light',
      'switch',
      'fan',
      'climate',
      'media_player',
      'scene',
      'input_boolean',
      'sensor',
      'binary_sensor',
      'lock',
      'cover',
      'alarm_control_panel',
      'person',
      'weather',
      'sun',
      'automation',
      'script',
    ]) {
      expect(domains, domain).toContain(domain);
    }
    const garage = home.states.find((state) => state.entity_id === 'cover.garage_door')!;
    expect(garage.attributes.device_class).toBe('garage');
    const sensorClasses = new Set(home.states.filter((s) => s.entity_id.startsWith('sensor.')).map((s) => s.attributes.device_class));
    expect([...sensorClasses]).toEqual(expect.arrayContaining(['temperature', 'humidity', 'power']));
  });

  it('registers every entity with areas', () => {
    for (const state of home.states) {
      expect(
        home.entities?.some((entry) => entry.entity_id === state.entity_id),
        state.entity_id,
      ).toBe(true);
    }
    const withOwnArea = home.entities?.filter((entry) => entry.area_id && entry.device_id) ?? [];
    expect(withOwnArea.map((entry) => entry.entity_id)).toContain('light.garden_path');
    expect(areaOf(home, 'light.garden_path')).toBe('garden');
  });

  it('hides a few entities from conversation agents', () => {
    const hidden = (home.entities ?? [])
      .filter((entry) => (entry.options as { conversation?: { should_expose?: boolean } })?.conversation?.should_expose === false)
      .map((entry) => entry.entity_id);
    expect(hidden).toContain('sensor.simulator_debug_counter');
    expect(hidden.length).toBeGreaterThan(0);
    expect(hidden.length).toBeLessThan(home.states.length / 2);
  });
});

describe('fixture homes', () => {
  it('loads crow11111-core with services and config', async (ctx) => {
    const dir = requireFixtures(ctx, 'ha', 'crow11111-core');
    const home = loadHome(dir);
    expect(home.states).toHaveLength(1572);
    expect(home.services).toHaveLength(82);
    expect(home.config.version).toBe('2026.2.2');
    expect(domainsOf(home).size).toBe(39);

    const sim = await startHomeAssistantSimulator({ home });
    try {
      const response = await fetch(`${sim.url}/api/states`, { headers: { Authorization: `Bearer ${sim.token}` } });
      expect(((await response.json()) as HassState[]).length).toBe(1572);

      const connection = await createConnection({ auth: createLongLivedTokenAuth(sim.url, sim.token), setupRetry: 0 });
      const services = await getServices(connection);
      expect(Object.keys(services)).toHaveLength(82);
      expect(services.lock?.open).toBeDefined();
      connection.close();

      const light = home.states.find((state) => state.entity_id.startsWith('light.') && state.state === 'off')!;
      const turnOn = await fetch(`${sim.url}/api/services/light/turn_on`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${sim.token}` },
        body: JSON.stringify({ entity_id: light.entity_id }),
      });
      expect(turnOn.status).toBe(200);
      expect(sim.getState(light.entity_id)?.state).toBe('on');
    } finally {
      await sim.close();
    }
  });

  it('loads the compact states dumps', async (ctx) => {
    const fsniper = loadHome(requireFixtures(ctx, 'ha', 'fsniper-cyd-nightstand'));
    expect(fsniper.states).toHaveLength(131);
    expect(domainsOf(fsniper).size).toBe(25);
    expect(fsniper.config.state).toBe('RUNNING');

    const alexing = loadHome(requireFixtures(ctx, 'ha', 'alexing0805-obsidian-hub'));
    expect(alexing.states).toHaveLength(450);
    expect(domainsOf(alexing).size).toBe(29);
    expect(alexing.services).toBeUndefined();

    const sim = await startHomeAssistantSimulator({ home: alexing });
    try {
      const cover = alexing.states.find((state) => state.entity_id.startsWith('cover.') && state.state !== 'unavailable')!;
      const expected = cover.state === 'closed' ? 'open' : 'closed';
      const service = expected === 'open' ? 'open_cover' : 'close_cover';
      const response = await fetch(`${sim.url}/api/services/cover/${service}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${sim.token}` },
        body: JSON.stringify({ entity_id: cover.entity_id }),
      });
      expect(response.status).toBe(200);
      expect(sim.getState(cover.entity_id)?.state).toBe(expected);
    } finally {
      await sim.close();
    }
  });

  it('converts ha-mcp-demo-storage .storage files', async (ctx) => {
    const home = loadHome(requireFixtures(ctx, 'ha', 'ha-mcp-demo-storage'));
    expect(home.states).toHaveLength(19);
    expect(home.areas?.map((area) => area.area_id)).toEqual(['living_room', 'kitchen', 'bedroom']);
    expect(home.areas?.[0]).not.toHaveProperty('id');
    expect(typeof home.areas?.[0]?.created_at).toBe('number');
    expect(home.areas?.[0]?.created_at).toBeCloseTo(1757289428.374883, 5);
    expect(home.devices).toHaveLength(51);
    expect(home.entities).toHaveLength(76);

    const sim = await startHomeAssistantSimulator({ home });
    try {
      const connection = await createConnection({ auth: createLongLivedTokenAuth(sim.url, sim.token), setupRetry: 0 });
      const entities = await connection.sendMessagePromise<Record<string, unknown>[]>({ type: 'config/entity_registry/list' });
      expect(entities).toHaveLength(76);
      const dawn = entities.find((entry) => entry.entity_id === 'sensor.sun_next_dawn')!;
      expect(dawn.options).toEqual({ conversation: { should_expose: false } });
      expect(dawn).not.toHaveProperty('capabilities');
      expect(typeof dawn.created_at).toBe('number');

      const areas = await connection.sendMessagePromise<{ area_id: string; name: string }[]>({ type: 'config/area_registry/list' });
      expect(areas.map((area) => area.name)).toEqual(['Living Room', 'Kitchen', 'Bedroom']);
      connection.close();

      const alarm = sim.getState('alarm_control_panel.security')!;
      expect(alarm.state).toBe('disarmed');
      const disarmWithoutCode = await fetch(`${sim.url}/api/services/alarm_control_panel/alarm_arm_away`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${sim.token}` },
        body: JSON.stringify({ entity_id: 'alarm_control_panel.security' }),
      });
      expect(disarmWithoutCode.status).toBe(400);
    } finally {
      await sim.close();
    }
  });
});

describe('loadHome inputs', () => {
  function tempFile(name: string, content: unknown): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'ha-sim-home-'));
    tempDirs.push(dir);
    const file = path.join(dir, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  const state: HassState = {
    entity_id: 'switch.test_plug',
    state: 'off',
    attributes: { friendly_name: 'Test Plug' },
    last_changed: '2025-01-01T00:00:00.000000+00:00',
    last_updated: '2025-01-01T00:00:00.000000+00:00',
  };

  it('reads a bare states array', () => {
    const home = loadHome(tempFile('states.json', [state]));
    expect(home.states).toEqual([state]);
    expect(home.config.components).toContain('switch');
    expect(home.services).toBeUndefined();
  });

  it('reads a home file without config', async () => {
    const home = loadHome(tempFile('home.json', { states: [state], automations: [{ id: 'a1', alias: 'Test', triggers: [], actions: [] }] }));
    expect(home.config.location_name).toBe('Simulated Home');

    const sim = await startHomeAssistantSimulator({ home, token: 'other-token' });
    try {
      expect(sim.token).toBe('other-token');
      expect(sim.getState('automation.test')?.attributes.id).toBe('a1');
      const response = await fetch(`${sim.url}/api/services`, { headers: { Authorization: 'Bearer other-token' } });
      const domains = ((await response.json()) as { domain: string }[]).map((entry) => entry.domain);
      expect(domains).toEqual(['automation', 'homeassistant', 'persistent_notification', 'switch']);
    } finally {
      await sim.close();
    }
  });

  it('names the path of an invalid file', () => {
    const file = tempFile('broken.json', '{"states": ');
    expect(() => loadHome(file)).toThrow(file);
    expect(() => loadHome(path.dirname(file))).toThrow(/Unrecognised home folder/);
    expect(() => loadHome(path.join(path.dirname(file), 'missing.json'))).toThrow(/does not exist/);
  });
});
