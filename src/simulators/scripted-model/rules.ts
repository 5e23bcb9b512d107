import type { ReplyPlan } from './types.js';

/**
 * Deterministic replies chosen from a chat request, for the agent's Home Assistant tools. The rules read
 * the last user message and the tool calls and results after it, so each step runs once and a
 * conversation always ends in text:
 *
 * - actions ("turn off the kitchen light", "unlock the front door"): `search_entities`, then
 *   `call_service` on the best match, then a sentence from the verified outcome;
 * - questions ("is the front door locked?"): `search_entities`, then `get_states`, or `get_states` of a
 *   whole domain for "which lights are on?";
 * - history ("what was the kitchen temperature today?"): `search_entities`, then `get_history`;
 * - services ("which services does the cover domain have?"): `list_services`;
 * - automations ("create an automation that turns on the porch light at sunset"): `search_entities`,
 *   `validate_automation`, then `create_automation`; "delete the automation" calls `delete_automation`
 *   with the id an earlier `create_automation` returned;
 * - searches ("find the balcony door"): `search_entities`;
 * - anything else: a labelled echo.
 *
 * Any tool may return `{error: {code, message}}`, which the rules quote.
 */

export interface ChatRequestLike {
  messages: unknown[];
  tools?: unknown;
}

interface Entry {
  entity_id: string;
  name?: string;
  state?: string;
  area?: string;
  unit?: string;
  attributes?: Record<string, unknown>;
}

interface ToolResult {
  name: string;
  args: Record<string, unknown>;
  value: Record<string, unknown>;
}

type ActionVerb = 'turn_on' | 'turn_off' | 'lock' | 'unlock' | 'open' | 'close';

type Intent =
  | { kind: 'action'; verb: ActionVerb; domain?: string; words: string[] }
  | { kind: 'question'; domain?: string; words: string[]; stateWord?: string }
  | { kind: 'history'; domain?: string; words: string[] }
  | { kind: 'services'; domain: string }
  | { kind: 'create_automation'; verb: 'turn_on' | 'turn_off'; domain?: string; words: string[]; trigger: Record<string, unknown>; when: string }
  | { kind: 'delete_automation' }
  | { kind: 'search'; domain?: string; words: string[] }
  | { kind: 'chat' };

/** Domains whose entities each action verb can change, and the service it calls there. */
const ACTION_SERVICES: Record<ActionVerb, Record<string, string>> = {
  turn_on: {
    light: 'turn_on',
    switch: 'turn_on',
    fan: 'turn_on',
    climate: 'turn_on',
    media_player: 'turn_on',
    input_boolean: 'turn_on',
    automation: 'turn_on',
    script: 'turn_on',
    scene: 'turn_on',
  },
  turn_off: {
    light: 'turn_off',
    switch: 'turn_off',
    fan: 'turn_off',
    climate: 'turn_off',
    media_player: 'turn_off',
    input_boolean: 'turn_off',
    automation: 'turn_off',
    script: 'turn_off',
  },
  lock: { lock: 'lock' },
  unlock: { lock: 'unlock' },
  open: { cover: 'open_cover', lock: 'open' },
  close: { cover: 'close_cover' },
};

const VERB_PHRASES: Record<ActionVerb, string> = {
  turn_on: 'turn on',
  turn_off: 'turn off',
  lock: 'lock',
  unlock: 'unlock',
  open: 'open',
  close: 'close',
};

