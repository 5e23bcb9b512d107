import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  DEMO_HOME_PATH,
  loadHome,
  startHomeAssistantSimulator,
  type HassState,
  type HomeAssistantSimulator,
} from '../../src/simulators/home-assistant/index.js';

let sim: HomeAssistantSimulator;

beforeEach(async () => {
  sim = await startHomeAssistantSimulator({ home: loadHome(DEMO_HOME_PATH) });
});

afterEach(async () => {
  await sim.close();
});

function api(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const { token = sim.token, ...rest } = init;
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token !== null) {
    headers.Authorization = `Bearer ${token}`;
  }
  return fetch(`${sim.url}${path}`, { ...rest, headers: { ...headers, ...(rest.headers as Record<string, string>) } });
}

function callService(domain: string, service: string, body: unknown, query = ''): Promise<Response> {
  return api(`/api/services/${domain}/${service}${query}`, { method: 'POST', body: JSON.stringify(body) });
}

describe('REST auth', () => {
  it('rejects a missing token with 401', async () => {
    const response = await api('/api/states', { token: null });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ message: 'Unauthorized' });
  });

  it('rejects a wrong token with 401', async () => {
    const response = await api('/api/', { token: 'not-the-token' });
    expect(response.status).toBe(401);
  });

  it('answers the status endpoint with the right token', async () => {
    const response = await api('/api/');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ message: 'API running.' });
  });
});

describe('REST reads', () => {
  it('lists every state in the REST shape', async () => {
    const states = (await (await api('/api/states')).json()) as HassState[];
    expect(states.length).toBe(sim.states().length);
    expect(states.length).toBeGreaterThanOrEqual(40);
    for (const state of states) {
      expect(typeof state.entity_id).toBe('string');
      expect(typeof state.state).toBe('string');
      expect(typeof state.attributes).toBe('object');
      expect(state.last_changed).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    }
  });

  it('returns one state and 404 for an unknown entity', async () => {
    const response = await api('/api/states/lock.front_door');
    expect(response.status).toBe(200);
    const state = (await response.json()) as HassState;
    expect(state.state).toBe('locked');
    expect(state.attributes.friendly_name).toBe('Front Door');

    const missing = await api('/api/states/lock.back_door');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: 'Entity not found.' });
  });

  it('returns the config with the reported version', async () => {
    const config = (await (await api('/api/config')).json()) as Record<string, unknown>;
    expect(config.version).toBe(sim.haVersion);
    expect(config.location_name).toBe('Demo Home (simulated)');
    expect(config.state).toBe('RUNNING');
  });

  it('lists services as an array of domains', async () => {
    const services = (await (await api('/api/services')).json()) as { domain: string; services: Record<string, unknown> }[];
    expect(Array.isArray(services)).toBe(true);
    const light = services.find((entry) => entry.domain === 'light');
    expect(Object.keys(light?.services ?? {}).sort()).toEqual(['toggle', 'turn_off', 'turn_on']);
    const script = services.find((entry) => entry.domain === 'script');
    expect(script?.services).toHaveProperty('good_night');
    expect(services.map((entry) => entry.domain)).toContain('homeassistant');
  });
});

