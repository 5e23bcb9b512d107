import { z } from 'zod';
import type { HomeAssistantClient } from '../../home-assistant/home-assistant.js';
import type { HomeIndex, IndexedEntity } from '../../home-assistant/home-index.js';
import { groupMembers } from '../../home-assistant/group-members.js';
import { StateVerifier, type EntityVerification } from '../../home-assistant/state-verifier.js';
import { HomeAssistantCommandError } from '../../home-assistant/websocket-connection.js';
import { isAppError } from '../../security/errors.js';
import { HIDDEN_VALUE, hideSecretArguments, SECRET_DATA_KEYS } from './hidden-arguments.js';
import { serviceFields } from './list-services.js';
import {
  availableHome,
  defineTool,
  DOMAIN_PATTERN,
  ENTITY_ID_PATTERN,
  failed,
  rejected,
  type ToolContext,
  type ToolOutcome,
  type ToolVerification,
} from './tool.js';

/** Maximum entities one call may act on; a larger target is more likely a mistake than a wish. */
const MAX_TARGET_ENTITIES = 50;

/** Keys that select entities; the agent must name targets in the arguments, where they are checked. */
const TARGET_KEYS = ['entity_id', 'area_id', 'device_id', 'floor_id', 'label_id'];

/** Data keys whose values stay out of summaries, such as an alarm code. */

/** Services of the script domain that act on script entities; any other script service runs the script of that name. */
const SCRIPT_ENTITY_SERVICES = new Set(['turn_on', 'turn_off', 'toggle', 'reload']);

const VERBS: Record<string, string> = {
  turn_on: 'Turn on',
  turn_off: 'Turn off',
  toggle: 'Toggle',
  lock: 'Lock',
  unlock: 'Unlock',
  open: 'Open (unlatch)',
  open_cover: 'Open',
  close_cover: 'Close',
  set_cover_position: 'Set the position of',
  alarm_disarm: 'Disarm',
  alarm_arm_home: 'Arm (home)',
  alarm_arm_away: 'Arm (away)',
  alarm_arm_night: 'Arm (night)',
};

const argumentsSchema = z.object({
  domain: z.string().regex(DOMAIN_PATTERN, 'a domain such as light').describe('Service domain, such as light.'),
  service: z.string().regex(DOMAIN_PATTERN, 'a service such as turn_on').describe('Service name, such as turn_on.'),
  entity_ids: z
    .array(z.string().regex(ENTITY_ID_PATTERN, 'an entity id such as light.kitchen'))
    .max(MAX_TARGET_ENTITIES)
    .nullish()
    .describe('Target entities.'),
  area_ids: z.array(z.string().min(1).max(100)).max(10).nullish().describe('Target every exposed entity of the domain in these areas (id or name).'),
  device_ids: z.array(z.string().min(1).max(64)).max(10).nullish().describe('Target every exposed entity of the domain on these devices.'),
  data: z.record(z.string(), z.unknown()).nullish().describe('Service data, such as {"brightness_pct": 50}. Use list_services to see the fields.'),
});

type CallArguments = z.output<typeof argumentsSchema>;

type Resolution = { ok: true; entities: IndexedEntity[] } | { ok: false; outcome: ToolOutcome };

/** Resolves entity, area and device targets to exposed entities of the service's domain. */
function resolveTargets(index: HomeIndex, args: CallArguments): Resolution {
  const inDomain = (domain: string) => args.domain === 'homeassistant' || domain === args.domain;
  const chosen = new Map<string, IndexedEntity>();

  const hidden: string[] = [];
  for (const entityId of args.entity_ids ?? []) {
    const entity = index.get(entityId);
    if (!entity) hidden.push(entityId);
    else if (!inDomain(entity.domain)) {
      return {
        ok: false,
        outcome: rejected(
          'BAD_USER_INPUT',
          `${entityId} is not a ${args.domain} entity; call a ${entity.domain} service for it, such as ${entity.domain}.${args.service}.`,
        ),
      };
    } else chosen.set(entityId, entity);
  }
  if (hidden.length > 0) {
    return {
      ok: false,
      outcome: rejected(
        'NOT_FOUND',
        `These entities do not exist or are not exposed to you: ${hidden.join(', ')}. Nothing was done. Find entity ids with search_entities.`,
      ),
    };
  }

  // The call names the exposed entities of an area or device one by one, so unexposed ones are not acted on.
  for (const reference of args.area_ids ?? []) {
    const area = index.findArea(reference);
    if (!area) return { ok: false, outcome: rejected('NOT_FOUND', `No area matches "${reference}". Nothing was done.`) };
    for (const entity of index.selectTargets({ areaIds: [area.area_id] }, inDomain).exposed) chosen.set(entity.entityId, entity);
  }
  for (const deviceId of args.device_ids ?? []) {
    const entities = index.selectTargets({ deviceIds: [deviceId] }, inDomain).exposed;
    if (entities.length === 0)
      return { ok: false, outcome: rejected('NOT_FOUND', `Device ${deviceId} has no exposed ${args.domain} entities. Nothing was done.`) };
    for (const entity of entities) chosen.set(entity.entityId, entity);
  }

  // A script's own service runs it without a target, so its entity is what exposure applies to.
  if (args.domain === 'script' && !SCRIPT_ENTITY_SERVICES.has(args.service)) {
    const script = index.get(`script.${args.service}`);
    if (!script) return { ok: false, outcome: rejected('NOT_FOUND', `script.${args.service} does not exist or is not exposed to you. Nothing was done.`) };
    chosen.set(script.entityId, script);
  }

  const entities = [...chosen.values()];
  if (entities.length === 0) {
    const named = (args.entity_ids?.length ?? 0) + (args.area_ids?.length ?? 0) + (args.device_ids?.length ?? 0) > 0;
    return {
      ok: false,
      outcome: rejected(
        'NOT_FOUND',
        named ? `No exposed ${args.domain} entities match the targets. Nothing was done.` : 'Give the targets in entity_ids, area_ids or device_ids.',
      ),
    };
  }
  if (entities.length > MAX_TARGET_ENTITIES) {
    return {
      ok: false,
      outcome: rejected(
        'BAD_USER_INPUT',
        `The targets resolve to ${entities.length} entities; at most ${MAX_TARGET_ENTITIES} are allowed per call. Narrow them down.`,
      ),
    };
  }
  return { ok: true, entities };
}

