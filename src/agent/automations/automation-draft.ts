import { parseDocument } from 'yaml';
import type { HomeIndex } from '../../home-assistant/home-index.js';
import { normalizeText } from '../../home-assistant/text.js';
import type { HassServices, HassState } from '../../home-assistant/types.js';
import type { ServicePolicy } from '../tools/service-policy.js';

/** Maximum length of an automation config, in characters. */
export const MAX_AUTOMATION_CHARS = 20_000;

const MODES = new Set(['single', 'restart', 'queued', 'parallel']);
const TEMPLATE = /\{\{|\{%/;

export interface AutomationPreview {
  alias: string;
  description: string | null;
  mode: string;
  triggers: string[];
  conditions: string[];
  actions: string[];
  entities: { entity_id: string; name: string }[];
  services: string[];
  warnings: string[];
  /** The config to be saved, without the id, which is assigned at creation. */
  config: Record<string, unknown>;
}

export type DraftResult = { ok: true; config: Record<string, unknown>; preview: AutomationPreview; summary: string } | { ok: false; problems: string[] };

export interface DraftContext {
  index: HomeIndex;
  services: HassServices;
  policy: ServicePolicy;
  /** Every state, exposed or not, to find automations that already carry the same alias. */
  states: HassState[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Wraps a single item in a list, since Home Assistant accepts either form for triggers, conditions and actions. */
function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Entity ids in an `entity_id` value: a string, a comma-separated string or a list. */
function entityIdsOf(value: unknown): string[] {
  const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : [];
  return items
    .filter((item): item is string => typeof item === 'string')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** Parses YAML or JSON (YAML 1.2 reads JSON too) into one automation object. */
export function parseAutomationText(text: string): { ok: true; value: Record<string, unknown> } | { ok: false; problems: string[] } {
  if (text.trim() === '') return { ok: false, problems: ['config: empty; write the automation as YAML or JSON.'] };
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0)
    return { ok: false, problems: document.errors.slice(0, 5).map((error) => `config: not valid YAML or JSON: ${error.message.split('\n')[0]}`) };
  let value: unknown = document.toJS({ maxAliasCount: 50 });
  // An automations.yaml excerpt is a list; one automation is accepted in that form too.
  if (Array.isArray(value) && value.length === 1) value = value[0];
  if (!isRecord(value)) return { ok: false, problems: ['config: expected one automation (a mapping with alias, triggers and actions).'] };
  return { ok: true, value };
}

/** Walks a config tree and calls `visit` for every mapping with its path. */
function walk(node: unknown, path: string, visit: (record: Record<string, unknown>, path: string) => void): void {
  if (Array.isArray(node)) {
    node.forEach((item, index) => {
      walk(item, `${path}[${index}]`, visit);
    });
  } else if (isRecord(node)) {
    visit(node, path);
    for (const [key, value] of Object.entries(node)) walk(value, `${path}.${key}`, visit);
  }
}

/** Picks one of the old (`trigger`) and new (`triggers`) keys; both at once is a problem. */
function pickKey(config: Record<string, unknown>, newKey: string, oldKey: string, problems: string[]): { key: string; items: unknown[] } {
  if (config[newKey] !== undefined && config[oldKey] !== undefined) problems.push(`${newKey}: give either ${newKey} or ${oldKey}, not both.`);
  const key = config[newKey] !== undefined ? newKey : oldKey;
  return { key, items: asList(config[key]) };
}

function describeTrigger(trigger: Record<string, unknown>): string {
  const kind = String(trigger.trigger ?? trigger.platform ?? 'unknown');
  const details = ['event', 'entity_id', 'from', 'to', 'at', 'above', 'below', 'offset', 'for']
    .filter((key) => trigger[key] !== undefined)
    .map((key) => `${key} ${typeof trigger[key] === 'string' ? trigger[key] : JSON.stringify(trigger[key])}`);
  return details.length > 0 ? `${kind}: ${details.join(', ')}` : kind;
}

function describeCondition(condition: Record<string, unknown>): string {
  const kind = String(condition.condition ?? 'unknown');
  const details = ['entity_id', 'state', 'after', 'before', 'above', 'below', 'weekday']
    .filter((key) => condition[key] !== undefined)
    .map((key) => `${key} ${typeof condition[key] === 'string' ? condition[key] : JSON.stringify(condition[key])}`);
  return details.length > 0 ? `${kind}: ${details.join(', ')}` : kind;
}

interface ActionCheck {
  description: string;
  service?: string;
}

/**
 * Checks every reference of the config against the home and the policy. Entities must exist and be
 * exposed, areas and devices must exist, and services must exist and be allowed. Nothing may name its
 * targets or services through templates, because those would let the automation reach past the checks.
 */
export function validateAutomationDraft(text: string, context: DraftContext): DraftResult {
  const parsed = parseAutomationText(text);
  if (!parsed.ok) return parsed;
  const config = { ...parsed.value };
  const problems: string[] = [];
  const warnings: string[] = [];
  const { index } = context;

  if (config.id !== undefined) {
    warnings.push('The id in the config is ignored; a new unique id is assigned when the automation is created.');
    delete config.id;
  }
  const alias = typeof config.alias === 'string' ? config.alias.trim() : '';
  if (alias === '') problems.push('alias: missing; give the automation a short name.');
  if (config.mode !== undefined && (typeof config.mode !== 'string' || !MODES.has(config.mode)))
    problems.push(`mode: expected one of ${[...MODES].join(', ')}.`);

  const triggers = pickKey(config, 'triggers', 'trigger', problems);
  const conditions = pickKey(config, 'conditions', 'condition', problems);
  const actions = pickKey(config, 'actions', 'action', problems);
  if (triggers.items.length === 0) problems.push('triggers: at least one trigger is needed.');
  if (actions.items.length === 0) problems.push('actions: at least one action is needed.');

  triggers.items.forEach((trigger, position) => {
    if (!isRecord(trigger) || (typeof trigger.trigger !== 'string' && typeof trigger.platform !== 'string')) {
      problems.push(`${triggers.key}[${position}]: each trigger needs a "trigger" (or older "platform") key, such as trigger: sun.`);
    }
  });
  conditions.items.forEach((condition, position) => {
    if (!isRecord(condition) || typeof condition.condition !== 'string')
      problems.push(`${conditions.key}[${position}]: each condition needs a "condition" key, such as condition: state.`);
  });

  const entityIds = new Set<string>();
  walk({ [triggers.key]: triggers.items, [conditions.key]: conditions.items, [actions.key]: actions.items }, 'config', (record, path) => {
    for (const key of ['entity_id', 'service_template', 'action_template']) {
      if (typeof record[key] === 'string' && TEMPLATE.test(record[key] as string))
        problems.push(`${path}.${key}: templates are not allowed here; name the entities and services directly.`);
    }
    for (const entityId of entityIdsOf(record.entity_id)) {
      if (TEMPLATE.test(entityId)) continue;
      if (!index.isExposed(entityId)) problems.push(`${path}.entity_id: ${entityId} does not exist or is not exposed to you.`);
      else entityIds.add(entityId);
    }
    for (const areaId of entityIdsOf(record.area_id)) {
      if (!index.findArea(areaId)) problems.push(`${path}.area_id: no area ${areaId}.`);
    }
    for (const deviceId of entityIdsOf(record.device_id)) {
      if (index.ofDevice(deviceId).length === 0) problems.push(`${path}.device_id: device ${deviceId} does not exist or has no exposed entities.`);
    }
  });

  const checked: ActionCheck[] = [];
  walk(actions.items, actions.key, (record, path) => {
    let service: string | undefined;
    if (typeof record.action === 'string') service = record.action;
    else if (typeof record.service === 'string') service = record.service;
    if (service !== undefined) {
      checked.push(checkServiceAction(service, record, path, context, problems, warnings));
    } else if (typeof record.scene === 'string') {
      if (!index.isExposed(record.scene)) problems.push(`${path}.scene: ${record.scene} does not exist or is not exposed to you.`);
      else entityIds.add(record.scene);
      checked.push({ description: `activate ${record.scene}`, service: 'scene.turn_on' });
    } else if (typeof record.device_id === 'string' && typeof record.domain === 'string' && typeof record.type === 'string') {
      problems.push(
        `${path}: device actions are not allowed; use a service action such as action: ${record.domain}.${record.type} with a target, which the policy can check.`,
      );
    }
  });
  for (const [position, item] of actions.items.entries()) {
    if (!isRecord(item)) problems.push(`${actions.key}[${position}]: each action must be a mapping.`);
  }

  const sameAlias = context.states.filter(
    (state) =>
      state.entity_id.startsWith('automation.') &&
      typeof state.attributes.friendly_name === 'string' &&
      normalizeText(state.attributes.friendly_name) === normalizeText(alias),
  );
  if (alias !== '' && sameAlias.length > 0) {
    warnings.push(
      `An automation named "${alias}" already exists (${sameAlias.map((state) => state.entity_id).join(', ')}); it is left untouched and a separate one is created.`,
    );
  }

  if (problems.length > 0) return { ok: false, problems: [...new Set(problems)] };

  const preview: AutomationPreview = {
    alias,
    description: typeof config.description === 'string' ? config.description : null,
    mode: typeof config.mode === 'string' ? config.mode : 'single',
    triggers: triggers.items.filter(isRecord).map(describeTrigger),
    conditions: conditions.items.filter(isRecord).map(describeCondition),
    actions: checked.map((check) => check.description),
    entities: [...entityIds].sort().map((entityId) => ({ entity_id: entityId, name: index.get(entityId)?.name ?? entityId })),
    services: [...new Set(checked.flatMap((check) => (check.service ? [check.service] : [])))].sort(),
    warnings,
    config,
  };
  const summary = `Create the automation "${alias}": when ${preview.triggers.join(' or ')}${preview.conditions.length > 0 ? `, if ${preview.conditions.join(' and ')}` : ''}, do ${preview.actions.join(', then ') || 'its actions'}.`;
  return { ok: true, config, preview, summary };
}

function checkServiceAction(
  service: string,
  record: Record<string, unknown>,
  path: string,
  context: DraftContext,
  problems: string[],
  warnings: string[],
): ActionCheck {
  const { index, services, policy } = context;
  const match = /^([a-z0-9_]+)\.([a-z0-9_]+)$/.exec(service);
  if (!match) {
    problems.push(`${path}: "${service}" is not a service; write it as domain.service, such as light.turn_on.`);
    return { description: service };
  }
  const [, domain, name] = match as unknown as [string, string, string];
  if (!policy.isAllowed(domain, name))
    problems.push(`${path}: ${service} is not a service the agent may use (AGENT_ALLOWED_SERVICES / AGENT_DENIED_SERVICES).`);
  else if (!services[domain]?.[name]) problems.push(`${path}: Home Assistant has no service ${service}.`);

  const target = isRecord(record.target) ? record.target : {};
  const data = isRecord(record.data) ? record.data : {};
  const targetIds = [...entityIdsOf(target.entity_id), ...entityIdsOf(data.entity_id), ...entityIdsOf(record.entity_id)].filter((id) => !TEMPLATE.test(id));
  const targets = targetIds.flatMap((entityId) => {
    const entity = index.get(entityId);
    return entity ? [entity] : [];
  });
  const hasTarget = targetIds.length > 0 || target.area_id !== undefined || target.device_id !== undefined;
  const wantsTarget = services[domain]?.[name]?.target !== undefined;
  if (wantsTarget && !hasTarget && services[domain]?.[name]) problems.push(`${path}: ${service} needs a target; name the entities in target.entity_id.`);
  if (target.floor_id !== undefined || target.label_id !== undefined)
    problems.push(`${path}.target: use entity_id, area_id or device_id; floor_id and label_id cannot be checked against what is exposed.`);

  const decision = policy.decide(
    domain,
    name,
    targets.map((entity) => ({ entityId: entity.entityId, domain: entity.domain, deviceClass: entity.deviceClass })),
  );
  if (decision.kind === 'confirm')
    warnings.push(`It will run ${service} on its own, without asking, although the agent would ask first: ${decision.reasons.join(' ')}`);

  const names = targets.map((entity) => `${entity.name} (${entity.entityId})`);
  const areas = entityIdsOf(target.area_id).map((areaId) => `area ${areaId}`);
  const on = [...names, ...areas];
  return { description: `${service}${on.length > 0 ? ` on ${on.join(', ')}` : ''}`, service };
}