describe('REST service calls', () => {
  it('turns on a light and returns the changed state', async () => {
    const response = await callService('light', 'turn_on', { entity_id: 'light.bedroom', brightness_pct: 50 });
    expect(response.status).toBe(200);
    const changed = (await response.json()) as HassState[];
    expect(changed).toHaveLength(1);
    expect(changed[0]!.entity_id).toBe('light.bedroom');
    expect(changed[0]!.state).toBe('on');
    expect(changed[0]!.attributes.brightness).toBe(128);
    expect(changed[0]!.attributes.color_mode).toBe('color_temp');

    expect(sim.getState('light.bedroom')?.state).toBe('on');
    const call = sim.serviceCalls.at(-1)!;
    expect(call.transport).toBe('rest');
    expect(call.domain).toBe('light');
    expect(call.service).toBe('turn_on');
    expect(call.data).toEqual({ brightness_pct: 50 });
    expect(call.target).toEqual({ entity_id: 'light.bedroom' });
    expect(call.changedEntityIds).toEqual(['light.bedroom']);
  });

  it('moves last_changed only when the state changes', async () => {
    const before = sim.getState('light.kitchen')!;
    const [dimmed] = (await (await callService('light', 'turn_on', { entity_id: 'light.kitchen', brightness: 40 })).json()) as HassState[];
    expect(dimmed!.last_changed).toBe(before.last_changed);
    expect(dimmed!.last_updated).not.toBe(before.last_updated);

    const repeated = (await (await callService('light', 'turn_on', { entity_id: 'light.kitchen', brightness: 40 })).json()) as HassState[];
    expect(repeated).toEqual([]);
  });

  it('claims success for an unknown entity and changes nothing', async () => {
    const before = sim.states();
    const response = await callService('light', 'turn_on', { entity_id: 'light.does_not_exist' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([]);
    expect(sim.states()).toEqual(before);
  });

  it('rejects an unknown service or domain with 400', async () => {
    const unknownService = await callService('light', 'fly', { entity_id: 'light.kitchen' });
    expect(unknownService.status).toBe(400);
    expect(((await unknownService.json()) as { message: string }).message).toBe('Service light.fly not found.');

    const unknownDomain = await callService('teleporter', 'turn_on', {});
    expect(unknownDomain.status).toBe(400);
    expect(sim.serviceCalls.at(-1)?.error?.code).toBe('not_found');
  });

  it('rejects an oversized body with 413', async () => {
    const response = await api('/api/services/light/turn_on', { method: 'POST', body: `"${'x'.repeat(1_100_000)}"` });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { message: string }).message).toContain('1048576');
    expect((await api('/api/')).status).toBe(200);
  });

  it('rejects invalid service data with 400', async () => {
    const outOfRange = await callService('light', 'turn_on', { entity_id: 'light.kitchen', brightness: 300 });
    expect(outOfRange.status).toBe(400);
    expect(((await outOfRange.json()) as { message: string }).message).toContain('brightness');

    const extraKey = await callService('switch', 'turn_on', { entity_id: 'switch.coffee_machine', brightness: 3 });
    expect(extraKey.status).toBe(400);

    const badEntityId = await callService('light', 'turn_on', { entity_id: 'Kitchen Light' });
    expect(badEntityId.status).toBe(400);
    expect(sim.getState('light.kitchen')?.attributes.brightness).toBe(180);
  });

  it('targets every light in an area through devices', async () => {
    const changed = (await (await callService('light', 'turn_off', { area_id: 'kitchen' })).json()) as HassState[];
    expect(changed.map((state) => state.entity_id)).toEqual(['light.kitchen']);
    expect(sim.getState('light.kitchen')?.state).toBe('off');
    expect(sim.getState('switch.coffee_machine')?.state).toBe('off');
  });

  it('resolves an entity area that overrides its device area', async () => {
    const changed = (await (await callService('light', 'turn_on', { area_id: 'garden' })).json()) as HassState[];
    expect(changed.map((state) => state.entity_id)).toEqual(['light.garden_path', 'light.porch']);
    const inGarage = (await (await callService('light', 'turn_on', { area_id: 'garage' })).json()) as HassState[];
    expect(inGarage.map((state) => state.entity_id)).toEqual(['light.garage']);
  });

  it('switches domains generically through homeassistant services', async () => {
    const response = await callService('homeassistant', 'turn_off', {
      entity_id: ['switch.office_monitor', 'light.office_desk_lamp', 'cover.living_room_blinds', 'lock.front_door'],
    });
    const changed = (await response.json()) as HassState[];
    expect(Object.fromEntries(changed.map((state) => [state.entity_id, state.state]))).toEqual({
      'switch.office_monitor': 'off',
      'light.office_desk_lamp': 'off',
      'cover.living_room_blinds': 'closed',
    });
    expect(sim.getState('lock.front_door')?.state).toBe('locked');
  });

  const behaviourCases: [string, string, string, Record<string, unknown>, string, Record<string, unknown>][] = [
    ['lock', 'unlock', 'lock.front_door', {}, 'unlocked', {}],
    ['lock', 'open', 'lock.front_door', {}, 'open', {}],
    ['cover', 'open_cover', 'cover.garage_door', {}, 'open', { current_position: 100 }],
    ['cover', 'set_cover_position', 'cover.living_room_blinds', { position: 30 }, 'open', { current_position: 30 }],
    ['cover', 'close_cover', 'cover.living_room_blinds', {}, 'closed', { current_position: 0 }],
    ['climate', 'set_temperature', 'climate.living_room', { temperature: 22.5 }, 'heat', { temperature: 22.5, hvac_action: 'heating' }],
    ['climate', 'set_hvac_mode', 'climate.living_room', { hvac_mode: 'off' }, 'off', { hvac_action: 'off' }],
    ['climate', 'turn_off', 'climate.bedroom', {}, 'off', {}],
    ['media_player', 'turn_on', 'media_player.living_room_tv', {}, 'on', {}],
    ['media_player', 'media_play', 'media_player.living_room_speaker', {}, 'playing', {}],
    ['media_player', 'volume_set', 'media_player.living_room_speaker', { volume_level: 0.7 }, 'paused', { volume_level: 0.7 }],
    ['media_player', 'volume_mute', 'media_player.living_room_speaker', { is_volume_muted: true }, 'paused', { is_volume_muted: true }],
    ['alarm_control_panel', 'alarm_arm_away', 'alarm_control_panel.home_alarm', {}, 'armed_away', {}],
    ['fan', 'turn_on', 'fan.living_room_ceiling_fan', { percentage: 66 }, 'on', { percentage: 66 }],
    ['input_boolean', 'toggle', 'input_boolean.guest_mode', {}, 'on', {}],
    ['input_select', 'select_option', 'input_select.house_mode', { option: 'Night' }, 'Night', {}],
    ['input_number', 'set_value', 'input_number.hot_water_target', { value: 60 }, '60.0', {}],
    ['automation', 'turn_off', 'automation.hallway_motion_light', {}, 'off', {}],
    ['light', 'turn_on', 'light.bedside_lamp', { rgb_color: [255, 80, 0] }, 'on', { rgb_color: [255, 80, 0], color_mode: 'rgb' }],
  ];

  it.each(behaviourCases)('applies %s.%s to %s', async (domain, service, entityId, data, state, attributes) => {
    const response = await callService(domain, service, { entity_id: entityId, ...data });
    expect(response.status).toBe(200);
    const current = sim.getState(entityId)!;
    expect(current.state).toBe(state);
    expect(current.attributes).toMatchObject(attributes);
  });

  it('sets a scene to its activation time', async () => {
    const before = Date.now();
    await callService('scene', 'turn_on', { entity_id: 'scene.movie_night' });
    const activated = Date.parse(sim.getState('scene.movie_night')!.state);
    expect(activated).toBeGreaterThanOrEqual(before - 1);
  });

  it('rejects an HVAC mode the device lacks', async () => {
    const response = await callService('climate', 'set_hvac_mode', { entity_id: 'climate.bedroom', hvac_mode: 'cool' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain('off, heat');
    expect(sim.getState('climate.bedroom')?.state).toBe('heat');
  });

  it('restores brightness when a light is turned back on', async () => {
    await callService('light', 'turn_off', { entity_id: 'light.kitchen' });
    expect(sim.getState('light.kitchen')?.attributes.brightness).toBeNull();
    await callService('light', 'turn_on', { entity_id: 'light.kitchen' });
    expect(sim.getState('light.kitchen')?.attributes.brightness).toBe(180);
  });

  it('returns a service response only when asked', async () => {
    const withoutFlag = await callService('weather', 'get_forecasts', { entity_id: 'weather.home', type: 'daily' });
    expect(withoutFlag.status).toBe(400);

    const response = await callService('weather', 'get_forecasts', { entity_id: 'weather.home', type: 'daily' }, '?return_response');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { changed_states: unknown[]; service_response: Record<string, { forecast: unknown[] }> };
    expect(body.changed_states).toEqual([]);
    expect(body.service_response['weather.home']?.forecast).toHaveLength(5);
  });
});

describe('REST history', () => {
  it('returns the initial state and every change per entity', async () => {
    const start = new Date(Date.now() - 60_000).toISOString();
    await callService('light', 'turn_on', { entity_id: 'light.hallway' });
    await callService('light', 'turn_off', { entity_id: 'light.hallway' });
    sim.setState('sensor.outdoor_temperature', '15.1');

    const response = await api(`/api/history/period/${encodeURIComponent(start)}?filter_entity_id=light.hallway,sensor.outdoor_temperature,light.unknown`);
    expect(response.status).toBe(200);
    const history = (await response.json()) as HassState[][];
    expect(history).toHaveLength(2);
    expect(history[0]!.map((state) => state.state)).toEqual(['off', 'on', 'off']);
    expect(history[0]![0]!.last_changed).toBe(`${start.slice(0, -1)}000+00:00`);
    expect(history[1]!.map((state) => state.state)).toEqual(['14.2', '15.1']);
  });

  it('trims the middle rows of a minimal response', async () => {
    const start = new Date(Date.now() - 60_000).toISOString();
    for (const service of ['turn_on', 'turn_off', 'turn_on']) {
      await callService('switch', service, { entity_id: 'switch.coffee_machine' });
    }
    const response = await api(`/api/history/period/${start}?filter_entity_id=switch.coffee_machine&minimal_response&no_attributes`);
    const [rows] = (await response.json()) as Record<string, unknown>[][];
    expect(rows).toHaveLength(4);
    expect(Object.keys(rows![1]!).sort()).toEqual(['last_changed', 'state']);
    expect(rows![3]!.attributes).toEqual({});
    expect(rows![3]!.entity_id).toBe('switch.coffee_machine');
  });

  it('requires filter_entity_id', async () => {
    const response = await api('/api/history/period');
    expect(response.status).toBe(400);
  });
});

describe('REST automation config', () => {
  const config = {
    alias: 'Garden Lights At Sunset',
    description: 'Turns the garden path on when the sun sets.',
    triggers: [{ trigger: 'sun', event: 'sunset' }],
    conditions: [],
    actions: [{ action: 'light.turn_on', target: { entity_id: 'light.garden_path' } }],
    mode: 'single',
  };

  function saveAutomation(id: string, body: unknown): Promise<Response> {
    return api(`/api/config/automation/config/${id}`, { method: 'POST', body: JSON.stringify(body) });
  }

  it('creates, reads, overwrites and deletes an automation', async () => {
    expect((await api('/api/config/automation/config/9001')).status).toBe(404);

    const created = await saveAutomation('9001', config);
    expect(created.status).toBe(200);
    expect(await created.json()).toEqual({ result: 'ok' });
    const entity = sim.getState('automation.garden_lights_at_sunset')!;
    expect(entity.state).toBe('on');
    expect(entity.attributes.id).toBe('9001');
    expect(entity.attributes.friendly_name).toBe('Garden Lights At Sunset');

    const read = (await (await api('/api/config/automation/config/9001')).json()) as Record<string, unknown>;
    expect(read).toEqual({ ...config, id: '9001' });

    await saveAutomation('9001', { ...config, alias: 'Garden Lights At Dusk', mode: 'restart' });
    const overwritten = (await (await api('/api/config/automation/config/9001')).json()) as Record<string, unknown>;
    expect(overwritten.alias).toBe('Garden Lights At Dusk');
    expect(overwritten.mode).toBe('restart');
    const renamed = sim.getState('automation.garden_lights_at_sunset')!;
    expect(renamed.attributes.friendly_name).toBe('Garden Lights At Dusk');
    expect(renamed.attributes.mode).toBe('restart');

    const deleted = await api('/api/config/automation/config/9001', { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(sim.getState('automation.garden_lights_at_sunset')).toBeUndefined();
    expect((await api('/api/config/automation/config/9001')).status).toBe(404);
    expect((await api('/api/config/automation/config/9001', { method: 'DELETE' })).status).toBe(404);
  });

  it('suffixes the entity id when another automation owns it', async () => {
    await saveAutomation('9001', config);
    await saveAutomation('9002', config);
    await saveAutomation('9003', config);
    expect(sim.getState('automation.garden_lights_at_sunset')?.attributes.id).toBe('9001');
    expect(sim.getState('automation.garden_lights_at_sunset_2')?.attributes.id).toBe('9002');
    expect(sim.getState('automation.garden_lights_at_sunset_3')?.attributes.id).toBe('9003');
  });

  it('serves the automations seeded from the home', async () => {
    const seeded = (await (await api('/api/config/automation/config/1718300000102')).json()) as Record<string, unknown>;
    expect(seeded.alias).toBe('Lock Front Door At Night');
    expect(sim.getAutomation('1718300000101')?.alias).toBe('Hallway Motion Light');
  });

  it('rejects a config without triggers', async () => {
    const response = await saveAutomation('9004', { alias: 'Broken', actions: [] });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain('triggers');
    expect(sim.getAutomation('9004')).toBeUndefined();
  });
});

describe('REST fault modes', () => {
  it('answers 503 while unavailable and recovers', async () => {
    sim.faults.unavailable = true;
    expect((await api('/api/states')).status).toBe(503);
    sim.faults.unavailable = false;
    expect((await api('/api/states')).status).toBe(200);
  });

  it('fails the next service calls with 500', async () => {
    sim.faults.failNextServiceCalls = 2;
    expect((await callService('light', 'turn_on', { entity_id: 'light.hallway' })).status).toBe(500);
    expect((await callService('light', 'turn_on', { entity_id: 'light.hallway' })).status).toBe(500);
    expect(sim.getState('light.hallway')?.state).toBe('off');
    expect((await callService('light', 'turn_on', { entity_id: 'light.hallway' })).status).toBe(200);
    expect(sim.getState('light.hallway')?.state).toBe('on');
    expect(sim.serviceCalls.map((call) => call.error?.code ?? 'ok')).toEqual(['home_assistant_error', 'home_assistant_error', 'ok']);
  });

  it('delays responses by latencyMs', async () => {
    sim.faults.latencyMs = 150;
    const started = performance.now();
    expect((await api('/api/')).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('delays service call results by serviceCallLatencyMs', async () => {
    sim.faults.serviceCallLatencyMs = 300;
    const started = performance.now();
    let answered = false;
    const call = callService('light', 'turn_on', { entity_id: 'light.hallway' }).then((response) => {
      answered = true;
      return response;
    });
    while (sim.getState('light.hallway')?.state !== 'on') await new Promise((resolve) => setTimeout(resolve, 5));
    expect(answered).toBe(false);
    expect((await call).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect((await api('/api/')).status).toBe(200);
  });

  it('rejects every token while rejectAuth is set', async () => {
    sim.faults.rejectAuth = true;
    expect((await api('/api/')).status).toBe(401);
  });
});
