import type { ReplyPlan } from './types.js';

/**
 * Deterministic replies chosen from a chat request, for the tools the agent offers:
 * `get_states({domain?, entity_ids?})` returning `{states: [{entity_id, name, state, attributes?}]}` and
 * `call_service({domain, service, entity_ids, data?})` returning `{ok, changed}`; either may return
 * `{error: {code, message}}`. The rules read the last user message and the tool calls and results after
 * it, so each step runs once and a conversation always ends in text.
 */

export interface ChatRequestLike {
  messages: unknown[];
  tools?: unknown;
}

interface StateEntry {
  entity_id: string;
  name?: string;
  state: string;
  attributes?: Record<string, unknown>;
}

interface ToolResult {
  name: string;
  value: Record<string, unknown>;
}

type Intent =
  | { kind: 'action'; verb: ActionVerb; domain?: string; words: string[] }
  | { kind: 'question'; domain?: string; words: string[] }
  | { kind: 'chat' };

type ActionVerb = 'turn_on' | 'turn_off' | 'lock' | 'unlock' | 'open' | 'close';

/** Domains whose entities each action verb can change, and the service it calls there. */
const ACTION_SERVICES: Record<ActionVerb, Record<string, string>> = {
  turn_on: {
    light: 'turn_on', switch: 'turn_on', fan: 'turn_on', climate: 'turn_on', media_player: 'turn_on',
    input_boolean: 'turn_on', automation: 'turn_on', script: 'turn_on',
  },
  turn_off: {
    light: 'turn_off', switch: 'turn_off', fan: 'turn_off', climate: 'turn_off', media_player: 'turn_off',
    input_boolean: 'turn_off', automation: 'turn_off', script: 'turn_off',
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

/** The state an entity is expected in after each service, used when the tool result does not include it. */
const EXPECTED_STATES: Record<string, string> = {
  turn_on: 'on',
  turn_off: 'off',
  lock: 'locked',
  unlock: 'unlocked',
  open: 'open',
  open_cover: 'open',
  close_cover: 'closed',
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

const QUESTION_START = /^(what|whats|what's|is|are|how|which|who|where|when|does|do)\b/;

const STOP_WORDS = new Set([
  'a', 'an', 'the', 'please', 'can', 'could', 'would', 'you', 'will', 'turn', 'switch', 'power', 'shut', 'on', 'off',
  'in', 'of', 'to', 'my', 'our', 'is', 'are', 'what', 'whats', 's', 'how', 'which', 'who', 'where', 'when', 'does',
  'do', 'it', 'lock', 'unlock', 'open', 'close', 'and', 'me', 'for', 'i', 'set', 'status', 'state', 'currently',
  'now', 'right', 'there', 'any', 'all', 'at', 'this', 'that', 'be', 'up', 'down', 'locked', 'unlocked', 'closed',
]);

/** Maximum number of entities one answer to a question names. */
const MAX_ANSWERED_ENTITIES = 5;
const ECHO_LENGTH = 60;

/** Builds the reply for a request from the rules; `callId` gives the id of the n-th tool call. */
export function planFromRules(request: ChatRequestLike, callId: (index: number) => string): ReplyPlan {
  const messages = request.messages.filter(isRecord);
  const lastUserIndex = messages.findLastIndex((message) => message.role === 'user');
  const userText = lastUserIndex === -1 ? '' : textOf(messages[lastUserIndex]!.content);
  const results = toolResultsAfter(messages.slice(lastUserIndex + 1));
  const offered = offeredTools(request.tools);

  const intent = parseIntent(userText);
  const text = (value: string): ReplyPlan => ({ text: value, toolCalls: [] });
  const call = (name: string, args: Record<string, unknown>): ReplyPlan => ({
    text: '',
    toolCalls: [{ id: callId(0), name, arguments: JSON.stringify(args) }],
  });

  if (intent.kind === 'chat') {
    return text(chatReply(userText));
  }

  const statesResult = lastResult(results, 'get_states');
  if (!statesResult) {
    if (!offered.has('get_states')) {
      return text('I cannot look at your home right now, because the get_states tool is not available to me.');
    }
    return call('get_states', intent.domain ? { domain: intent.domain } : {});
  }
  const statesError = errorMessage(statesResult.value);
  if (statesError) {
    return text(`Sorry, I could not read the states of your home: ${statesError}`);
  }
  const states = statesOf(statesResult.value);

  if (intent.kind === 'question') {
    return text(answerQuestion(intent, states));
  }

  const target = bestMatch(intent.words, states.filter((state) => domainOf(state) in ACTION_SERVICES[intent.verb]));
  if (!target) {
    const wanted = intent.words.join(' ') || 'that';
    return text(`Sorry, I could not find a device matching "${wanted}" that I can ${VERB_PHRASES[intent.verb]}.`);
  }
  const domain = domainOf(target);
  const service = ACTION_SERVICES[intent.verb][domain]!;
  const name = displayName(target);

  const serviceResult = lastResult(results, 'call_service');
  if (serviceResult) {
    const failure = errorMessage(serviceResult.value);
    if (failure) {
      return text(`Sorry, I could not ${VERB_PHRASES[intent.verb]} ${name}: ${failure}`);
    }
    const newState = changedState(serviceResult.value, target.entity_id) ?? EXPECTED_STATES[service] ?? 'updated';
    return text(`Done: ${name} is now ${describeState(newState)}.`);
  }
  if (!offered.has('call_service')) {
    return text(`I found ${name}, but I cannot ${VERB_PHRASES[intent.verb]} it, because the call_service tool is not available to me.`);
  }
  return call('call_service', { domain, service, entity_ids: [target.entity_id] });
}

function parseIntent(userText: string): Intent {
  const text = userText.toLowerCase().trim();
  if (text === '') {
    return { kind: 'chat' };
  }
  const words = keywords(text);
  const domain = DOMAIN_HINTS.find(([pattern]) => pattern.test(text))?.[1];

  if (QUESTION_START.test(text)) {
    return { kind: 'question', domain, words };
  }
  const verb = actionVerb(text);
  if (verb) {
    const allowed = ACTION_SERVICES[verb];
    return { kind: 'action', verb, domain: domain && domain in allowed ? domain : undefined, words };
  }
  if (text.endsWith('?')) {
    return { kind: 'question', domain, words };
  }
  return { kind: 'chat' };
}

function actionVerb(text: string): ActionVerb | undefined {
  // "turn on the light" and "turn the light on": the first on/off within a few words of the verb.
  const turn = /\b(turn|switch|power)\b(?:\s+\S+){0,6}?\s+(on|off)\b/.exec(text);
  if (turn) {
    return turn[2] === 'on' ? 'turn_on' : 'turn_off';
  }
  if (/\bshut\s+(off|down)\b/.test(text)) {
    return 'turn_off';
  }
  if (/\bunlock\b/.test(text)) {
    return 'unlock';
  }
  if (/\block\b/.test(text)) {
    return 'lock';
  }
  if (/\bopen\b/.test(text)) {
    return 'open';
  }
  if (/\bclose\b/.test(text)) {
    return 'close';
  }
  return undefined;
}

function normaliseWord(word: string): string {
  return word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
}

function keywords(text: string): string[] {
  const words = (text.match(/[a-z0-9]+/g) ?? []).filter((word) => !STOP_WORDS.has(word)).map(normaliseWord);
  return [...new Set(words)];
}

function entityWords(state: StateEntry): Set<string> {
  const objectId = state.entity_id.split('.')[1] ?? '';
  const words = `${displayName(state)} ${objectId.replace(/_/g, ' ')}`.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  return new Set(words.map(normaliseWord));
}

/** Scores entities by shared words with the request; ties go to fewer unmatched words, then entity id. */
function rankMatches(words: string[], states: StateEntry[]): { state: StateEntry; score: number }[] {
  return states
    .map((state) => {
      const names = entityWords(state);
      const score = words.filter((word) => names.has(word)).length;
      const extra = [...names].filter((word) => !words.includes(word)).length;
      return { state, score, extra };
    })
    .sort((a, b) => b.score - a.score || a.extra - b.extra || a.state.entity_id.localeCompare(b.state.entity_id))
    .map(({ state, score }) => ({ state, score }));
}

function bestMatch(words: string[], states: StateEntry[]): StateEntry | undefined {
  const [best] = rankMatches(words, states);
  if (!best) {
    return undefined;
  }
  // A request without any matching word still works when only one entity can be meant.
  return best.score > 0 || states.length === 1 ? best.state : undefined;
}

function answerQuestion(intent: Extract<Intent, { kind: 'question' }>, states: StateEntry[]): string {
  const candidates = intent.domain ? states.filter((state) => domainOf(state) === intent.domain) : states;
  if (candidates.length === 0) {
    return intent.domain
      ? `I found no ${intent.domain.replace(/_/g, ' ')} entities in your home.`
      : 'I found no entities in your home.';
  }

  // "Which lights are on?" names only the domain, not an entity, so the reply covers the whole domain.
  const hint = DOMAIN_HINTS.find(([, domain]) => domain === intent.domain)?.[0];
  const nameWords = hint ? intent.words.filter((word) => !hint.test(word) && !hint.test(`${word}s`)) : intent.words;

  const ranked = rankMatches(intent.words, candidates);
  const bestScore = ranked[0]!.score;
  let chosen: StateEntry[] = [];
  if (nameWords.length > 0 && bestScore > 0) {
    chosen = ranked.filter((entry) => entry.score === bestScore).map((entry) => entry.state);
  }
  if (chosen.length === 0) {
    if (!intent.domain) {
      return `Sorry, I could not find anything matching "${intent.words.join(' ')}" in your home.`;
    }
    chosen = [...candidates].sort((a, b) => a.entity_id.localeCompare(b.entity_id));
  }
  return chosen
    .slice(0, MAX_ANSWERED_ENTITIES)
    .map((state) => `${displayName(state)} is ${describeState(state.state, state.attributes)}.`)
    .join(' ');
}

function describeState(state: string, attributes?: Record<string, unknown>): string {
  const unit = attributes?.unit_of_measurement;
  if (typeof unit === 'string' && unit !== '') {
    return unit === '%' ? `${state}%` : `${state} ${unit}`;
  }
  if (state === 'not_home') {
    return 'away';
  }
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
    `You wrote: "${echo}". Try "turn on the kitchen light", "lock the front door" or "is the front door locked?".`
  );
}

function toolResultsAfter(messages: Record<string, unknown>[]): ToolResult[] {
  const namesById = new Map<string, string>();
  const results: ToolResult[] = [];
  for (const message of messages) {
    if (message.role === 'assistant' && Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls.filter(isRecord)) {
        const fn = isRecord(call.function) ? call.function : {};
        namesById.set(String(call.id), String(fn.name));
      }
    }
    if (message.role === 'tool') {
      const name = namesById.get(String(message.tool_call_id));
      if (name) {
        results.push({ name, value: parseToolContent(textOf(message.content)) });
      }
    }
  }
  return results;
}

/** HA AI Agent wraps each tool result as `<tool_result name="...">JSON</tool_result>`; bare JSON also works. */
const TOOL_RESULT_BLOCK = /^\s*<tool_result[^>]*>([\s\S]*)<\/tool_result>\s*$/;

function parseToolContent(content: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(TOOL_RESULT_BLOCK.exec(content)?.[1] ?? content);
    if (isRecord(parsed)) {
      return parsed;
    }
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
  if (error === undefined || error === null) {
    return value.ok === false ? 'the tool reported a failure without a message' : undefined;
  }
  if (isRecord(error) && typeof error.message === 'string') {
    return error.message;
  }
  return typeof error === 'string' ? error : JSON.stringify(error);
}

function statesOf(value: Record<string, unknown>): StateEntry[] {
  if (!Array.isArray(value.states)) {
    return [];
  }
  return value.states.filter(
    (item): item is StateEntry => isRecord(item) && typeof item.entity_id === 'string' && typeof item.state === 'string',
  );
}

function changedState(value: Record<string, unknown>, entityId: string): string | undefined {
  if (!Array.isArray(value.changed)) {
    return undefined;
  }
  const entry = value.changed.find((item) => isRecord(item) && item.entity_id === entityId);
  return isRecord(entry) && typeof entry.state === 'string' ? entry.state : undefined;
}

function offeredTools(tools: unknown): Set<string> {
  const names = new Set<string>();
  if (Array.isArray(tools)) {
    for (const tool of tools.filter(isRecord)) {
      if (isRecord(tool.function) && typeof tool.function.name === 'string') {
        names.add(tool.function.name);
      }
    }
  }
  return names;
}

function displayName(state: StateEntry): string {
  if (typeof state.name === 'string' && state.name !== '') {
    return state.name;
  }
  const friendly = state.attributes?.friendly_name;
  return typeof friendly === 'string' && friendly !== '' ? friendly : state.entity_id;
}

function domainOf(state: StateEntry): string {
  return state.entity_id.split('.')[0]!;
}

/** Joins the text of a message content, which may be a string or an array of content parts. */
function textOf(content: unknown): string {
  if (typeof content === 'string') {
    return content;
  }
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
