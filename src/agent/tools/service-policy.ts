/**
 * Services the agent may call unless AGENT_ALLOWED_SERVICES replaces the list. An entry is a domain (all
 * its services) or `domain.service`. Nothing here runs code, reloads or restarts Home Assistant, sends
 * requests to other hosts or changes the configuration.
 */
export const DEFAULT_ALLOWED_SERVICES = [
  'alarm_control_panel',
  'automation.trigger',
  'automation.turn_off',
  'automation.turn_on',
  'button',
  'climate',
  'counter',
  'cover',
  'fan',
  'homeassistant.toggle',
  'homeassistant.turn_off',
  'homeassistant.turn_on',
  'humidifier',
  'input_boolean',
  'input_button',
  'input_datetime',
  'input_number',
  'input_select',
  'input_text',
  'lawn_mower',
  'light',
  'lock',
  // Not play_media: it makes a speaker fetch any URL it is given.
  'media_player.clear_playlist',
  'media_player.join',
  'media_player.media_next_track',
  'media_player.media_pause',
  'media_player.media_play',
  'media_player.media_play_pause',
  'media_player.media_previous_track',
  'media_player.media_seek',
  'media_player.media_stop',
  'media_player.repeat_set',
  'media_player.select_sound_mode',
  'media_player.select_source',
  'media_player.shuffle_set',
  'media_player.toggle',
  'media_player.turn_off',
  'media_player.turn_on',
  'media_player.unjoin',
  'media_player.volume_down',
  'media_player.volume_mute',
  'media_player.volume_set',
  'media_player.volume_up',
  'number',
  // Not scene.apply or scene.create: their data names any entity and state, past every other rule.
  'scene.turn_on',
  'script',
  'select',
  'siren',
  'switch',
  'text',
  'timer',
  'todo',
  'vacuum',
  'valve',
  'water_heater',
] as const;

/**
 * Services the agent never calls unless AGENT_DENIED_SERVICES replaces the list; the deny list wins over
 * the allow list. These run shell commands or Python, reach other hosts, restart or reconfigure Home
 * Assistant, install updates or delete recorded data.
 */
export const DEFAULT_DENIED_SERVICES = [
  'backup',
  'command_line',
  'hassio',
  'homeassistant.reload_all',
  'homeassistant.reload_config_entry',
  'homeassistant.reload_core_config',
  'homeassistant.restart',
  'homeassistant.set_location',
  'homeassistant.stop',
  'pyscript',
  'python_script',
  'recorder',
  'rest_command',
  'shell_command',
  'update',
] as const;

/** Covers whose opening lets someone into the home. */
const PROTECTED_COVER_CLASSES = new Set(['door', 'garage', 'gate']);
const COVER_OPENING_SERVICES = new Set(['open_cover', 'set_cover_position', 'toggle']);

export interface PolicyTarget {
  entityId: string;
  domain: string;
  deviceClass: string | undefined;
}

export type PolicyDecision = { kind: 'deny'; reason: string } | { kind: 'allow' } | { kind: 'confirm'; reasons: string[] };

export interface ServicePolicySettings {
  /** Undefined means DEFAULT_ALLOWED_SERVICES. */
  allowed?: string[];
  /** Undefined means DEFAULT_DENIED_SERVICES. */
  denied?: string[];
  /** Services that wait for a confirmation on top of the built-in risky ones. */
  confirm: string[];
}

function matches(entries: readonly string[], domain: string, service: string): boolean {
  return entries.some((entry) => entry === '*' || entry === domain || entry === `${domain}.${service}`);
}

/**
 * Decides whether the agent may call a service and whether the call waits for the user's confirmation.
 * Built-in confirmations, which configuration cannot remove: unlocking or opening a lock, disarming an
 * alarm, opening a cover of class door, garage or gate, and any `homeassistant.*` call that targets such
 * an entity, since the generic services reach every domain.
 */
export class ServicePolicy {
  private readonly allowed: readonly string[];
  private readonly denied: readonly string[];

  constructor(private readonly settings: ServicePolicySettings) {
    this.allowed = settings.allowed ?? DEFAULT_ALLOWED_SERVICES;
    this.denied = settings.denied ?? DEFAULT_DENIED_SERVICES;
  }

  isAllowed(domain: string, service: string): boolean {
    return !matches(this.denied, domain, service) && matches(this.allowed, domain, service);
  }

  decide(domain: string, service: string, targets: PolicyTarget[]): PolicyDecision {
    if (matches(this.denied, domain, service)) {
      return { kind: 'deny', reason: `${domain}.${service} is on the list of services the agent never calls (AGENT_DENIED_SERVICES).` };
    }
    if (!matches(this.allowed, domain, service)) {
      return { kind: 'deny', reason: `${domain}.${service} is not on the list of services the agent may call (AGENT_ALLOWED_SERVICES).` };
    }

    const reasons = new Set<string>();
    for (const target of targets) {
      const reason = this.riskOf(domain, service, target);
      if (reason) reasons.add(reason);
    }
    if (matches(this.settings.confirm, domain, service)) reasons.add(`${domain}.${service} is configured to need a confirmation (AGENT_CONFIRM_SERVICES).`);
    return reasons.size > 0 ? { kind: 'confirm', reasons: [...reasons] } : { kind: 'allow' };
  }

  /** Tells whether a service may need a confirmation for some target, so list_services can report it. */
  mayNeedConfirmation(domain: string, service: string): boolean {
    if (matches(this.settings.confirm, domain, service)) return true;
    if (domain === 'lock') return service === 'unlock' || service === 'open';
    if (domain === 'alarm_control_panel') return service === 'alarm_disarm';
    if (domain === 'cover') return COVER_OPENING_SERVICES.has(service);
    return domain === 'homeassistant';
  }

  private riskOf(domain: string, service: string, target: PolicyTarget): string | undefined {
    const protectedCover = target.domain === 'cover' && target.deviceClass !== undefined && PROTECTED_COVER_CLASSES.has(target.deviceClass);
    if (domain === 'homeassistant' && (target.domain === 'lock' || target.domain === 'alarm_control_panel' || protectedCover)) {
      return `homeassistant.${service} reaches ${target.entityId}, which guards the home.`;
    }
    if (target.domain === 'lock' && domain === 'lock' && (service === 'unlock' || service === 'open'))
      return 'Unlocking or opening a lock needs a confirmation.';
    if (target.domain === 'alarm_control_panel' && domain === 'alarm_control_panel' && service === 'alarm_disarm')
      return 'Disarming an alarm needs a confirmation.';
    if (protectedCover && domain === 'cover' && COVER_OPENING_SERVICES.has(service)) return `Opening a ${target.deviceClass} needs a confirmation.`;
    return undefined;
  }
}
