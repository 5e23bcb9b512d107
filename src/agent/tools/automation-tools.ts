import { z } from 'zod';
import { uuidv7 } from '../../db/uuid.js';
import type { HomeAssistantClient } from '../../home-assistant/home-assistant.js';
import type { HassState, StateChangedData } from '../../home-assistant/types.js';
import { HomeAssistantRequestError } from '../../home-assistant/rest-client.js';
import { MAX_AUTOMATION_CHARS, validateAutomationDraft, type DraftResult } from '../automations/automation-draft.js';
import { availableHome, completed, defineTool, failed, rejected, type ToolContext, type ToolOutcome } from './tool.js';

const configArgument = z
  .string()
  .max(MAX_AUTOMATION_CHARS)
  .describe('The automation as YAML or JSON: alias, optional description and mode, triggers (or trigger), optional conditions, and actions (or action).');

function draft(home: HomeAssistantClient, context: ToolContext, text: string): DraftResult {
  return validateAutomationDraft(text, {
    index: home.index(),
    services: home.cache.getServices(),
    policy: context.home.policy,
    states: home.cache.allStates(),
  });
}

function problemsOutcome(problems: string[]): ToolOutcome {
  const outcome = rejected('BAD_USER_INPUT', `The automation is invalid: ${problems.join(' ')}`);
  return { ...outcome, result: { valid: false, problems } };
}

/** Ids of automations Home Assistant generates are timestamps; ours carry a prefix so they are easy to tell apart. */
function newAutomationId(): string {
  return `ha_ai_agent_${uuidv7().replace(/-/g, '')}`;
}

/**
 * Waits until an entity matching `found` reports a state (or, for `removed`, disappears), at most
 * `timeoutMs`. Returns the matching state, or undefined when none appeared in time.
 */
