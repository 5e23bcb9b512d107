import type { HassServiceDescription, HassServiceDomain, HassState } from './types.js';

type FieldSpec = Record<string, unknown>;

function field(description: string, selector: Record<string, unknown>, required = false): FieldSpec {
  return { description, required, selector };
}

const number = (min: number, max: number, unit?: string, step = 1) => ({
  number: { min, max, step, mode: 'slider', ...(unit ? { unit_of_measurement: unit } : {}) },
});
const text = { text: {} };
const boolean = { boolean: {} };

function service(
  domain: string,
  name: string,
  description: string,
  fields: Record<string, FieldSpec> = {},
  options: { target?: boolean; response?: { optional: boolean } } = {},
): HassServiceDescription {
  const described: HassServiceDescription = { name, description, fields };
  if (options.target !== false) {
    described.target = { entity: [{ domain: [domain] }] };
  }
  if (options.response) {
    described.response = options.response;
  }
  return described;
}

function onOffServices(domain: string, noun: string): Record<string, HassServiceDescription> {
  return {
    turn_on: service(domain, 'Turn on', `Turns on one or more ${noun}.`),
    turn_off: service(domain, 'Turn off', `Turns off one or more ${noun}.`),
    toggle: service(domain, 'Toggle', `Turns ${noun} on when off and off when on.`),
  };
}

/**
 * Descriptions of the services the simulator implements, written for the simulator. Real Home Assistant
 * registers more fields per service; these list the ones the simulator reads.
 */
