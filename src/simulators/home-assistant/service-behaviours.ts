import { toHassTimestamp } from './ids.js';
import { ServiceCallError } from './service-errors.js';
import type { HassState } from './types.js';

/** The state and attributes a service leaves an entity in. */
export interface EntityUpdate {
  state: string;
  attributes: Record<string, unknown>;
}

/**
 * Per-entity memory of values a device keeps while off (brightness, last HVAC mode, fan speed), so that
 * turning it back on restores them the way real integrations do.
 */
export type DeviceMemory = Map<string, Record<string, unknown>>;

export interface ServiceBehaviour {
  /** Data keys the service accepts besides the target keys; others are rejected as `invalid_format`. */
  fields: readonly string[];
  /** Checks the data shape before any entity is touched; throws `invalid_format`. */
  validate?: (data: Record<string, unknown>) => void;
  /** Computes the entity's new state, or undefined when the service does not change it. */
  apply?: (state: HassState, data: Record<string, unknown>, memory: DeviceMemory) => EntityUpdate | undefined;
  /** Builds the service response for services that return data. */
  respond?: (states: HassState[], data: Record<string, unknown>) => unknown;
}

const LIGHT_COLOR_MODES_WITH_RGB = ['hs', 'xy', 'rgb', 'rgbw', 'rgbww'];
const LIGHT_ATTRIBUTES_CLEARED_WHEN_OFF = ['brightness', 'color_mode', 'color_temp', 'color_temp_kelvin', 'hs_color', 'rgb_color', 'xy_color', 'effect'];
/** Warm white, the color temperature a tunable bulb starts with when nothing is remembered. */
const DEFAULT_COLOR_TEMP_KELVIN = 2700;
/** Volume step of `volume_up`/`volume_down`, Home Assistant's default for media players. */
const VOLUME_STEP = 0.1;

function invalid(key: string, expected: string, value: unknown): ServiceCallError {
  return ServiceCallError.invalidFormat(`Invalid value for '${key}': expected ${expected}, got ${JSON.stringify(value)}.`);
}

function optionalNumber(data: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const value = data[key];
  if (value === undefined) {
    return undefined;
  }
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw invalid(key, `a number from ${min} to ${max}`, value);
  }
  return parsed;
}

function requiredNumber(data: Record<string, unknown>, key: string, min: number, max: number): number {
  const value = optionalNumber(data, key, min, max);
  if (value === undefined) {
    throw ServiceCallError.invalidFormat(`Missing required key '${key}'.`);
  }
  return value;
}

function requiredString(data: Record<string, unknown>, key: string): string {
  const value = data[key];
  if (typeof value !== 'string' || value === '') {
    throw value === undefined ? ServiceCallError.invalidFormat(`Missing required key '${key}'.`) : invalid(key, 'a string', value);
  }
  return value;
}

function requiredBoolean(data: Record<string, unknown>, key: string): boolean {
  const value = data[key];
  if (typeof value !== 'boolean') {
    throw value === undefined ? ServiceCallError.invalidFormat(`Missing required key '${key}'.`) : invalid(key, 'a boolean', value);
  }
  return value;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}

function withAttributes(state: HassState, newState: string, changes: Record<string, unknown> = {}): EntityUpdate {
  return { state: newState, attributes: { ...state.attributes, ...changes } };
}