/** Words that point at a domain, checked in order, so "garage door" means a cover before "door" means a sensor. */
const DOMAIN_HINTS: [RegExp, string][] = [
  [/\b(locks?|locked|unlock(ed)?)\b/, 'lock'],
  [/\b(garage|blinds?|curtains?|shades?|shutters?|covers?)\b/, 'cover'],
  [/\b(lights?|lamps?|bulbs?)\b/, 'light'],
  [/\bfans?\b/, 'fan'],
  [/\b(heating|heater|thermostat|radiators?|climate|hvac)\b/, 'climate'],
  [/\b(tv|television|speakers?|music|media|player)\b/, 'media_player'],
  [/\b(switch(es)?(?!\s+(on|off)\b)|plugs?|outlets?|sockets?)\b/, 'switch'],
  [/\balarm\b/, 'alarm_control_panel'],
  [/\b(weather|forecast|rain(ing)?)\b/, 'weather'],
  [/\b(who|anyone|anybody|somebody|people)\b/, 'person'],
  [/\b(temperature|humidity|power|energy|consumption|warm|cold)\b/, 'sensor'],
  [/\b(motion|doors?|windows?|contact)\b/, 'binary_sensor'],
  [/\bscenes?\b/, 'scene'],
];

/** Domain names as people write them in a question about services. */
const DOMAIN_NAMES: [RegExp, string][] = [...DOMAIN_HINTS, [/\blight\b/, 'light'], [/\b([a-z_]+)\s+domain\b/, '$1']];