/** Checks the data keys against the service description, so a typo comes back named instead of as Home Assistant's error. */
function checkData(home: HomeAssistantClient, args: CallArguments, data: Record<string, unknown>): ToolOutcome | undefined {
  const targetKeys = Object.keys(data).filter((key) => TARGET_KEYS.includes(key));
  if (targetKeys.length > 0) return rejected('BAD_USER_INPUT', `Put targets in entity_ids, area_ids or device_ids, not in data (${targetKeys.join(', ')}).`);

  const description = home.cache.getServices()[args.domain]?.[args.service];
  if (!description)
    return rejected('NOT_FOUND', `Home Assistant has no service ${args.domain}.${args.service}. Use list_services to see the services of a domain.`);
  const fields = serviceFields(description);
  if (fields.size === 0) return undefined;
  const unknown = Object.keys(data).filter((key) => !fields.has(key));
  const missing = [...fields.entries()].filter(([name, field]) => field.required === true && !(name in data)).map(([name]) => name);
  if (unknown.length === 0 && missing.length === 0) return undefined;
  const problems = [
    unknown.length > 0 ? `unknown fields ${unknown.join(', ')}` : '',
    missing.length > 0 ? `missing required fields ${missing.join(', ')}` : '',
  ].filter(Boolean);
  return rejected('BAD_USER_INPUT', `Invalid data for ${args.domain}.${args.service}: ${problems.join('; ')}. Its fields: ${[...fields.keys()].join(', ')}.`);
}

/** Error codes of Home Assistant that mean the call itself was wrong, as opposed to a failure while running it. */
const INVALID_CALL_CODES = new Set(['invalid_format', 'service_validation_error', 'not_found']);

function commandFailure(service: string, code: string): ToolOutcome {
  if (INVALID_CALL_CODES.has(code))
    return failed('BAD_USER_INPUT', `Home Assistant rejected ${service} (${code}). Nothing was changed. Check the service and its data with list_services.`);
  if (code === 'unauthorized') return failed('FORBIDDEN', `Home Assistant does not let this access token call ${service} (${code}).`);
  return failed('HOME_ASSISTANT_UNAVAILABLE', `Home Assistant failed to run ${service} (${code}). Tell the user it did not work.`);
}

function describeData(data: Record<string, unknown>): string {
  const entries = Object.entries(data).map(([key, value]) => `${key}=${SECRET_DATA_KEYS.has(key) ? HIDDEN_VALUE : JSON.stringify(value)}`);
  return entries.length > 0 ? ` with ${entries.join(', ')}` : '';
}

export function summarizeCall(domain: string, service: string, entities: IndexedEntity[], data: Record<string, unknown>): string {
  const verb = VERBS[service] ?? `Call ${domain}.${service} on`;
  const names = entities.map((entity) => `${entity.name} (${entity.entityId})`).join(', ');
  return `${verb} ${names}${describeData(data)}.`;
}

function aggregate(entities: EntityVerification[]): ToolVerification['outcome'] {
  const changed = entities.filter((entity) => entity.outcome === 'CHANGED').length;
  if (changed === entities.length) return 'CHANGED';
  if (changed > 0) return 'PARTIAL';
  return entities.every((entity) => entity.outcome === 'UNKNOWN_ENTITY') ? 'UNKNOWN_ENTITY' : 'UNCHANGED';
}

const OUTCOME_NOTES: Record<ToolVerification['outcome'], string | undefined> = {
  CHANGED: undefined,
  PARTIAL: 'Only some entities changed; tell the user which did not.',
  UNCHANGED: 'Home Assistant accepted the call, but no targeted entity changed state. Tell the user that nothing changed; do not claim success.',
  UNKNOWN_ENTITY: 'The targeted entities no longer exist in Home Assistant, so nothing changed.',
};