/** Formats a number the way Python's `str(float)` does for helper states (`21.0`, `21.5`). */
function floatState(value: number): string {
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

const onOff = (state: string) => state === 'on';

function simpleToggleBehaviours(): Record<string, ServiceBehaviour> {
  return {
    turn_on: { fields: [], apply: (state) => withAttributes(state, 'on') },
    turn_off: { fields: [], apply: (state) => withAttributes(state, 'off') },
    toggle: { fields: [], apply: (state) => withAttributes(state, onOff(state.state) ? 'off' : 'on') },
  };
}

// --- light ---------------------------------------------------------------------------------------------

const LIGHT_TURN_ON_FIELDS = [
  'transition',
  'brightness',
  'brightness_pct',
  'brightness_step',
  'brightness_step_pct',
  'color_temp',
  'color_temp_kelvin',
  'kelvin',
  'rgb_color',
  'rgbw_color',
  'rgbww_color',
  'hs_color',
  'xy_color',
  'color_name',
  'white',
  'profile',
  'flash',
  'effect',
] as const;

function validateLightTurnOn(data: Record<string, unknown>): void {
  optionalNumber(data, 'brightness', 0, 255);
  optionalNumber(data, 'brightness_pct', 0, 100);
  optionalNumber(data, 'color_temp', 1, 10000);
  optionalNumber(data, 'color_temp_kelvin', 1000, 40000);
  optionalNumber(data, 'transition', 0, 6553);
  if (data.rgb_color !== undefined) {
    const rgb = data.rgb_color;
    const valid =
      Array.isArray(rgb) &&
      rgb.length === 3 &&
      rgb.every((channel) => typeof channel === 'number' && Number.isInteger(channel) && channel >= 0 && channel <= 255);
    if (!valid) {
      throw invalid('rgb_color', 'three integers from 0 to 255', rgb);
    }
  }
}

function lightSupports(state: HassState, mode: 'brightness' | 'color_temp' | 'rgb'): boolean {
  const modes = stringList(state.attributes.supported_color_modes);
  if (!modes) {
    // Lights from old dumps do not list color modes; accept every setting rather than drop it.
    return true;
  }
  if (mode === 'brightness') {
    return modes.some((supported) => supported !== 'onoff');
  }
  if (mode === 'color_temp') {
    return modes.includes('color_temp');
  }
  return modes.some((supported) => LIGHT_COLOR_MODES_WITH_RGB.includes(supported));
}

function applyLightTurnOn(state: HassState, data: Record<string, unknown>, memory: DeviceMemory): EntityUpdate {
  let brightness = data.brightness as number | undefined;
  if (brightness === undefined && data.brightness_pct !== undefined) {
    brightness = Math.round((Number(data.brightness_pct) * 255) / 100);
  }
  if (brightness !== undefined && Math.round(brightness) === 0) {
    return applyLightTurnOff(state, memory);
  }

  const remembered = state.state === 'on' ? {} : (memory.get(state.entity_id) ?? {});
  const attributes: Record<string, unknown> = { ...state.attributes, ...remembered };
  const modes = stringList(state.attributes.supported_color_modes);

  if (lightSupports(state, 'brightness')) {
    attributes.brightness = brightness !== undefined ? Math.round(brightness) : (attributes.brightness ?? 255);
  }

  let kelvin = data.color_temp_kelvin as number | undefined;
  if (kelvin === undefined && data.color_temp !== undefined) {
    kelvin = Math.round(1_000_000 / Number(data.color_temp));
  }
  if (kelvin !== undefined && lightSupports(state, 'color_temp')) {
    attributes.color_mode = 'color_temp';
    attributes.color_temp_kelvin = kelvin;
    attributes.color_temp = Math.round(1_000_000 / kelvin);
    attributes.rgb_color = null;
  } else if (Array.isArray(data.rgb_color) && lightSupports(state, 'rgb')) {
    attributes.color_mode = modes?.find((mode) => LIGHT_COLOR_MODES_WITH_RGB.includes(mode)) ?? 'rgb';
    attributes.rgb_color = data.rgb_color;
    attributes.color_temp_kelvin = null;
    attributes.color_temp = null;
  }

  if (attributes.color_mode === null || attributes.color_mode === undefined) {
    const firstMode = modes?.[0];
    if (firstMode) {
      attributes.color_mode = firstMode;
    }
  }
  // A light that never was on in this run has no remembered color; give it the one a bulb starts with.
  if (attributes.color_mode === 'color_temp' && (attributes.color_temp_kelvin ?? null) === null) {
    const min = typeof attributes.min_color_temp_kelvin === 'number' ? attributes.min_color_temp_kelvin : 2000;
    const max = typeof attributes.max_color_temp_kelvin === 'number' ? attributes.max_color_temp_kelvin : 6500;
    attributes.color_temp_kelvin = Math.min(max, Math.max(min, DEFAULT_COLOR_TEMP_KELVIN));
    attributes.color_temp = Math.round(1_000_000 / (attributes.color_temp_kelvin as number));
  }
  if (LIGHT_COLOR_MODES_WITH_RGB.includes(String(attributes.color_mode)) && (attributes.rgb_color ?? null) === null) {
    attributes.rgb_color = [255, 255, 255];
  }
  return { state: 'on', attributes };
}

function applyLightTurnOff(state: HassState, memory: DeviceMemory): EntityUpdate {
  const attributes = { ...state.attributes };
  const remembered: Record<string, unknown> = {};
  for (const key of LIGHT_ATTRIBUTES_CLEARED_WHEN_OFF) {
    if (key in attributes) {
      if (state.state === 'on') {
        remembered[key] = attributes[key];
      }
      attributes[key] = null;
    }
  }
  if (state.state === 'on') {
    memory.set(state.entity_id, remembered);
  }
  return { state: 'off', attributes };
}

const LIGHT: Record<string, ServiceBehaviour> = {
  turn_on: { fields: LIGHT_TURN_ON_FIELDS, validate: validateLightTurnOn, apply: applyLightTurnOn },
  turn_off: {
    fields: ['transition', 'flash'],
    validate: (data) => void optionalNumber(data, 'transition', 0, 6553),
    apply: (state, _data, memory) => applyLightTurnOff(state, memory),
  },
  toggle: {
    fields: LIGHT_TURN_ON_FIELDS,
    validate: validateLightTurnOn,
    apply: (state, data, memory) => (state.state === 'on' ? applyLightTurnOff(state, memory) : applyLightTurnOn(state, data, memory)),
  },
};

// --- fan -----------------------------------------------------------------------------------------------

function applyFan(state: HassState, percentage: number, memory: DeviceMemory): EntityUpdate {
  if (percentage === 0) {
    if (state.state === 'on' && typeof state.attributes.percentage === 'number') {
      memory.set(state.entity_id, { percentage: state.attributes.percentage });
    }
    return withAttributes(state, 'off', 'percentage' in state.attributes ? { percentage: 0 } : {});
  }
  return withAttributes(state, 'on', { percentage });
}

function fanOnPercentage(state: HassState, data: Record<string, unknown>, memory: DeviceMemory): number {
  if (typeof data.percentage === 'number') {
    return data.percentage;
  }
  if (state.state === 'on' && typeof state.attributes.percentage === 'number') {
    return state.attributes.percentage;
  }
  const remembered = memory.get(state.entity_id)?.percentage;
  return typeof remembered === 'number' ? remembered : 100;
}

const FAN: Record<string, ServiceBehaviour> = {
  turn_on: {
    fields: ['percentage', 'preset_mode'],
    validate: (data) => void optionalNumber(data, 'percentage', 0, 100),
    apply: (state, data, memory) => applyFan(state, fanOnPercentage(state, data, memory), memory),
  },
  turn_off: { fields: [], apply: (state, _data, memory) => applyFan(state, 0, memory) },
  toggle: {
    fields: [],
    apply: (state, data, memory) => applyFan(state, state.state === 'on' ? 0 : fanOnPercentage(state, data, memory), memory),
  },
  set_percentage: {
    fields: ['percentage'],
    validate: (data) => void requiredNumber(data, 'percentage', 0, 100),
    apply: (state, data, memory) => applyFan(state, Number(data.percentage), memory),
  },
};

// --- climate -------------------------------------------------------------------------------------------

function hvacAction(mode: string, attributes: Record<string, unknown>): string {
  if (mode === 'off') {
    return 'off';
  }
  const current = attributes.current_temperature;
  const target = attributes.temperature;
  if (typeof current !== 'number' || typeof target !== 'number') {
    return 'idle';
  }
  if ((mode === 'heat' || mode === 'heat_cool' || mode === 'auto') && current < target) {
    return 'heating';
  }
  if ((mode === 'cool' || mode === 'heat_cool' || mode === 'auto') && current > target) {
    return 'cooling';
  }
  return 'idle';
}

function climateUpdate(state: HassState, mode: string, changes: Record<string, unknown>, memory: DeviceMemory): EntityUpdate {
  if (mode === 'off' && state.state !== 'off') {
    memory.set(state.entity_id, { hvac_mode: state.state });
  }
  const attributes = { ...state.attributes, ...changes };
  if ('hvac_action' in attributes) {
    attributes.hvac_action = hvacAction(mode, attributes);
  }
  return { state: mode, attributes };
}

function validateHvacMode(state: HassState, mode: string): void {
  const modes = stringList(state.attributes.hvac_modes);
  if (modes && !modes.includes(mode)) {
    throw ServiceCallError.validation(`HVAC mode ${mode} is not valid for ${state.entity_id}. Valid HVAC modes are: ${modes.join(', ')}.`);
  }
}

function lastActiveHvacMode(state: HassState, memory: DeviceMemory): string {
  const remembered = memory.get(state.entity_id)?.hvac_mode;
  if (typeof remembered === 'string') {
    return remembered;
  }
  const modes = stringList(state.attributes.hvac_modes) ?? ['heat'];
  return modes.find((mode) => mode !== 'off') ?? 'heat';
}

function validateTemperatureRange(state: HassState, key: string, value: number): void {
  const min = typeof state.attributes.min_temp === 'number' ? state.attributes.min_temp : undefined;
  const max = typeof state.attributes.max_temp === 'number' ? state.attributes.max_temp : undefined;
  if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
    throw ServiceCallError.validation(`Provided ${key} ${value} is not valid for ${state.entity_id}. Accepted range is ${min ?? '-∞'} to ${max ?? '∞'}.`);
  }
}