const QUESTION_START = /^(what|whats|what's|is|are|how|which|who|where|when|does|do)\b/;
const SEARCH_START = /^(find|search( for)?|look for|where is|where's|list)\b/;
const HISTORY_WORDS = /\b(history|was|were|yesterday|earlier|last (hour|day|night|week)|past (hour|day|\d+ hours?)|today)\b/;
/** A state word at the end of a question such as "which lights are on?", which filters the answer. */
const STATE_WORD = /\b(on|off|open|closed|locked|unlocked|home|away)\s*\??$/;

const STOP_WORDS = new Set([
  'a',
  'an',
  'the',
  'please',
  'can',
  'could',
  'would',
  'you',
  'will',
  'turn',
  'switch',
  'power',
  'shut',
  'on',
  'off',
  'in',
  'of',
  'to',
  'my',
  'our',
  'is',
  'are',
  'what',
  'whats',
  's',
  'how',
  'which',
  'who',
  'where',
  'when',
  'does',
  'do',
  'it',
  'lock',
  'unlock',
  'open',
  'close',
  'and',
  'me',
  'for',
  'i',
  'set',
  'status',
  'state',
  'currently',
  'now',
  'right',
  'there',
  'any',
  'all',
  'at',
  'this',
  'that',
  'be',
  'up',
  'down',
  'locked',
  'unlocked',
  'closed',
  'was',
  'were',
  'today',
  'yesterday',
  'history',
  'earlier',
  'last',
  'past',
  'hour',
  'hours',
  'day',
  'week',
  'find',
  'search',
  'look',
  'list',
  'show',
  'change',
  'changed',
]);

/** Maximum number of entities one reply names. */
const MAX_ANSWERED_ENTITIES = 5;
const ECHO_LENGTH = 60;

/** Builds the reply for a request from the rules; `callId` gives the id of the n-th tool call. */
export function planFromRules(request: ChatRequestLike, callId: (index: number) => string): ReplyPlan {
  const messages = request.messages.filter(isRecord);
  const lastUserIndex = messages.findLastIndex((message) => message.role === 'user');
  const userText = lastUserIndex === -1 ? '' : textOf(messages[lastUserIndex]!.content);
  const results = toolResultsAfter(messages.slice(lastUserIndex + 1));
  const offered = offeredTools(request.tools);

  const steps: Steps = {
    results,
    text: (value) => ({ text: value, toolCalls: [] }),
    call: (name, args) =>
      offered.has(name)
        ? { text: '', toolCalls: [{ id: callId(0), name, arguments: JSON.stringify(args) }] }
        : { text: `I cannot do that right now, because the ${name} tool is not available to me.`, toolCalls: [] },
    offered,
  };

  const intent = parseIntent(userText);
  switch (intent.kind) {
    case 'chat':
      return steps.text(chatReply(userText));
    case 'action':
      return planAction(intent, steps);
    case 'question':
      return planQuestion(intent, steps);
    case 'history':
      return planHistory(intent, steps);
    case 'services':
      return planServices(intent, steps);
    case 'create_automation':
      return planCreateAutomation(intent, steps);
    case 'delete_automation':
      return planDeleteAutomation(messages, steps);
    case 'search':
      return planSearch(intent, steps);
  }
}

interface Steps {
  results: ToolResult[];
  text: (value: string) => ReplyPlan;
  call: (name: string, args: Record<string, unknown>) => ReplyPlan;
  offered: Set<string>;
}

/** Runs the first step of most rules: a search, or the text that reports its failure. */
function searched(steps: Steps, args: Record<string, unknown>): { plan: ReplyPlan } | { entries: Entry[] } {
  const result = lastResult(steps.results, 'search_entities');
  if (!result) return { plan: steps.call('search_entities', args) };
  const error = errorMessage(result.value);
  if (error) return { plan: steps.text(`Sorry, I could not search your home: ${error}`) };
  return { entries: entriesOf(result.value) };
}

function searchArgs(words: string[], domain: string | undefined): Record<string, unknown> {
  return { ...(words.length > 0 ? { query: words.join(' ') } : {}), ...(domain ? { domain } : {}) };
}

function planAction(intent: Extract<Intent, { kind: 'action' }>, steps: Steps): ReplyPlan {
  const found = searched(steps, searchArgs(intent.words, intent.domain));
  if ('plan' in found) return found.plan;

  const target = bestMatch(
    intent.words,
    found.entries.filter((entry) => domainOf(entry) in ACTION_SERVICES[intent.verb]),
  );
  if (!target) {
    const wanted = intent.words.join(' ') || 'that';
    return steps.text(`Sorry, I could not find a device matching "${wanted}" that I can ${VERB_PHRASES[intent.verb]}.`);
  }
  const domain = domainOf(target);
  const service = ACTION_SERVICES[intent.verb][domain]!;
  const name = displayName(target);

  const serviceResult = lastResult(steps.results, 'call_service');
  if (!serviceResult) {
    if (!steps.offered.has('call_service')) {
      // "turn it off", not "turn off it": a phrasal verb takes the pronoun before its particle.
      const phrase = VERB_PHRASES[intent.verb].replace(/^turn (on|off)$/, 'turn it $1').replace(/^(lock|unlock|open|close)$/, '$1 it');
      return steps.text(`I found ${name}, but I cannot ${phrase}, because the call_service tool is not available to me.`);
    }
    return steps.call('call_service', { domain, service, entity_ids: [target.entity_id] });
  }
  const failure = errorMessage(serviceResult.value);
  if (failure) return steps.text(refusal(VERB_PHRASES[intent.verb], name, failure));
  return steps.text(describeOutcome(serviceResult.value, target, name));
}

/** Says what a verified service call did. */
function describeOutcome(value: Record<string, unknown>, target: Entry, name: string): string {
  const entities = Array.isArray(value.entities) ? value.entities.filter(isRecord) : [];
  const entity = entities.find((item) => item.entity_id === target.entity_id) ?? entities[0];
  const state = typeof entity?.state === 'string' ? describeState(entity.state) : 'unknown';
  if (value.outcome === 'changed' || entity?.outcome === 'changed') return `Done: ${name} is now ${state}.`;
  if (value.outcome === 'partial') return `Only part of it worked: ${name} is ${state}.`;
  return `Nothing changed: ${name} is still ${state}.`;
}

/** Phrases a failed or refused action, with a kinder wording for a declined or expired confirmation. */
function refusal(verbPhrase: string, name: string, failure: string): string {
  if (/declined/i.test(failure)) return `OK, I did not ${verbPhrase} ${name}, because you declined.`;
  if (/expired/i.test(failure)) return `I did not ${verbPhrase} ${name}: nobody confirmed it in time.`;
  return `Sorry, I could not ${verbPhrase} ${name}: ${failure}`;
}

function planQuestion(intent: Extract<Intent, { kind: 'question' }>, steps: Steps): ReplyPlan {
  const hint = DOMAIN_HINTS.find(([, domain]) => domain === intent.domain)?.[0];
  const nameWords = hint ? intent.words.filter((word) => !hint.test(word) && !hint.test(`${word}s`)) : intent.words;

  // "Which lights are on?" names only a domain, so the whole domain is read.
  if (nameWords.length === 0 && intent.domain) {
    const states = lastResult(steps.results, 'get_states');
    if (!states) return steps.call('get_states', { domain: intent.domain });
    const error = errorMessage(states.value);
    if (error) return steps.text(`Sorry, I could not read the states of your home: ${error}`);
    return steps.text(answerDomain(intent.domain, entriesOf(states.value), intent.stateWord, states.value));
  }

  const found = searched(steps, searchArgs(intent.words, intent.domain));
  if ('plan' in found) return found.plan;
  if (found.entries.length === 0) return steps.text(`Sorry, I could not find anything matching "${intent.words.join(' ')}" in your home.`);

  const chosen = topMatches(intent.words, found.entries);
  const states = lastResult(steps.results, 'get_states');
  if (!states) return steps.call('get_states', { entity_ids: chosen.map((entry) => entry.entity_id) });
  const error = errorMessage(states.value);
  if (error) return steps.text(`Sorry, I could not read the states of your home: ${error}`);
  const read = entriesOf(states.value);
  return steps.text(
    read
      .slice(0, MAX_ANSWERED_ENTITIES)
      .map((entry) => `${displayName(entry)} is ${describeState(entry.state ?? 'unknown', entry.attributes, entry.unit)}.`)
      .join(' ') || 'I could not read any of those states.',
  );
}

function answerDomain(domain: string, entries: Entry[], stateWord: string | undefined, value: Record<string, unknown>): string {
  const label = domain.replace(/_/g, ' ');
  if (entries.length === 0) return `I found no ${label} entities in your home.`;
  const total = typeof value.total === 'number' ? value.total : entries.length;
  const partial = total > entries.length ? ` (I read ${entries.length} of ${total})` : '';
  if (stateWord) {
    const wanted = stateWord === 'away' ? 'not_home' : stateWord;
    const matching = entries.filter((entry) => entry.state === wanted);
    if (matching.length === 0) return `No ${label} is ${stateWord}${partial}.`;
    const names = matching.slice(0, MAX_ANSWERED_ENTITIES * 2).map(displayName);
    const more = matching.length > names.length ? ` and ${matching.length - names.length} more` : '';
    return `${matching.length === 1 ? 'This one is' : `These ${matching.length} are`} ${stateWord}${partial}: ${names.join(', ')}${more}.`;
  }
  return entries
    .slice(0, MAX_ANSWERED_ENTITIES)
    .map((entry) => `${displayName(entry)} is ${describeState(entry.state ?? 'unknown', entry.attributes, entry.unit)}.`)
    .join(' ');
}

function planHistory(intent: Extract<Intent, { kind: 'history' }>, steps: Steps): ReplyPlan {
  const found = searched(steps, searchArgs(intent.words, intent.domain));
  if ('plan' in found) return found.plan;
  const target = bestMatch(intent.words, found.entries);
  if (!target) return steps.text(`Sorry, I could not find anything matching "${intent.words.join(' ')}" in your home.`);

  const history = lastResult(steps.results, 'get_history');
  if (!history) return steps.call('get_history', { entity_ids: [target.entity_id], hours: 24 });
  const error = errorMessage(history.value);
  if (error) return steps.text(`Sorry, I could not read the history: ${error}`);
  const entity = (Array.isArray(history.value.entities) ? history.value.entities.filter(isRecord) : [])[0];
  const states = Array.isArray(entity?.states) ? entity.states.filter(isRecord) : [];
  if (states.length === 0) return steps.text(`${displayName(target)} has no recorded states in the last 24 hours.`);
  const values = states.map((row) => describeState(String(row.state), target.attributes, target.unit));
  const changes = Math.max(0, states.length - 1);
  return steps.text(
    `${displayName(target)} over the last 24 hours: ${values.slice(-MAX_ANSWERED_ENTITIES * 2).join(', ')} (${changes} change${changes === 1 ? '' : 's'}); now ${values.at(-1)}.`,
  );
}

function planServices(intent: Extract<Intent, { kind: 'services' }>, steps: Steps): ReplyPlan {
  const listed = lastResult(steps.results, 'list_services');
  if (!listed) return steps.call('list_services', { domain: intent.domain });
  const error = errorMessage(listed.value);
  if (error) return steps.text(`Sorry, I could not list the services: ${error}`);
  const services = Array.isArray(listed.value.services) ? listed.value.services.filter(isRecord) : [];
  const allowed = services.filter((service) => service.allowed === true).map((service) => String(service.service));
  const blocked = services.filter((service) => service.allowed !== true).map((service) => String(service.service));
  return steps.text(
    `The ${intent.domain.replace(/_/g, ' ')} domain has ${services.length} services. I may use: ${allowed.join(', ') || 'none'}.${blocked.length > 0 ? ` Not allowed for me: ${blocked.join(', ')}.` : ''}`,
  );
}

function automationYaml(alias: string, trigger: Record<string, unknown>, service: string, entityId: string): string {
  const triggerLines = Object.entries(trigger).map(([key, value], index) => `${index === 0 ? '  - ' : '    '}${key}: ${JSON.stringify(value)}`);
  return [
    `alias: ${JSON.stringify(alias)}`,
    'description: "Created by the scripted demo model."',
    'mode: single',
    'triggers:',
    ...triggerLines,
    'actions:',
    `  - action: ${service}`,
    '    target:',
    `      entity_id: ${entityId}`,
    '',
  ].join('\n');
}

function planCreateAutomation(intent: Extract<Intent, { kind: 'create_automation' }>, steps: Steps): ReplyPlan {
  const found = searched(steps, searchArgs(intent.words, intent.domain));
  if ('plan' in found) return found.plan;
  const target = bestMatch(
    intent.words,
    found.entries.filter((entry) => domainOf(entry) in ACTION_SERVICES[intent.verb]),
  );
  if (!target) return steps.text(`Sorry, I could not find a device matching "${intent.words.join(' ')}" for the automation.`);

  const domain = domainOf(target);
  const name = displayName(target);
  const alias = `${name} ${intent.verb === 'turn_on' ? 'on' : 'off'} ${intent.when}`;
  const config = automationYaml(alias, intent.trigger, `${domain}.${ACTION_SERVICES[intent.verb][domain]}`, target.entity_id);

  const validated = lastResult(steps.results, 'validate_automation');
  if (!validated) return steps.call('validate_automation', { config });
  const invalid = errorMessage(validated.value);
  if (invalid) return steps.text(`I could not draft a valid automation: ${invalid}`);

  const created = lastResult(steps.results, 'create_automation');
  if (!created) return steps.call('create_automation', { config });
  const failure = errorMessage(created.value);
  if (failure) {
    if (/declined/i.test(failure)) return steps.text(`OK, I did not create the automation "${alias}", because you declined.`);
    if (/expired/i.test(failure)) return steps.text(`I did not create the automation "${alias}": nobody confirmed it in time.`);
    return steps.text(`Sorry, I could not create the automation: ${failure}`);
  }
  const entityId = typeof created.value.entity_id === 'string' ? ` (${created.value.entity_id})` : '';
  return steps.text(`Created the automation "${alias}"${entityId}. It will ${VERB_PHRASES[intent.verb]} ${name} ${intent.when}.`);
}

function planDeleteAutomation(messages: Record<string, unknown>[], steps: Steps): ReplyPlan {
  const deleted = lastResult(steps.results, 'delete_automation');
  if (deleted) {
    const failure = errorMessage(deleted.value);
    if (failure) {
      if (/declined/i.test(failure)) return steps.text('OK, I kept the automation, because you declined.');
      return steps.text(`Sorry, I could not delete the automation: ${failure}`);
    }
    return steps.text(`Deleted the automation${typeof deleted.value.alias === 'string' ? ` "${deleted.value.alias}"` : ''}.`);
  }
  const created = toolResultsAfter(messages)
    .filter((result) => result.name === 'create_automation' && typeof result.value.automation_id === 'string')
    .at(-1);
  if (!created) return steps.text('I have not created an automation in this conversation that I could delete.');
  return steps.call('delete_automation', { automation_id: created.value.automation_id });
}

function planSearch(intent: Extract<Intent, { kind: 'search' }>, steps: Steps): ReplyPlan {
  if (intent.words.length === 0 && !intent.domain) return steps.text('What should I look for?');
  const result = lastResult(steps.results, 'search_entities');
  if (!result) return steps.call('search_entities', { ...searchArgs(intent.words, undefined), limit: MAX_ANSWERED_ENTITIES });
  const error = errorMessage(result.value);
  if (error) return steps.text(`Sorry, I could not search your home: ${error}`);
  const entries = entriesOf(result.value);
  if (entries.length === 0) return steps.text(`I found nothing matching "${intent.words.join(' ')}".`);
  const total = typeof result.value.total === 'number' ? result.value.total : entries.length;
  const listed = entries.map((entry) => `${displayName(entry)} (${entry.entity_id}${entry.area ? `, ${entry.area}` : ''})`);
  return steps.text(`I found ${total} match${total === 1 ? '' : 'es'}: ${listed.join('; ')}.`);
}

/** Reads "at sunset", "at sunrise" or "at 23:00" from an automation request. */
function parseTrigger(text: string): { trigger: Record<string, unknown>; when: string } | undefined {
  const sun = /\b(sunset|sunrise)\b/.exec(text);
  if (sun) return { trigger: { trigger: 'sun', event: sun[1] }, when: `at ${sun[1]}` };
  const time = /\bat (\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b/.exec(text);
  if (!time) return undefined;
  let hour = Number(time[1]);
  if (time[3] === 'pm' && hour < 12) hour += 12;
  if (time[3] === 'am' && hour === 12) hour = 0;
  const clock = `${String(hour).padStart(2, '0')}:${time[2] ?? '00'}`;
  return { trigger: { trigger: 'time', at: `${clock}:00` }, when: `at ${clock}` };
}

function parseIntent(userText: string): Intent {
  const text = userText.toLowerCase().trim();
  if (text === '') return { kind: 'chat' };
  const words = keywords(text);
  const domain = DOMAIN_HINTS.find(([pattern]) => pattern.test(text))?.[1];

  if (/\bautomations?\b/.test(text)) {
    if (/\b(delete|remove|undo)\b/.test(text)) return { kind: 'delete_automation' };
    if (/\b(create|make|add|set up|build)\b/.test(text)) {
      const verb = actionVerb(text);
      const trigger = parseTrigger(text);
      if ((verb === 'turn_on' || verb === 'turn_off') && trigger) {
        const actionWords = keywords(text.replace(/\bautomations?\b|\b(create|make|add|set up|build|sunset|sunrise|turns?|switch(es)?)\b/g, ' ')).filter(
          (word) => !/^\d/.test(word),
        );
        return { kind: 'create_automation', verb, domain: domain && domain in ACTION_SERVICES[verb] ? domain : undefined, words: actionWords, ...trigger };
      }
    }
  }
  if (/\b(services?|actions?)\b/.test(text) && (QUESTION_START.test(text) || /^(list|show)\b/.test(text))) {
    const named = DOMAIN_NAMES.map(([pattern, name]) => {
      const match = pattern.exec(text);
      return match ? name.replace('$1', match[1] ?? '') : undefined;
    }).find(Boolean);
    if (named) return { kind: 'services', domain: named };
  }
  if (SEARCH_START.test(text)) return { kind: 'search', domain, words };
  if (QUESTION_START.test(text) && HISTORY_WORDS.test(text)) return { kind: 'history', domain, words };
  if (QUESTION_START.test(text)) return { kind: 'question', domain, words, stateWord: STATE_WORD.exec(text)?.[1] };

  const verb = actionVerb(text);
  if (verb) {
    const allowed = ACTION_SERVICES[verb];
    return { kind: 'action', verb, domain: domain && domain in allowed ? domain : undefined, words };
  }
  if (text.endsWith('?')) return { kind: 'question', domain, words, stateWord: STATE_WORD.exec(text)?.[1] };
  return { kind: 'chat' };
}

function actionVerb(text: string): ActionVerb | undefined {
  // "turn on the light", "turn the light on" and "turns on the light": the first on/off within a few words.
  const turn = /\b(turns?|switch(es)?|power)\b(?:\s+\S+){0,6}?\s+(on|off)\b/.exec(text);
  if (turn) return turn[3] === 'on' ? 'turn_on' : 'turn_off';
  if (/\bshut\s+(off|down)\b/.test(text)) return 'turn_off';
  if (/\bunlock\b/.test(text)) return 'unlock';
  if (/\block\b/.test(text)) return 'lock';
  if (/\bopen\b/.test(text)) return 'open';
  if (/\bclose\b/.test(text)) return 'close';
  return undefined;
}

function normaliseWord(word: string): string {
  return word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
}

function keywords(text: string): string[] {
  const words = (text.match(/[a-z0-9]+/g) ?? []).filter((word) => !STOP_WORDS.has(word)).map(normaliseWord);
  return [...new Set(words)];
}

function entityWords(entry: Entry): Set<string> {
  const objectId = entry.entity_id.split('.')[1] ?? '';
  const words = `${displayName(entry)} ${objectId.replace(/_/g, ' ')}`.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  return new Set(words.map(normaliseWord));
}

/** Scores entities by shared words with the request; ties go to fewer unmatched words, then entity id. */
function rankMatches(words: string[], entries: Entry[]): { entry: Entry; score: number }[] {
  return entries
    .map((entry) => {
      const names = entityWords(entry);
      const score = words.filter((word) => names.has(word)).length;
      const extra = [...names].filter((word) => !words.includes(word)).length;
      return { entry, score, extra };
    })
    .sort((a, b) => b.score - a.score || a.extra - b.extra || a.entry.entity_id.localeCompare(b.entry.entity_id))
    .map(({ entry, score }) => ({ entry, score }));
}

function bestMatch(words: string[], entries: Entry[]): Entry | undefined {
  const [best] = rankMatches(words, entries);
  if (!best) return undefined;
  // A request without any matching word still works when only one entity can be meant.
  return best.score > 0 || entries.length === 1 ? best.entry : undefined;
}

/** Picks the entities that share the most words with the question, at most five. */
function topMatches(words: string[], entries: Entry[]): Entry[] {
  const ranked = rankMatches(words, entries);
  const bestScore = ranked[0]?.score ?? 0;
  const chosen = bestScore > 0 ? ranked.filter((item) => item.score === bestScore) : ranked;
  return chosen.slice(0, MAX_ANSWERED_ENTITIES).map((item) => item.entry);
}

function describeState(state: string, attributes?: Record<string, unknown>, unit?: string): string {
  const shownUnit = unit ?? attributes?.unit_of_measurement;
  if (typeof shownUnit === 'string' && shownUnit !== '') return shownUnit === '%' ? `${state}%` : `${state} ${shownUnit}`;
  if (state === 'not_home') return 'away';
  return state.replace(/_/g, ' ');
}

function chatReply(userText: string): string {
  const collapsed = userText.replace(/\s+/g, ' ').trim();
  if (collapsed === '') {
    return 'Hello! I am the scripted demo model, not a real language model. Ask me to turn a light on or off, or ask whether a door is locked.';
  }
  const echo = collapsed.length > ECHO_LENGTH ? `${collapsed.slice(0, ECHO_LENGTH)}…` : collapsed;
  return (
    `Hello! I am the scripted demo model, not a real language model, so I only follow a few simple patterns. ` +
    `You wrote: "${echo}". Try "turn on the kitchen light", "is the front door locked?", "unlock the front door" or ` +
    `"create an automation that turns on the porch light at sunset".`
  );
}

function toolResultsAfter(messages: Record<string, unknown>[]): ToolResult[] {
  const callsById = new Map<string, { name: string; args: Record<string, unknown> }>();
  const results: ToolResult[] = [];
  for (const message of messages) {
    if (message.role === 'assistant' && Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls.filter(isRecord)) {
        const fn = isRecord(call.function) ? call.function : {};
        callsById.set(String(call.id), { name: String(fn.name), args: parseObject(String(fn.arguments ?? '{}')) });
      }
    }
    if (message.role === 'tool') {
      const call = callsById.get(String(message.tool_call_id));
      if (call) results.push({ ...call, value: parseToolContent(textOf(message.content)) });
    }
  }
  return results;
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return isRecord(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** HA AI Agent wraps each tool result as `<tool_result name="...">JSON</tool_result>`; bare JSON also works. */
const TOOL_RESULT_BLOCK = /^\s*<tool_result[^>]*>([\s\S]*)<\/tool_result>\s*$/;

function parseToolContent(content: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(TOOL_RESULT_BLOCK.exec(content)?.[1] ?? content);
    if (isRecord(parsed)) return parsed;
  } catch {
    // Fall through: a tool result that is not a JSON object counts as a failed call.
  }
  return { error: { code: 'invalid_result', message: `the tool returned something other than a JSON object: ${content.slice(0, 80)}` } };
}

function lastResult(results: ToolResult[], name: string): ToolResult | undefined {
  return results.findLast((result) => result.name === name);
}

function errorMessage(value: Record<string, unknown>): string | undefined {
  const error = value.error;
  if (error === undefined || error === null) return value.ok === false ? 'the tool reported a failure without a message' : undefined;
  if (isRecord(error) && typeof error.message === 'string') return error.message;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/** Entities of a search result (`entities`) or a states result (`states`). */
function entriesOf(value: Record<string, unknown>): Entry[] {
  const list = Array.isArray(value.entities) ? value.entities : Array.isArray(value.states) ? value.states : [];
  return list.filter((item): item is Entry => isRecord(item) && typeof item.entity_id === 'string');
}

function offeredTools(tools: unknown): Set<string> {
  const names = new Set<string>();
  if (Array.isArray(tools)) {
    for (const tool of tools.filter(isRecord)) {
      if (isRecord(tool.function) && typeof tool.function.name === 'string') names.add(tool.function.name);
    }
  }
  return names;
}

function displayName(entry: Entry): string {
  if (typeof entry.name === 'string' && entry.name !== '') return entry.name;
  const friendly = entry.attributes?.friendly_name;
  return typeof friendly === 'string' && friendly !== '' ? friendly : entry.entity_id;
}

function domainOf(entry: Entry): string {
  return entry.entity_id.split('.')[0]!;
}

/** Joins the text of a message content, which may be a string or an array of content parts. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .filter(isRecord)
      .map((part) => (typeof part.text === 'string' ? part.text : ''))
      .join('');
  }
  return '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