function waitForAutomationEntity(
  home: HomeAssistantClient,
  matches: (change: StateChangedData) => boolean,
  timeoutMs: number,
  signal: AbortSignal,
): { done: Promise<StateChangedData | undefined>; stop: () => void } {
  let stop = () => {};
  const done = new Promise<StateChangedData | undefined>((resolve) => {
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const unsubscribe = home.cache.onStateChanged((change) => {
      if (matches(change)) finish(change);
    });
    const onAbort = () => finish(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    function finish(value: StateChangedData | undefined) {
      clearTimeout(timer);
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    }
    stop = () => finish(undefined);
  });
  return { done, stop };
}

function automationWithId(states: HassState[], automationId: string): HassState | undefined {
  return states.find((state) => state.entity_id.startsWith('automation.') && state.attributes.id === automationId);
}

export const validateAutomationTool = defineTool({
  name: 'validate_automation',
  description:
    'Check an automation draft without creating it: parses the YAML or JSON, checks that triggers and actions are present and that every entity and service exists, is exposed and is allowed, and returns a preview or the list of problems to fix.',
  arguments: z.object({ config: configArgument }),
  changesState: false,
  async run(args, context) {
    const home = availableHome(context);
    const result = draft(home, context, args.config);
    if (!result.ok) return problemsOutcome(result.problems);
    return completed({ valid: true, summary: result.summary, preview: result.preview });
  },
});

export const createAutomationTool = defineTool({
  name: 'create_automation',
  description:
    'Create a new automation in Home Assistant from a YAML or JSON draft. It is validated first, then the user sees a preview and must confirm; it always gets a new unique id, so no existing automation is ever changed.',
  arguments: z.object({ config: configArgument }),
  changesState: true,
  async run(args, context) {
    const home = availableHome(context);
    const result = draft(home, context, args.config);
    if (!result.ok) return problemsOutcome(result.problems);
    return {
      kind: 'confirmation',
      summary: result.summary,
      preview: result.preview,
      execute: (confirmed) => createAutomation(result.config, result.preview.alias, confirmed),
    };
  },
});

async function createAutomation(config: Record<string, unknown>, alias: string, context: ToolContext): Promise<ToolOutcome> {
  const home = availableHome(context);
  let automationId = newAutomationId();
  // A fresh id never exists, but the editor API would silently overwrite one that did.
  for (let attempt = 0; (await home.rest.getAutomationConfig(automationId, context.signal)) !== undefined; attempt += 1) {
    if (attempt >= 3) return failed('CONFLICT', 'Could not find an unused automation id. Nothing was created.');
    automationId = newAutomationId();
  }

  const appeared = waitForAutomationEntity(
    home,
    (change) => change.entity_id.startsWith('automation.') && change.new_state?.attributes.id === automationId,
    Math.max(context.home.verifyTimeoutMs, 1_000),
    context.signal,
  );
  try {
    context.commit();
    await home.rest.saveAutomationConfig(automationId, { id: automationId, ...config }, context.signal);
  } catch (error) {
    appeared.stop();
    if (error instanceof HomeAssistantRequestError)
      return failed('BAD_USER_INPUT', `Home Assistant rejected the automation (HTTP ${error.status}). Nothing was created. Check it with validate_automation.`);
    throw error;
  }

  const existing = automationWithId(home.cache.allStates(), automationId);
  if (existing) appeared.stop();
  const change = existing ? undefined : await appeared.done;
  const entity = existing ?? change?.new_state ?? undefined;
  await context.home.automations.record({
    ownerId: context.caller.userId,
    automationId,
    entityId: entity?.entity_id ?? null,
    alias,
    config: { id: automationId, ...config },
    toolCallId: context.toolCallId,
  });

  const verification = entity
    ? { outcome: 'CHANGED' as const, entities: [{ entityId: entity.entity_id, outcome: 'CHANGED' as const, previousState: null, state: entity.state }] }
    : { outcome: 'UNCHANGED' as const, entities: [] };
  return {
    status: 'COMPLETED',
    result: {
      created: true,
      automation_id: automationId,
      entity_id: entity?.entity_id ?? null,
      alias,
      ...(entity ? { state: entity.state } : { note: 'Home Assistant saved the automation, but its entity has not appeared yet; it may still be loading.' }),
    },
    verification,
  };
}

export const deleteAutomationTool = defineTool({
  name: 'delete_automation',
  description:
    'Delete an automation that this agent created for the same user, for example to undo a creation. Give its automation_id or entity_id. The user must confirm. Other automations cannot be deleted.',
  arguments: z.object({
    automation_id: z.string().min(1).max(255).describe('The automation_id or entity_id returned by create_automation.'),
  }),
  changesState: true,
  async run(args, context) {
    availableHome(context);
    const created = await context.home.automations.findActive(context.caller.userId, args.automation_id);
    if (!created)
      return rejected(
        'NOT_FOUND',
        `${args.automation_id} is not an automation you created through this agent (or it was already deleted), so it cannot be deleted here.`,
      );
    const label = `"${created.alias}" (${created.entityId ?? created.automationId})`;
    return {
      kind: 'confirmation',
      summary: `Delete the automation ${label}, created on ${created.createdAt.toISOString()}.`,
      preview: { automation_id: created.automationId, entity_id: created.entityId, alias: created.alias, config: created.config },
      execute: async (confirmed) => {
        const home = availableHome(confirmed);
        const before = created.entityId ? home.cache.getState(created.entityId) : undefined;
        const gone = waitForAutomationEntity(
          home,
          (change) => change.entity_id === created.entityId && change.new_state === null,
          Math.max(confirmed.home.verifyTimeoutMs, 1_000),
          confirmed.signal,
        );
        let deleted: boolean;
        try {
          confirmed.commit();
          deleted = await home.rest.deleteAutomationConfig(created.automationId, confirmed.signal);
        } catch (error) {
          gone.stop();
          if (error instanceof HomeAssistantRequestError)
            return failed('BAD_USER_INPUT', `Home Assistant rejected deleting the automation (HTTP ${error.status}).`);
          throw error;
        }
        await confirmed.home.automations.markDeleted(created.id);
        if (!deleted) {
          gone.stop();
          return completed({ deleted: false, automation_id: created.automationId, note: 'It was already gone from Home Assistant.' });
        }

        let removed = true;
        if (before && created.entityId && home.cache.getState(created.entityId) !== undefined) removed = (await gone.done) !== undefined;
        gone.stop();
        return {
          status: 'COMPLETED',
          result: { deleted: true, automation_id: created.automationId, entity_id: created.entityId, alias: created.alias },
          ...(before && created.entityId
            ? {
                verification: {
                  outcome: removed ? 'CHANGED' : 'UNCHANGED',
                  entities: [
                    {
                      entityId: created.entityId,
                      outcome: removed ? 'CHANGED' : 'UNCHANGED',
                      previousState: before.state,
                      state: removed ? null : before.state,
                    },
                  ],
                },
              }
            : {}),
        };
      },
    };
  },
});