const CLIMATE: Record<string, ServiceBehaviour> = {
  turn_on: {
    fields: [],
    apply: (state, _data, memory) => (state.state === 'off' ? climateUpdate(state, lastActiveHvacMode(state, memory), {}, memory) : undefined),
  },
  turn_off: { fields: [], apply: (state, _data, memory) => climateUpdate(state, 'off', {}, memory) },
  toggle: {
    fields: [],
    apply: (state, _data, memory) => climateUpdate(state, state.state === 'off' ? lastActiveHvacMode(state, memory) : 'off', {}, memory),
  },
  set_hvac_mode: {
    fields: ['hvac_mode'],
    validate: (data) => void requiredString(data, 'hvac_mode'),
    apply: (state, data, memory) => {
      const mode = String(data.hvac_mode);
      validateHvacMode(state, mode);
      return climateUpdate(state, mode, {}, memory);
    },
  },
  set_temperature: {
    fields: ['temperature', 'target_temp_high', 'target_temp_low', 'hvac_mode'],
    validate: (data) => {
      optionalNumber(data, 'temperature', -100, 1000);
      optionalNumber(data, 'target_temp_high', -100, 1000);
      optionalNumber(data, 'target_temp_low', -100, 1000);
      if (data.temperature === undefined && data.target_temp_low === undefined && data.target_temp_high === undefined) {
        throw ServiceCallError.invalidFormat("Provide 'temperature' or 'target_temp_low' and 'target_temp_high'.");
      }
      if (data.hvac_mode !== undefined) {
        requiredString(data, 'hvac_mode');
      }
    },
    apply: (state, data, memory) => {
      const changes: Record<string, unknown> = {};
      for (const key of ['temperature', 'target_temp_high', 'target_temp_low']) {
        if (data[key] !== undefined) {
          const value = Number(data[key]);
          validateTemperatureRange(state, key === 'temperature' ? 'temperature' : key, value);
          changes[key] = value;
        }
      }
      const mode = typeof data.hvac_mode === 'string' ? data.hvac_mode : state.state;
      if (typeof data.hvac_mode === 'string') {
        validateHvacMode(state, mode);
      }
      return climateUpdate(state, mode, changes, memory);
    },
  },
  set_fan_mode: {
    fields: ['fan_mode'],
    validate: (data) => void requiredString(data, 'fan_mode'),
    apply: (state, data) => {
      const modes = stringList(state.attributes.fan_modes);
      if (modes && !modes.includes(String(data.fan_mode))) {
        throw ServiceCallError.validation(`Fan mode ${String(data.fan_mode)} is not valid. Valid fan modes are: ${modes.join(', ')}.`);
      }
      return withAttributes(state, state.state, { fan_mode: data.fan_mode });
    },
  },
  set_preset_mode: {
    fields: ['preset_mode'],
    validate: (data) => void requiredString(data, 'preset_mode'),
    apply: (state, data) => {
      const modes = stringList(state.attributes.preset_modes);
      if (modes && !modes.includes(String(data.preset_mode))) {
        throw ServiceCallError.validation(`Preset mode ${String(data.preset_mode)} is not valid. Valid preset modes are: ${modes.join(', ')}.`);
      }
      return withAttributes(state, state.state, { preset_mode: data.preset_mode });
    },
  },
};

