import { countTokens } from '../llm/tokens.js';
import type { HomeIndex, IndexedEntity } from './home-index.js';
import { compareCodeUnits, normalizeText } from './text.js';
import type { HassConfig, HassState } from './types.js';
import { dataBlock, quotedUntrustedText, untrustedText } from '../llm/data-blocks.js';

export type ContextSectionName = 'summary' | 'entities' | 'states';

export interface ContextSection {
  name: ContextSectionName;
  text: string;
  tokens: number;
}

/** How much of the entity list fit the budget, from most to least detailed. */
export type EntityDetail = 'full' | 'primary' | 'primary-ids' | 'counts';

/** The part of the context that changes only with the home's structure; it goes in the cached prompt prefix. */
export interface StableContext {
  block: string;
  tokens: number;
  sections: ContextSection[];
  detail: EntityDetail;
  /** Entities named one by one in the entity list. */
  listedEntities: number;
}

/** The part that changes with every state; it goes after the conversation, just before the user's message. */
export interface VolatileContext {
  block: string;
  tokens: number;
  section: ContextSection;
  /** Entities whose state fit in the budget. */
  listedStates: number;
}

/** Domains a user talks about and acts on; with a tight budget they are listed before the rest. */
const PRIMARY_DOMAINS = [
  'light',
  'switch',
  'fan',
  'cover',
  'climate',
  'lock',
  'alarm_control_panel',
  'media_player',
  'vacuum',
  'lawn_mower',
  'humidifier',
  'water_heater',
  'valve',
  'siren',
  'scene',
  'script',
  'input_boolean',
  'input_select',
  'input_number',
];

/** Domains whose states are worth the prompt, in order; scenes, scripts, buttons and events only carry timestamps. */
const STATE_DOMAINS = [
  'lock',
  'alarm_control_panel',
  'cover',
  'light',
  'switch',
  'fan',
  'climate',
  'media_player',
  'vacuum',
  'lawn_mower',
  'humidifier',
  'water_heater',
  'valve',
  'siren',
  'input_boolean',
  'input_select',
  'input_number',
  'person',
  'binary_sensor',
  'sensor',
  'weather',
];

/** The entity list may use this share of the budget; the states get the rest. */
const ENTITY_SHARE = 0.7;
/** Maximum length of a state value shown, because sensor texts can be paragraphs. */
const MAX_STATE_CHARS = 40;

function section(name: ContextSectionName, text: string): ContextSection {
  return { name, text, tokens: countTokens(text) };
}

export function wrapStable(text: string): string {
  return dataBlock('home_context', text);
}

export function wrapVolatile(text: string): string {
  return dataBlock('home_state', text);
}

function countByDomain(entities: IndexedEntity[]): string {
  const counts = new Map<string, number>();
  for (const entity of entities) counts.set(entity.domain, (counts.get(entity.domain) ?? 0) + 1);
  return [...counts.entries()]
    .sort(([a], [b]) => compareCodeUnits(a, b))
    .map(([domain, count]) => `${untrustedText(domain)} ${count}`)
    .join(', ');
}

function summaryText(index: HomeIndex, config: HassConfig | undefined): string {
  const name = typeof config?.location_name === 'string' && config.location_name !== '' ? untrustedText(config.location_name) : 'Home';
  const details = [
    typeof config?.version === 'string' ? `Home Assistant ${untrustedText(config.version)}` : undefined,
    typeof config?.time_zone === 'string' ? `time zone ${untrustedText(config.time_zone)}` : undefined,
  ].filter(Boolean);
  const lines = [`Home: ${name}${details.length > 0 ? ` (${details.join(', ')})` : ''}.`];
  const hidden = index.totalEntities - index.entities.length;
  lines.push(
    `Entities you can use: ${index.entities.length}${hidden > 0 ? ` (${hidden} more are not exposed to you)` : ''}. By domain: ${countByDomain(index.entities) || 'none'}.`,
  );
  if (index.floors.length > 0)
    lines.push(`Floors: ${index.floors.map((floor) => `${untrustedText(floor.name)} (${untrustedText(floor.floor_id)})`).join(', ')}.`);
  return lines.join('\n');
}

function singular(word: string): string {
  return word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
}

/**
 * Tells whether the name only repeats the entity id's words, perhaps with the domain's name added
 * ("Hallway Light" for light.hallway), so the list can leave it out.
 */