const CATALOG: Record<string, Record<string, HassServiceDescription>> = {
  homeassistant: {
    turn_on: service('homeassistant', 'Generic turn on', 'Turns on entities of any domain that supports it.', {}, {}),
    turn_off: service('homeassistant', 'Generic turn off', 'Turns off entities of any domain that supports it.'),
    toggle: service('homeassistant', 'Generic toggle', 'Toggles entities of any domain that supports it.'),
    update_entity: service('homeassistant', 'Update entity', 'Asks entities to refresh their state.'),
    check_config: service(
      'homeassistant',
      'Check configuration',
      'Checks the configuration files.',
      {},
      {
        target: false,
      },
    ),
    reload_all: service(
      'homeassistant',
      'Reload all',
      'Reloads every YAML configuration that can be reloaded.',
      {},
      {
        target: false,
      },
    ),
  },
  persistent_notification: {
    create: service(
      'persistent_notification',
      'Create',
      'Shows a notification in the sidebar.',
      {
        message: field('Text of the notification.', text, true),
        title: field('Title of the notification.', text),
        notification_id: field('Id that a later call can use to replace or dismiss it.', text),
      },
      { target: false },
    ),
    dismiss: service(
      'persistent_notification',
      'Dismiss',
      'Removes a notification.',
      { notification_id: field('Id of the notification.', text, true) },
      { target: false },
    ),
  },
  light: {
    turn_on: service('light', 'Turn on', 'Turns on lights and sets their brightness and color.', {
      transition: field('Seconds the change takes.', number(0, 300, 'seconds')),
      brightness: field('Brightness from 0 to 255; 0 turns the light off.', number(0, 255)),
      brightness_pct: field('Brightness in percent; 0 turns the light off.', number(0, 100, '%')),
      color_temp_kelvin: field('Color temperature in kelvin.', { color_temp: { unit: 'kelvin', min: 2000, max: 6500 } }),
      color_temp: field('Color temperature in mireds (deprecated by Home Assistant).', number(153, 500, 'mireds')),
      rgb_color: field('Color as [red, green, blue], each 0 to 255.', { color_rgb: {} }),
    }),
    turn_off: service('light', 'Turn off', 'Turns off lights.', {
      transition: field('Seconds the change takes.', number(0, 300, 'seconds')),
    }),
    toggle: service('light', 'Toggle', 'Turns lights on when off and off when on.'),
  },
  switch: onOffServices('switch', 'switches'),
  input_boolean: onOffServices('input_boolean', 'boolean helpers'),
  fan: {
    ...onOffServices('fan', 'fans'),
    set_percentage: service('fan', 'Set speed', 'Sets the fan speed in percent.', {
      percentage: field('Speed in percent; 0 turns the fan off.', number(0, 100, '%'), true),
    }),
  },
  automation: {
    ...onOffServices('automation', 'automations'),
    trigger: service('automation', 'Trigger', 'Runs the actions of an automation.', {
      skip_condition: field('Whether to skip the conditions.', boolean),
    }),
    reload: service('automation', 'Reload', 'Reloads the automation configuration.', {}, { target: false }),
  },
  script: {
    ...onOffServices('script', 'scripts'),
    reload: service('script', 'Reload', 'Reloads the script configuration.', {}, { target: false }),
  },
  climate: {
    turn_on: service('climate', 'Turn on', 'Turns on climate devices in their last active mode.'),
    turn_off: service('climate', 'Turn off', 'Turns off climate devices.'),
    toggle: service('climate', 'Toggle', 'Turns climate devices on when off and off when on.'),
    set_temperature: service('climate', 'Set target temperature', 'Sets the target temperature.', {
      temperature: field('Target temperature.', number(0, 250, '°', 0.5)),
      target_temp_high: field('Upper target of a range.', number(0, 250, '°', 0.5)),
      target_temp_low: field('Lower target of a range.', number(0, 250, '°', 0.5)),
      hvac_mode: field('HVAC mode to switch to at the same time.', text),
    }),
    set_hvac_mode: service('climate', 'Set HVAC mode', 'Sets the HVAC mode.', {
      hvac_mode: field("One of the entity's hvac_modes.", text, true),
    }),
    set_fan_mode: service('climate', 'Set fan mode', 'Sets the fan mode.', {
      fan_mode: field("One of the entity's fan_modes.", text, true),
    }),
    set_preset_mode: service('climate', 'Set preset mode', 'Sets the preset mode.', {
      preset_mode: field("One of the entity's preset_modes.", text, true),
    }),
  },
  media_player: {
    turn_on: service('media_player', 'Turn on', 'Turns on media players.'),
    turn_off: service('media_player', 'Turn off', 'Turns off media players.'),
    toggle: service('media_player', 'Toggle', 'Turns media players on when off and off when on.'),
    media_play: service('media_player', 'Play', 'Starts or resumes playback.'),
    media_pause: service('media_player', 'Pause', 'Pauses playback.'),
    media_stop: service('media_player', 'Stop', 'Stops playback.'),
    media_play_pause: service('media_player', 'Play/pause', 'Toggles between playing and paused.'),
    media_next_track: service('media_player', 'Next', 'Skips to the next track.'),
    media_previous_track: service('media_player', 'Previous', 'Goes back to the previous track.'),
    volume_set: service('media_player', 'Set volume', 'Sets the volume.', {
      volume_level: field('Volume from 0 to 1.', number(0, 1, undefined, 0.01), true),
    }),
    volume_mute: service('media_player', 'Mute', 'Mutes or unmutes.', {
      is_volume_muted: field('True to mute, false to unmute.', boolean, true),
    }),
    volume_up: service('media_player', 'Volume up', 'Raises the volume by one step.'),
    volume_down: service('media_player', 'Volume down', 'Lowers the volume by one step.'),
    select_source: service('media_player', 'Select source', 'Switches the input source.', {
      source: field("One of the entity's source_list.", text, true),
    }),
  },
  scene: {
    turn_on: service('scene', 'Activate', 'Activates a scene.', {
      transition: field('Seconds the change takes.', number(0, 300, 'seconds')),
    }),
    reload: service('scene', 'Reload', 'Reloads the scene configuration.', {}, { target: false }),
  },
  lock: {
    lock: service('lock', 'Lock', 'Locks locks.', { code: field('Code to lock with.', text) }),
    unlock: service('lock', 'Unlock', 'Unlocks locks.', { code: field('Code to unlock with.', text) }),
    open: service('lock', 'Open', 'Opens the latch of locks that support it.', {
      code: field('Code to open with.', text),
    }),
  },
  cover: {
    open_cover: service('cover', 'Open', 'Opens covers.'),
    close_cover: service('cover', 'Close', 'Closes covers.'),
    stop_cover: service('cover', 'Stop', 'Stops covers that are moving.'),
    toggle: service('cover', 'Toggle', 'Opens covers that are closed and closes covers that are open.'),
    set_cover_position: service('cover', 'Set position', 'Moves covers to a position.', {
      position: field('Position in percent, 0 is closed and 100 is fully open.', number(0, 100, '%'), true),
    }),
  },
  alarm_control_panel: {
    alarm_arm_home: service('alarm_control_panel', 'Arm home', 'Arms the alarm for when people are home.', {
      code: field('Code to arm with.', text),
    }),
    alarm_arm_away: service('alarm_control_panel', 'Arm away', 'Arms the alarm for when nobody is home.', {
      code: field('Code to arm with.', text),
    }),
    alarm_arm_night: service('alarm_control_panel', 'Arm night', 'Arms the alarm for the night.', {
      code: field('Code to arm with.', text),
    }),
    alarm_disarm: service('alarm_control_panel', 'Disarm', 'Disarms the alarm.', {
      code: field('Code to disarm with.', text),
    }),
    alarm_trigger: service('alarm_control_panel', 'Trigger', 'Sets the alarm off.', {
      code: field('Code to trigger with.', text),
    }),
  },
  input_number: {
    set_value: service('input_number', 'Set', 'Sets the value of a number helper.', {
      value: field('The new value.', number(-1e9, 1e9, undefined, 0.001), true),
    }),
    increment: service('input_number', 'Increment', 'Raises the value by one step.'),
    decrement: service('input_number', 'Decrement', 'Lowers the value by one step.'),
  },
  number: {
    set_value: service('number', 'Set', 'Sets the value of a number entity.', {
      value: field('The new value.', text, true),
    }),
  },
  input_select: {
    select_option: service('input_select', 'Select', 'Selects an option of a dropdown helper.', {
      option: field("One of the entity's options.", text, true),
    }),
  },
  select: {
    select_option: service('select', 'Select', 'Selects an option of a select entity.', {
      option: field("One of the entity's options.", text, true),
    }),
  },
  input_button: {
    press: service('input_button', 'Press', 'Presses a button helper.'),
  },
  button: {
    press: service('button', 'Press', 'Presses a button entity.'),
  },
  weather: {
    get_forecasts: service(
      'weather',
      'Get forecasts',
      'Returns the forecast of weather entities.',
      { type: field('daily, hourly or twice_daily.', text, true) },
      { response: { optional: false } },
    ),
  },
};