// --- media_player --------------------------------------------------------------------------------------

const isPlayerOff = (state: HassState) => state.state === 'off' || state.state === 'standby';

function setVolume(state: HassState, level: number): EntityUpdate {
  const clamped = Math.min(1, Math.max(0, Math.round(level * 100) / 100));
  return withAttributes(state, state.state, { volume_level: clamped });
}

const MEDIA_PLAYER: Record<string, ServiceBehaviour> = {
  turn_on: { fields: [], apply: (state) => (isPlayerOff(state) ? withAttributes(state, 'on') : undefined) },
  turn_off: { fields: [], apply: (state) => withAttributes(state, 'off') },
  toggle: { fields: [], apply: (state) => withAttributes(state, isPlayerOff(state) ? 'on' : 'off') },
  media_play: { fields: [], apply: (state) => withAttributes(state, 'playing') },
  media_pause: { fields: [], apply: (state) => withAttributes(state, 'paused') },
  media_stop: { fields: [], apply: (state) => withAttributes(state, 'idle') },
  media_play_pause: {
    fields: [],
    apply: (state) => withAttributes(state, state.state === 'playing' ? 'paused' : 'playing'),
  },
  media_next_track: { fields: [] },
  media_previous_track: { fields: [] },
  volume_set: {
    fields: ['volume_level'],
    validate: (data) => void requiredNumber(data, 'volume_level', 0, 1),
    apply: (state, data) => setVolume(state, Number(data.volume_level)),
  },
  volume_mute: {
    fields: ['is_volume_muted'],
    validate: (data) => void requiredBoolean(data, 'is_volume_muted'),
    apply: (state, data) => withAttributes(state, state.state, { is_volume_muted: data.is_volume_muted }),
  },
  volume_up: {
    fields: [],
    apply: (state) => setVolume(state, Number(state.attributes.volume_level ?? 0) + VOLUME_STEP),
  },
  volume_down: {
    fields: [],
    apply: (state) => setVolume(state, Number(state.attributes.volume_level ?? 0) - VOLUME_STEP),
  },
  select_source: {
    fields: ['source'],
    validate: (data) => void requiredString(data, 'source'),
    apply: (state, data) => {
      const sources = stringList(state.attributes.source_list);
      if (sources && !sources.includes(String(data.source))) {
        throw ServiceCallError.validation(`Source ${String(data.source)} is not available on ${state.entity_id}. Sources: ${sources.join(', ')}.`);
      }
      return withAttributes(state, state.state, { source: data.source });
    },
  },
};