/** Calls the service, then waits for the targeted entities to report their new state. */
async function execute(args: CallArguments, entities: IndexedEntity[], data: Record<string, unknown>, context: ToolContext): Promise<ToolOutcome> {
  const home = availableHome(context);
  const entityIds = entities.map((entity) => entity.entityId);
  const verifier = new StateVerifier(home.cache, {
    service: args.service,
    hasData: Object.keys(data).length > 0,
    entityIds,
    timeoutMs: context.home.verifyTimeoutMs,
    signal: context.signal,
  });
  // A script's own service takes no target; Home Assistant rejects one.
  const callTargets = args.domain === 'script' && !SCRIPT_ENTITY_SERVICES.has(args.service) ? [] : entityIds;
  try {
    context.commit();
    await home.callService(args.domain, args.service, data, callTargets, context.signal);
  } catch (error) {
    verifier.cancel();
    if (error instanceof HomeAssistantCommandError) return commandFailure(`${args.domain}.${args.service}`, error.code);
    if (isAppError(error)) return failed(error.code, `${error.message} The call may not have reached Home Assistant; nothing was verified.`);
    throw error;
  }

  const results = await verifier.settle(async (entityId) => {
    try {
      return await home.readState(entityId, context.signal);
    } catch (error) {
      context.logger.warn(
        { event: 'tool.verify_read_failed', entityId, code: isAppError(error) ? error.code : undefined },
        'Reading a state to verify a service call failed',
      );
      return 'failed';
    }
  });
  const outcome = aggregate(results);
  const names = new Map(entities.map((entity) => [entity.entityId, entity.name]));
  const verification: ToolVerification = { outcome, entities: results };
  const result = {
    service: `${args.domain}.${args.service}`,
    outcome: outcome.toLowerCase(),
    entities: results.map((entry) => ({
      entity_id: entry.entityId,
      name: names.get(entry.entityId),
      outcome: entry.outcome.toLowerCase(),
      previous_state: entry.previousState,
      state: entry.state,
    })),
    ...(OUTCOME_NOTES[outcome] ? { note: OUTCOME_NOTES[outcome] } : {}),
  };
  if (outcome === 'UNKNOWN_ENTITY') return { ...failed('NOT_FOUND', OUTCOME_NOTES.UNKNOWN_ENTITY!), result, verification };
  return { result, status: 'COMPLETED', verification };
}

export const callServiceTool = defineTool({
  name: 'call_service',
  description:
    "Change something in the home by calling a Home Assistant service (such as light.turn_on) on exposed entities, areas or devices. Only call it when the user asks for a change, never to answer a question. Risky actions (unlocking, disarming, opening garage doors) wait for the user's confirmation. The result says whether each entity actually changed.",
  arguments: argumentsSchema,
  changesState: true,
  async run(args, context) {
    const home = availableHome(context);
    const data = args.data ?? {};
    const { policy } = context.home;
    if (!policy.isAllowed(args.domain, args.service)) {
      const decision = policy.decide(args.domain, args.service, []);
      return rejected('FORBIDDEN', `${decision.kind === 'deny' ? decision.reason : `${args.domain}.${args.service} is not allowed.`} Nothing was done.`);
    }
    const index = home.index();
    const resolution = resolveTargets(index, args);
    if (!resolution.ok) return resolution.outcome;
    const { entities } = resolution;

    const invalid = checkData(home, args, data);
    if (invalid) return invalid;

    // Home Assistant acts on the members of a targeted group, so they must be exposed and pass the policy
    // as if named: a group must not unlock a door or open a garage without asking.
    const memberIds = groupMembers(
      entities.map((entity) => entity.entityId),
      (entityId) => home.cache.getState(entityId),
    );
    const members = memberIds.flatMap((entityId) => index.get(entityId) ?? []);
    if (members.length < memberIds.length) {
      const count = memberIds.length - members.length;
      return rejected(
        'NOT_FOUND',
        `The targeted groups contain ${count} ${count === 1 ? 'entity' : 'entities'} not exposed to you, which ${args.domain}.${args.service} would also act on. Nothing was done. Name the exposed entities instead.`,
      );
    }
    const affected = [...entities, ...members];

    const decision = policy.decide(
      args.domain,
      args.service,
      affected.map((entity) => ({ entityId: entity.entityId, domain: entity.domain, deviceClass: entity.deviceClass })),
    );
    if (decision.kind === 'deny') return rejected('FORBIDDEN', `${decision.reason} Nothing was done.`);
    if (decision.kind === 'confirm') {
      return {
        kind: 'confirmation',
        summary: summarizeCall(args.domain, args.service, affected, data),
        preview: {
          service: `${args.domain}.${args.service}`,
          entities: affected.map((entity) => ({ entity_id: entity.entityId, name: entity.name })),
          data: hideSecretArguments(data),
          reasons: decision.reasons,
        },
        execute: (confirmedContext) => execute(args, entities, data, confirmedContext),
      };
    }
    return execute(args, entities, data, context);
  },
});