/**
 * Generates the `/api/services` list for a home without one: every catalog domain that has entities,
 * plus `homeassistant` and `persistent_notification`, which every installation has, and `automation`,
 * because the simulator always serves the automation config API. Scripts also get one
 * service per script entity (`script.<object_id>`), as Home Assistant registers them.
 */
export function generateServices(states: HassState[]): HassServiceDomain[] {
  const domains = new Set(['automation', 'homeassistant', 'persistent_notification']);
  for (const state of states) {
    domains.add(state.entity_id.split('.')[0]!);
  }

  const result: HassServiceDomain[] = [];
  for (const domain of [...domains].sort()) {
    const services = CATALOG[domain];
    if (!services) {
      continue;
    }
    const copy: Record<string, HassServiceDescription> = structuredClone(services);
    if (domain === 'script') {
      for (const state of states) {
        const [stateDomain, objectId] = state.entity_id.split('.');
        if (stateDomain === 'script' && objectId && !(objectId in copy)) {
          const name = typeof state.attributes.friendly_name === 'string' ? state.attributes.friendly_name : objectId;
          copy[objectId] = { name, description: `Runs the script ${name}.`, fields: {} };
        }
      }
    }
    result.push({ domain, services: copy });
  }
  return result;
}

/** Services with `response.optional: false` must be called with `return_response`. */
export function responseMode(description: HassServiceDescription | undefined): 'none' | 'optional' | 'only' {
  if (!description?.response) {
    return 'none';
  }
  return description.response.optional ? 'optional' : 'only';
}