// --- cover, lock, alarm --------------------------------------------------------------------------------

function coverAt(state: HassState, position: number): EntityUpdate {
  const changes = 'current_position' in state.attributes ? { current_position: position } : {};
  return withAttributes(state, position === 0 ? 'closed' : 'open', changes);
}

const COVER: Record<string, ServiceBehaviour> = {
  open_cover: { fields: [], apply: (state) => coverAt(state, 100) },
  close_cover: { fields: [], apply: (state) => coverAt(state, 0) },
  stop_cover: { fields: [] },
  toggle: { fields: [], apply: (state) => coverAt(state, state.state === 'closed' ? 100 : 0) },
  set_cover_position: {
    fields: ['position'],
    validate: (data) => void requiredNumber(data, 'position', 0, 100),
    apply: (state, data) => coverAt(state, Math.round(Number(data.position))),
  },
};

const LOCK: Record<string, ServiceBehaviour> = {
  lock: { fields: ['code'], apply: (state) => withAttributes(state, 'locked') },
  unlock: { fields: ['code'], apply: (state) => withAttributes(state, 'unlocked') },
  open: { fields: ['code'], apply: (state) => withAttributes(state, 'open') },
};

function alarmTransition(target: string, needsCode: (state: HassState) => boolean): ServiceBehaviour {
  return {
    fields: ['code'],
    apply: (state, data) => {
      if (needsCode(state) && (data.code === undefined || data.code === '')) {
        throw ServiceCallError.validation(`A code is required for ${state.entity_id}, but none was given.`);
      }
      return withAttributes(state, target);
    },
  };
}

