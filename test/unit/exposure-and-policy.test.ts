import { describe, expect, it } from 'vitest';
import { DEFAULT_ALLOWED_SERVICES, ServicePolicy } from '../../src/agent/tools/service-policy.js';
import type { ExposureSettings } from '../../src/config.js';
import { EXPOSE_ALL, ExposureRules, type ExposureCandidate } from '../../src/home-assistant/exposure.js';
import type { Registries } from '../../src/home-assistant/home-cache.js';
import { HomeIndex } from '../../src/home-assistant/home-index.js';
import type { HassState } from '../../src/home-assistant/types.js';

const ASSIST: ExposureSettings = { ...EXPOSE_ALL, exposeAll: false };

function candidate(entityId: string, shouldExpose?: boolean, area?: { id: string; name: string }): ExposureCandidate {
  return {
    entityId,
    registry: shouldExpose === undefined ? undefined : { entity_id: entityId, options: { conversation: { should_expose: shouldExpose } } },
    areaId: area?.id,
    areaName: area?.name,
  };
}

describe('exposure rules', () => {
  it('follows the Assist setting', () => {
    const rules = new ExposureRules(ASSIST);
    expect(rules.isExposed(candidate('light.kitchen', true))).toBe(true);
    expect(rules.isExposed(candidate('sensor.router_uptime', false))).toBe(false);
    expect(rules.isExposed(candidate('light.no_registry_entry'))).toBe(true);
  });

  it('ignores Assist with HA_EXPOSE_ALL', () => {
    expect(new ExposureRules(EXPOSE_ALL).isExposed(candidate('sensor.router_uptime', false))).toBe(true);
  });

  it('narrows by includes; excludes win', () => {
    const kitchen = { id: 'kitchen', name: 'Küche' };
    const rules = new ExposureRules({
      ...ASSIST,
      domains: ['light'],
      areas: ['kuche'],
      entities: ['sensor.*_battery'],
      excludeEntities: ['light.secret*'],
      excludeDomains: ['camera'],
      excludeAreas: ['Garage'],
    });
    expect(rules.isExposed(candidate('light.hallway'))).toBe(true);
    expect(rules.isExposed(candidate('switch.coffee', undefined, kitchen))).toBe(true);
    expect(rules.isExposed(candidate('sensor.door_battery'))).toBe(true);
    expect(rules.isExposed(candidate('sensor.door_temperature'))).toBe(false);
    expect(rules.isExposed(candidate('light.secret_lab'))).toBe(false);
    expect(rules.isExposed(candidate('camera.kitchen', undefined, kitchen))).toBe(false);
    expect(rules.isExposed(candidate('light.garage', undefined, { id: 'garage', name: 'Garage' }))).toBe(false);
    expect(rules.isExposed(candidate('light.hidden', false))).toBe(false);
  });
});

describe('service policy', () => {
  const policy = new ServicePolicy({ confirm: ['climate.set_temperature', 'script'] });
  const target = (entityId: string, deviceClass?: string) => ({ entityId, domain: entityId.split('.')[0]!, deviceClass });

  it('denies code and restarts by default', () => {
    expect(policy.decide('light', 'turn_on', [target('light.kitchen')])).toEqual({ kind: 'allow' });
    for (const [domain, service] of [
      ['shell_command', 'run'],
      ['python_script', 'x'],
      ['rest_command', 'x'],
      ['homeassistant', 'restart'],
      ['hassio', 'addon_start'],
      ['scene', 'apply'],
      ['media_player', 'play_media'],
    ]) {
      expect(policy.decide(domain!, service!, []).kind, `${domain}.${service}`).toBe('deny');
    }
    expect(DEFAULT_ALLOWED_SERVICES).not.toContain('homeassistant');
  });

  it('confirms locks, alarms and doors', () => {
    expect(policy.decide('lock', 'unlock', [target('lock.front_door')])).toEqual({
      kind: 'confirm',
      reasons: ['Unlocking or opening a lock needs a confirmation.'],
    });
    expect(policy.decide('lock', 'open', [target('lock.front_door')]).kind).toBe('confirm');
    expect(policy.decide('lock', 'lock', [target('lock.front_door')]).kind).toBe('allow');
    expect(policy.decide('alarm_control_panel', 'alarm_disarm', [target('alarm_control_panel.home')]).kind).toBe('confirm');
    expect(policy.decide('alarm_control_panel', 'alarm_arm_away', [target('alarm_control_panel.home')]).kind).toBe('allow');
    for (const deviceClass of ['door', 'garage', 'gate']) {
      expect(policy.decide('cover', 'open_cover', [target('cover.x', deviceClass)]).kind, deviceClass).toBe('confirm');
      expect(policy.decide('cover', 'set_cover_position', [target('cover.x', deviceClass)]).kind, deviceClass).toBe('confirm');
      expect(policy.decide('cover', 'close_cover', [target('cover.x', deviceClass)]).kind, deviceClass).toBe('allow');
    }
    expect(policy.decide('cover', 'open_cover', [target('cover.blinds', 'blind')]).kind).toBe('allow');
    expect(policy.decide('homeassistant', 'toggle', [target('lock.front_door')]).kind).toBe('confirm');
    expect(policy.decide('homeassistant', 'toggle', [target('light.kitchen')]).kind).toBe('allow');
  });

  it('adds the configured confirmations', () => {
    expect(policy.decide('climate', 'set_temperature', [target('climate.living_room')])).toEqual({
      kind: 'confirm',
      reasons: ['climate.set_temperature is configured to need a confirmation (AGENT_CONFIRM_SERVICES).'],
    });
    expect(policy.decide('script', 'good_night', [target('script.good_night')]).kind).toBe('confirm');
    expect(policy.decide('climate', 'set_hvac_mode', [target('climate.living_room')]).kind).toBe('allow');
  });

  it('replaces lists; deny wins', () => {
    const custom = new ServicePolicy({ allowed: ['*'], denied: ['light.turn_off'], confirm: [] });
    expect(custom.isAllowed('notify', 'mobile_app')).toBe(true);
    expect(custom.isAllowed('light', 'turn_off')).toBe(false);
    expect(custom.isAllowed('shell_command', 'run')).toBe(true);
    expect(new ServicePolicy({ allowed: ['light'], confirm: [] }).isAllowed('switch', 'turn_on')).toBe(false);
  });
});