function nameIsRedundant(entity: IndexedEntity): boolean {
  const idWords = new Set([...entity.entityId.slice(entity.domain.length + 1).split('_'), ...entity.domain.split('_')].map(singular));
  const nameWords = normalizeText(entity.name)
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .map(singular);
  return nameWords.length > 0 && nameWords.every((word) => idWords.has(word));
}

function describeEntity(entity: IndexedEntity, withName: boolean): string {
  let text = untrustedText(entity.entityId);
  if (withName && !nameIsRedundant(entity)) text += ` ${quotedUntrustedText(entity.name)}`;
  if (entity.deviceClass) text += ` [${untrustedText(entity.deviceClass)}]`;
  return text;
}

interface Group {
  heading: string;
  entities: IndexedEntity[];
}

/** Groups entities by floor and area, floors by level, areas by name; entities without an area come last. */
function groupByPlace(index: HomeIndex): Group[] {
  const groups: Group[] = [];
  const areaGroup = (areaId: string, name: string, floorName: string | undefined): Group => ({
    heading: `${floorName ? `${untrustedText(floorName)} > ` : ''}${untrustedText(name)} (${untrustedText(areaId)})`,
    entities: index.inArea(areaId),
  });
  for (const floor of index.floors) {
    for (const area of index.areas.filter((candidate) => candidate.floor_id === floor.floor_id)) groups.push(areaGroup(area.area_id, area.name, floor.name));
  }
  const floorIds = new Set(index.floors.map((floor) => floor.floor_id));
  for (const area of index.areas.filter((candidate) => !candidate.floor_id || !floorIds.has(candidate.floor_id)))
    groups.push(areaGroup(area.area_id, area.name, undefined));
  groups.push({ heading: 'No area', entities: index.entities.filter((entity) => entity.areaId === undefined) });
  return groups.filter((group) => group.entities.length > 0);
}

/** The entities a rendering names one by one: all, those of some domains, or none. */
interface Selection {
  detail: EntityDetail;
  /** Domains listed by name; undefined lists every domain. */
  domains: string[] | undefined;
}

function renderGroups(groups: Group[], selection: Selection): { lines: string[]; listed: number } {
  const lines: string[] = [];
  let listed = 0;
  const named = (entity: IndexedEntity) => selection.detail !== 'counts' && (selection.domains === undefined || selection.domains.includes(entity.domain));
  for (const group of groups) {
    const shown = group.entities.filter(named);
    const counted = group.entities.filter((entity) => !named(entity));
    const parts = shown.map((entity) => describeEntity(entity, selection.detail !== 'primary-ids'));
    if (counted.length > 0) parts.push(`${shown.length > 0 ? 'also ' : ''}${countByDomain(counted)}`);
    lines.push(`${group.heading}: ${parts.join('; ')}`);
    listed += shown.length;
  }
  return { lines, listed };
}

function legend(selection: Selection): string {
  const format =
    selection.detail === 'primary-ids' ? 'entity_id [device class]' : 'entity_id "name" [device class]; a name that only repeats the id is left out';
  if (selection.detail === 'full') return `Entities by place, as ${format}.`;
  if (selection.detail === 'counts') return 'Entities by place, counted by domain; the home is too large to list them. Find entities with search_entities.';
  return `Entities by place, as ${format}. To save space only ${selection.domains?.join(', ')} entities are listed; the others are counted. Find any entity with search_entities.`;
}

/**
 * Lists the renderings to try, most detailed first. Everything comes first, then the primary domains by
 * name, leaving out the least important domain at each step, then the primary domains without names,
 * and counts only at the end.
 */
function selections(index: HomeIndex): Selection[] {
  const present = PRIMARY_DOMAINS.filter((domain) => index.entities.some((entity) => entity.domain === domain));
  const candidates: Selection[] = [{ detail: 'full', domains: undefined }];
  for (let kept = present.length; kept >= 1; kept -= 1) candidates.push({ detail: 'primary', domains: present.slice(0, kept) });
  if (present.length > 0) candidates.push({ detail: 'primary-ids', domains: present });
  candidates.push({ detail: 'counts', domains: [] });
  return candidates;
}

/**
 * Builds the stable part of the home context: a summary and the entity list at the most detailed level
 * that fits its share of the budget. With the same index and config it returns the same bytes.
 */