const hasCodeFormat = (state: HassState) => state.attributes.code_format !== undefined && state.attributes.code_format !== null;
const armNeedsCode = (state: HassState) => hasCodeFormat(state) && state.attributes.code_arm_required !== false;

const ALARM_CONTROL_PANEL: Record<string, ServiceBehaviour> = {
  alarm_arm_home: alarmTransition('armed_home', armNeedsCode),
  alarm_arm_away: alarmTransition('armed_away', armNeedsCode),
  alarm_arm_night: alarmTransition('armed_night', armNeedsCode),
  alarm_disarm: alarmTransition('disarmed', hasCodeFormat),
  alarm_trigger: alarmTransition('triggered', () => false),
};

// --- helpers and selects -------------------------------------------------------------------------------

function selectOption(state: HassState, option: string): EntityUpdate {
  const options = stringList(state.attributes.options);
  if (options && !options.includes(option)) {
    throw ServiceCallError.validation(`Option ${option} is not valid for ${state.entity_id}. Valid options are: ${options.join(', ')}.`);
  }
  return withAttributes(state, option);
}

function numberValue(state: HassState, value: number): EntityUpdate {
  const min = typeof state.attributes.min === 'number' ? state.attributes.min : undefined;
  const max = typeof state.attributes.max === 'number' ? state.attributes.max : undefined;
  if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
    throw ServiceCallError.validation(`Value ${value} for ${state.entity_id} is outside its range ${min ?? '-∞'} to ${max ?? '∞'}.`);
  }
  return withAttributes(state, floatState(value));
}

function stepNumber(state: HassState, direction: 1 | -1): EntityUpdate {
  const step = typeof state.attributes.step === 'number' ? state.attributes.step : 1;
  const next = Number(state.state) + direction * step;
  const min = typeof state.attributes.min === 'number' ? state.attributes.min : -Infinity;
  const max = typeof state.attributes.max === 'number' ? state.attributes.max : Infinity;
  return withAttributes(state, floatState(Math.min(max, Math.max(min, next))));
}

const pressed = (state: HassState) => withAttributes(state, toHassTimestamp());

/** Scripts in the simulator finish at once, so running one only moves `last_triggered`. */
const runScript = (state: HassState) => withAttributes(state, 'off', { last_triggered: toHassTimestamp() });