describe('target expansion', () => {
  const registries: Registries = {
    floors: [
      { floor_id: 'ground', name: 'Ground' },
      { floor_id: 'top', name: 'Top' },
    ],
    areas: [
      { area_id: 'hall', name: 'Hall', floor_id: 'ground' },
      { area_id: 'attic', name: 'Attic', floor_id: 'top', labels: ['cold'] },
    ],
    devices: [
      { id: 'hub', name: 'Hub', area_id: 'hall' },
      { id: 'bulb', name: 'Bulb', area_id: 'attic', via_device_id: 'hub' },
      { id: 'plug', name: 'Plug', area_id: 'hall', labels: ['energy'] },
    ],
    entities: [
      { entity_id: 'light.hub_led', device_id: 'hub' },
      { entity_id: 'light.bulb', device_id: 'bulb' },
      { entity_id: 'light.bulb_moved', device_id: 'bulb', area_id: 'hall' },
      { entity_id: 'switch.plug', device_id: 'plug', entity_category: 'config', hidden_by: 'user', options: { conversation: { should_expose: false } } },
      { entity_id: 'light.party', labels: ['party'], options: { conversation: { should_expose: false } } },
    ],
  };
  const states: HassState[] = ['light.hub_led', 'light.bulb', 'light.bulb_moved', 'switch.plug', 'light.party', 'light.loose'].map((entityId) => ({
    entity_id: entityId,
    state: 'on',
    attributes: {},
  }));
  const index = new HomeIndex(states, registries, new ExposureRules(ASSIST));
  const lights = (domain: string) => domain === 'light';
  const everything = () => true;
  const ids = (selected: ReturnType<HomeIndex['selectTargets']>) => ({
    exposed: selected.exposed.map((entity) => entity.entityId),
    unexposed: selected.unexposed,
    missing: selected.missing,
  });

  it('expands areas by own or device area', () => {
    expect(ids(index.selectTargets({ areaIds: ['hall'] }, lights))).toEqual({ exposed: ['light.bulb_moved', 'light.hub_led'], unexposed: [], missing: [] });
    expect(ids(index.selectTargets({ areaIds: ['attic'] }, lights))).toEqual({ exposed: ['light.bulb'], unexposed: [], missing: [] });
  });

  it('expands devices with connected devices', () => {
    expect(ids(index.selectTargets({ deviceIds: ['hub'] }, lights)).exposed).toEqual(['light.bulb', 'light.bulb_moved', 'light.hub_led']);
    expect(ids(index.selectTargets({ deviceIds: ['bulb'] }, lights)).exposed).toEqual(['light.bulb', 'light.bulb_moved']);
  });

  it('expands floors and labels', () => {
    expect(ids(index.selectTargets({ floorIds: ['top'] }, lights)).exposed).toEqual(['light.bulb']);
    expect(ids(index.selectTargets({ labelIds: ['cold'] }, lights)).exposed).toEqual(['light.bulb']);
    expect(ids(index.selectTargets({ labelIds: ['party'] }, lights))).toEqual({ exposed: [], unexposed: ['light.party'], missing: [] });
  });

  it('counts hidden and config entities', () => {
    expect(ids(index.selectTargets({ labelIds: ['energy'] }, everything)).unexposed).toEqual(['switch.plug']);
    expect(ids(index.selectTargets({ areaIds: ['hall'] }, everything)).unexposed).toEqual(['switch.plug']);
    expect(ids(index.selectTargets({ areaIds: ['hall'] }, lights)).unexposed).toEqual([]);
  });

  it('reports ids that match nothing', () => {
    expect(ids(index.selectTargets({ areaIds: ['Hall'], deviceIds: ['lamp'], floorIds: ['Top'], labelIds: ['none'] }, everything))).toEqual({
      exposed: [],
      unexposed: [],
      missing: [
        { key: 'area_id', id: 'Hall' },
        { key: 'floor_id', id: 'Top' },
        { key: 'device_id', id: 'lamp' },
        { key: 'label_id', id: 'none' },
      ],
    });
  });
});