export function buildStableContext(index: HomeIndex, config: HassConfig | undefined, maxTokens: number): StableContext {
  const summary = section('summary', summaryText(index, config));
  const entityBudget = Math.floor(maxTokens * ENTITY_SHARE) - summary.tokens;
  const groups = groupByPlace(index);

  let chosen: { section: ContextSection; detail: EntityDetail; listed: number } | undefined;
  for (const selection of selections(index)) {
    const { lines, listed } = renderGroups(groups, selection);
    const candidate = section('entities', [legend(selection), ...lines].join('\n'));
    chosen = { section: candidate, detail: selection.detail, listed };
    if (candidate.tokens <= entityBudget) break;
  }
  let entities = chosen!.section;
  if (entities.tokens > entityBudget)
    entities = truncateLines(entities, entityBudget, (omitted) => `… ${omitted} more places; find their entities with search_entities.`);

  const block = wrapStable([summary.text, entities.text].join('\n'));
  return {
    block,
    tokens: countTokens(block),
    sections: [summary, entities],
    detail: chosen!.detail,
    listedEntities: entities === chosen!.section ? chosen!.listed : 0,
  };
}

/** Keeps whole lines from the top while they fit, then adds one line with the number left out. */
function truncateLines(full: ContextSection, budget: number, tail: (omitted: number) => string): ContextSection {
  const lines = full.text.split('\n');
  const kept: string[] = [];
  let tokens = countTokens(tail(lines.length));
  for (const line of lines) {
    const cost = countTokens(line) + 1;
    if (tokens + cost > budget) break;
    kept.push(line);
    tokens += cost;
  }
  kept.push(tail(lines.length - kept.length));
  return section(full.name, kept.join('\n'));
}

function formatState(state: HassState): string {
  // Escaping comes first, so the cut bounds what reaches the prompt.
  const full = untrustedText(state.state);
  let value = full.length > MAX_STATE_CHARS ? `${full.slice(0, MAX_STATE_CHARS - 1)}…` : full;
  const unit = state.attributes.unit_of_measurement;
  if (typeof unit === 'string' && unit !== '' && value !== 'unavailable' && value !== 'unknown') value += ` ${untrustedText(unit)}`;
  return `${untrustedText(state.entity_id)}: ${value}`;
}

export interface Freshness {
  connected: boolean;
  /** When the states were last confirmed: now while connected, else the moment the connection was lost. */
  asOf: Date | undefined;
  now: Date;
}

function freshnessLine(freshness: Freshness): string {
  if (freshness.connected) return 'Home Assistant is connected; these states are live.';
  if (!freshness.asOf) return 'Home Assistant is unreachable and no states have been read yet.';
  const seconds = Math.max(0, Math.round((freshness.now.getTime() - freshness.asOf.getTime()) / 1000));
  return `Home Assistant is unreachable; these states are ${seconds} s old (as of ${freshness.asOf.toISOString()}) and may be out of date. Tools fail until it is back.`;
}

/** Builds the states part of the context within the tokens left after the stable part. */
export function buildVolatileContext(
  index: HomeIndex,
  getState: (entityId: string) => HassState | undefined,
  freshness: Freshness,
  budget: number,
): VolatileContext {
  const ranked = index.entities
    .filter((entity) => STATE_DOMAINS.includes(entity.domain))
    .sort((a, b) => STATE_DOMAINS.indexOf(a.domain) - STATE_DOMAINS.indexOf(b.domain) || compareCodeUnits(a.entityId, b.entityId));

  const header = freshnessLine(freshness);
  const wrapperTokens = countTokens(wrapVolatile(header)) + 24;
  let remaining = budget - wrapperTokens;
  const parts: string[] = [];
  for (const entity of ranked) {
    const state = getState(entity.entityId);
    if (!state) continue;
    const text = formatState(state);
    const cost = countTokens(text) + 1;
    if (cost > remaining) break;
    parts.push(text);
    remaining -= cost;
  }

  // Tokens of joined text can differ slightly from the sum of its parts, so the result is checked whole.
  for (;;) {
    const omitted = ranked.length - parts.length;
    const lines = [header, parts.length > 0 ? `States: ${parts.join('; ')}` : 'States: none listed.'];
    if (omitted > 0) lines.push(`${omitted} more states are not listed; read them with get_states.`);
    const text = lines.join('\n');
    const block = wrapVolatile(text);
    const tokens = countTokens(block);
    if (tokens <= budget || parts.length === 0) return { block, tokens, section: section('states', text), listedStates: parts.length };
    parts.pop();
  }
}