function dailyForecast(state: HassState): unknown[] {
  if (Array.isArray(state.attributes.forecast)) {
    return state.attributes.forecast;
  }
  const base = typeof state.attributes.temperature === 'number' ? state.attributes.temperature : 15;
  const start = new Date();
  start.setUTCHours(12, 0, 0, 0);
  return Array.from({ length: 5 }, (_, day) => ({
    condition: state.state,
    datetime: toHassTimestamp(start.getTime() + day * 86_400_000),
    temperature: Math.round((base + ((day * 7) % 5) - 2) * 10) / 10,
    templow: Math.round((base - 6 + ((day * 3) % 3)) * 10) / 10,
    precipitation: day % 2 === 0 ? 0 : 1.2,
  }));
}

/** Services the simulator implements, by domain. Registered services missing here succeed and change nothing. */
export const BEHAVIOURS: Record<string, Record<string, ServiceBehaviour>> = {
  light: LIGHT,
  switch: simpleToggleBehaviours(),
  input_boolean: simpleToggleBehaviours(),
  fan: FAN,
  automation: {
    ...simpleToggleBehaviours(),
    trigger: {
      fields: ['skip_condition', 'variables'],
      apply: (state) => withAttributes(state, state.state, { last_triggered: toHassTimestamp() }),
    },
  },
  script: {
    turn_on: { fields: ['variables', 'wait'], apply: runScript },
    turn_off: { fields: [], apply: (state) => withAttributes(state, 'off') },
    toggle: { fields: [], apply: runScript },
  },
  climate: CLIMATE,
  media_player: MEDIA_PLAYER,
  scene: {
    turn_on: { fields: ['transition'], apply: (state) => withAttributes(state, toHassTimestamp()) },
  },
  lock: LOCK,
  cover: COVER,
  alarm_control_panel: ALARM_CONTROL_PANEL,
  input_number: {
    set_value: {
      fields: ['value'],
      validate: (data) => void requiredNumber(data, 'value', -Number.MAX_VALUE, Number.MAX_VALUE),
      apply: (state, data) => numberValue(state, Number(data.value)),
    },
    increment: { fields: [], apply: (state) => stepNumber(state, 1) },
    decrement: { fields: [], apply: (state) => stepNumber(state, -1) },
  },
  number: {
    set_value: {
      fields: ['value'],
      validate: (data) => void requiredNumber(data, 'value', -Number.MAX_VALUE, Number.MAX_VALUE),
      apply: (state, data) => numberValue(state, Number(data.value)),
    },
  },
  input_select: {
    select_option: {
      fields: ['option'],
      validate: (data) => void requiredString(data, 'option'),
      apply: (state, data) => selectOption(state, String(data.option)),
    },
  },
  select: {
    select_option: {
      fields: ['option'],
      validate: (data) => void requiredString(data, 'option'),
      apply: (state, data) => selectOption(state, String(data.option)),
    },
  },
  input_button: { press: { fields: [], apply: pressed } },
  button: { press: { fields: [], apply: pressed } },
  weather: {
    get_forecasts: {
      fields: ['type'],
      validate: (data) => {
        const type = requiredString(data, 'type');
        if (!['daily', 'hourly', 'twice_daily'].includes(type)) {
          throw invalid('type', 'daily, hourly or twice_daily', type);
        }
      },
      respond: (states) => Object.fromEntries(states.map((state) => [state.entity_id, { forecast: dailyForecast(state) }])),
    },
  },
};

/** `homeassistant.turn_on/turn_off/toggle` call these services on each entity's own domain. */
export const GENERIC_SERVICE_MAP: Record<string, Record<string, string>> = {
  turn_on: { cover: 'open_cover', default: 'turn_on' },
  turn_off: { cover: 'close_cover', default: 'turn_off' },
  toggle: { default: 'toggle' },
};

export { runScript };
