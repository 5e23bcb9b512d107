import { groupMembers } from '../../home-assistant/group-members.js';
import { parseDocument } from 'yaml';
import { TARGET_KEYS, type HomeIndex, type IndexedEntity, type SelectedEntities, type TargetSelectors } from '../../home-assistant/home-index.js';
import { normalizeText } from '../../home-assistant/text.js';
import type { HassServices, HassState } from '../../home-assistant/types.js';
import type { ServicePolicy } from '../tools/service-policy.js';

/** Maximum length of an automation config, in characters. */
export const MAX_AUTOMATION_CHARS = 20_000;

const MODES = new Set(['single', 'restart', 'queued', 'parallel']);
/** Home Assistant renders a string as a template when it contains any of these delimiters. */
const TEMPLATE = /\{\{|\{%|\{#/;
/** Keys of a service action that Home Assistant merges into the service call, so target keys inside them select targets too. */
const CALL_KEYS = ['target', 'data', 'data_template'] as const;

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

/**
 * Ids in a target value: a string, a comma-separated string or a list. Numbers count as ids, because
 * Home Assistant turns them into strings.
 */
function entityIdsOf(value: unknown): string[] {
  const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : [value];
  return items
    .map((item) => (typeof item === 'number' ? String(item) : item))
    .filter((item): item is string => typeof item === 'string')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** Tells whether a template sits anywhere in a value: a string, a list element, a mapping key or a mapping value. */
function containsTemplate(value: unknown): boolean {
  if (typeof value === 'string') return TEMPLATE.test(value);
  if (Array.isArray(value)) return value.some(containsTemplate);
  if (isRecord(value)) return Object.entries(value).some(([key, item]) => TEMPLATE.test(key) || containsTemplate(item));
  return false;
}

/** Collects the area, device, floor and label ids of one mapping, leaving out templates, which are reported on their own. */
function selectorsOf(record: Record<string, unknown>): Required<TargetSelectors> {
  const ids = (key: string) => entityIdsOf(record[key]).filter((id) => !TEMPLATE.test(id));
  return { areaIds: ids('area_id'), deviceIds: ids('device_id'), floorIds: ids('floor_id'), labelIds: ids('label_id') };
}

function missingSelector(missing: SelectedEntities['missing'][number]): string {
  switch (missing.key) {
    case 'area_id':
      return `no area ${missing.id}; give the area_id, not its name.`;
    case 'device_id':
      return `device ${missing.id} does not exist or has no exposed entities.`;
    case 'floor_id':
      return `no floor ${missing.id}; give the floor_id, not its name.`;
    case 'label_id':
      return `no entity, device or area carries the label ${missing.id}.`;
  }
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
  /** Exposed entities the action acts on, named or selected by area, device, floor or label. */
  entities: IndexedEntity[];
}

/**
 * Reports templates wherever they could choose targets: in any target key, as a list element too, and
 * as a whole `target` or `data`, which could produce any target key when rendered.
 */
function checkTemplates(record: Record<string, unknown>, path: string, problems: string[]): void {
  for (const key of [...TARGET_KEYS, 'service_template', 'action_template']) {
    if (record[key] !== undefined && containsTemplate(record[key]))
      problems.push(`${path}.${key}: templates are not allowed here; name the entities and services directly.`);
  }
  for (const key of CALL_KEYS) {
    const value = record[key];
    if (typeof value === 'string' && TEMPLATE.test(value))
      problems.push(`${path}.${key}: ${key} cannot be a template, because it could select any target; write it as a mapping.`);
    else if (isRecord(value) && Object.keys(value).some((name) => TEMPLATE.test(name)))
      problems.push(`${path}.${key}: templates are not allowed in keys; write each key out.`);
  }
}

/**
 * Checks every reference of the config against the home and the policy. Entities must exist and be
 * exposed, areas, devices, floors and labels must exist, and services must exist and be allowed. A
 * service action's area, device, floor and label targets are expanded into entities, which must all be
 * exposed and which the policy checks like named ones. Nothing may name its targets or services through
 * templates, because those would let the automation reach past the checks.
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
    checkTemplates(record, path, problems);
    for (const entityId of entityIdsOf(record.entity_id)) {
      if (TEMPLATE.test(entityId)) continue;
      if (!index.isExposed(entityId)) problems.push(`${path}.entity_id: ${entityId} does not exist or is not exposed to you.`);
      else entityIds.add(entityId);
    }
    for (const missing of index.selectTargets(selectorsOf(record), () => true).missing) {
      problems.push(`${path}.${missing.key}: ${missingSelector(missing)}`);
    }
    // A device trigger or condition reads the device's entities, so it needs exposed ones. The message
    // is the one for a missing device, so it does not tell that a device with only hidden entities exists.
    for (const deviceId of selectorsOf(record).deviceIds) {
      if (index.ofDevice(deviceId).length === 0) problems.push(`${path}.device_id: ${missingSelector({ key: 'device_id', id: deviceId })}`);
    }
  });

  const checked: ActionCheck[] = [];
  walk(actions.items, actions.key, (record, path) => {
    let service: string | undefined;
    if (typeof record.action === 'string') service = record.action;
    else if (typeof record.service === 'string') service = record.service;
    if (service !== undefined) {
      const check = checkServiceAction(service, record, path, context, problems, warnings);
      for (const entity of check.entities) entityIds.add(entity.entityId);
      checked.push(check);
    } else if (typeof record.scene === 'string') {
      if (!index.isExposed(record.scene)) problems.push(`${path}.scene: ${record.scene} does not exist or is not exposed to you.`);
      else entityIds.add(record.scene);
      checked.push({ description: `activate ${record.scene}`, service: 'scene.turn_on', entities: [] });
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
    return { description: service, entities: [] };
  }
  const [, domain, name] = match as unknown as [string, string, string];
  if (!policy.isAllowed(domain, name))
    problems.push(`${path}: ${service} is not a service the agent may use (AGENT_ALLOWED_SERVICES / AGENT_DENIED_SERVICES).`);
  else if (!services[domain]?.[name]) problems.push(`${path}: Home Assistant has no service ${service}.`);

  // Home Assistant merges the target and the data into one call, so target keys count wherever they are.
  const sources = [record, ...CALL_KEYS.map((key) => record[key])].filter(isRecord);
  const named = sources.flatMap((source) => entityIdsOf(source.entity_id)).filter((id) => !TEMPLATE.test(id));
  const selectors = mergeSelectors(sources.map(selectorsOf));
  const selectorNames = describeSelectors(selectors);

  const explicit = [...new Set(named)].flatMap((entityId) => {
    const entity = index.get(entityId);
    return entity ? [entity] : [];
  });
  // Home Assistant expands a named group into its members when the service runs, so they are checked as
  // if named. Members that join the group later are not, like entities added to an area later.
  const stateOf = (entityId: string) => context.states.find((state) => state.entity_id === entityId);
  const memberIds = groupMembers(
    explicit.map((entity) => entity.entityId),
    stateOf,
  );
  const members = memberIds.flatMap((entityId) => index.get(entityId) ?? []);
  if (members.length < memberIds.length) {
    const count = memberIds.length - members.length;
    problems.push(
      `${path}: the named groups contain ${count} ${count === 1 ? 'entity' : 'entities'} not exposed to you, which ${service} would act on; name the exposed entities instead.`,
    );
  }
  const selected = index.selectTargets(selectors, (entityDomain) => domain === 'homeassistant' || entityDomain === domain);
  if (selected.unexposed.length > 0) {
    const count = selected.unexposed.length;
    problems.push(
      `${path}: ${selectorNames.join(', ')} also ${selectorNames.length === 1 ? 'selects' : 'select'} ${count} ${count === 1 ? 'entity' : 'entities'} not exposed to you, which ${service} would act on; name the exposed entities in target.entity_id instead.`,
    );
  }
  const explicitIds = new Set(explicit.map((entity) => entity.entityId));
  const indirect = selected.exposed.filter((entity) => !explicitIds.has(entity.entityId));
  const targets = [...new Map([...explicit, ...members, ...indirect].map((entity) => [entity.entityId, entity])).values()];

  const hasTarget = named.length > 0 || selectorNames.length > 0;
  const wantsTarget = services[domain]?.[name]?.target !== undefined;
  if (wantsTarget && !hasTarget && services[domain]?.[name]) problems.push(`${path}: ${service} needs a target; name the entities in target.entity_id.`);

  const decision = policy.decide(
    domain,
    name,
    targets.map((entity) => ({ entityId: entity.entityId, domain: entity.domain, deviceClass: entity.deviceClass })),
  );
  if (decision.kind === 'confirm')
    warnings.push(`It will run ${service} on its own, without asking, although the agent would ask first: ${decision.reasons.join(' ')}`);
  if (members.length > 0)
    warnings.push(`${service} acts on the members the named groups have when the automation runs; members added later are not checked here.`);
  if (selectorNames.length > 0)
    warnings.push(
      `${service} acts on whatever ${selectorNames.join(', ')} ${selectorNames.length === 1 ? 'contains' : 'contain'} when the automation runs; entities added there later are not checked here.`,
    );

  const label = (entity: IndexedEntity) => `${entity.name} (${entity.entityId})`;
  const on = explicit.map(label);
  if (members.length > 0) on.push(`the groups' members ${members.map(label).join(', ')}`);
  if (selectorNames.length > 0) {
    const contained = indirect.length > 0 ? indirect.map(label).join(', ') : `no ${domain === 'homeassistant' ? '' : `${domain} `}entities`;
    on.push(`${selectorNames.join(', ')}, which now ${selectorNames.length === 1 ? 'contains' : 'contain'} ${contained}`);
  }
  return { description: `${service}${on.length > 0 ? ` on ${on.join(' and ')}` : ''}`, service, entities: targets };
}

function mergeSelectors(all: Required<TargetSelectors>[]): Required<TargetSelectors> {
  const merged = (pick: (selectors: Required<TargetSelectors>) => string[]) => [...new Set(all.flatMap(pick))];
  return {
    areaIds: merged((selectors) => selectors.areaIds),
    deviceIds: merged((selectors) => selectors.deviceIds),
    floorIds: merged((selectors) => selectors.floorIds),
    labelIds: merged((selectors) => selectors.labelIds),
  };
}

/** Names each selector for messages, such as "area living_room". */
function describeSelectors(selectors: Required<TargetSelectors>): string[] {
  return [
    ...selectors.areaIds.map((id) => `area ${id}`),
    ...selectors.deviceIds.map((id) => `device ${id}`),
    ...selectors.floorIds.map((id) => `floor ${id}`),
    ...selectors.labelIds.map((id) => `label ${id}`),
  ];
}
