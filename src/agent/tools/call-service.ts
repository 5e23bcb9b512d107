import { z } from 'zod';
import { HomeAssistantRequestError } from '../../home-assistant/rest-client.js';
import { entityDomain } from '../../home-assistant/types.js';
import { defineTool, failed, rejected } from './tool.js';

/**
 * Domains the agent may act on. Locks, alarms, covers, scripts and anything that runs code stay out until
 * a confirmation step exists for them.
 */
export const CONTROLLABLE_DOMAINS = ['light', 'switch', 'fan', 'climate', 'media_player', 'scene', 'input_boolean'] as const;

const allowed = new Set<string>(CONTROLLABLE_DOMAINS);

export const callServiceTool = defineTool({
  name: 'call_service',
  description: `Call a Home Assistant service (an action such as light.turn_on) on entities. Allowed domains: ${CONTROLLABLE_DOMAINS.join(', ')}. Read the entities' states first to find the right entity ids.`,
  arguments: z.object({
    domain: z.string().regex(/^[a-z0-9_]+$/, 'a domain such as light').describe('Service domain, such as light.'),
    service: z.string().regex(/^[a-z0-9_]+$/, 'a service such as turn_on').describe('Service name, such as turn_on.'),
    entity_ids: z
      .array(z.string().regex(/^[a-z0-9_]+\.[a-z0-9_]+$/, 'an entity id such as light.kitchen'))
      .min(1)
      .max(50)
      .describe('Entities to act on.'),
    data: z.record(z.string(), z.unknown()).nullish().describe('Extra service data, such as {"brightness_pct": 50}.'),
  }),
  changesState: true,
  async run(args, context) {
    const domains = new Set([args.domain, ...args.entity_ids.map(entityDomain)]);
    const refused = [...domains].filter((domain) => !allowed.has(domain));
    if (refused.length > 0) {
      return rejected(
        'FORBIDDEN',
        `Service calls on the ${refused.join(', ')} domain are not allowed. Allowed domains: ${CONTROLLABLE_DOMAINS.join(', ')}.`,
      );
    }
    if (!context.homeAssistant) return failed('HOME_ASSISTANT_UNAVAILABLE', 'Home Assistant is not configured.');

    let changed;
    try {
      changed = await context.homeAssistant.callService(args.domain, args.service, { ...(args.data ?? {}), entity_id: args.entity_ids }, context.signal);
    } catch (error) {
      if (error instanceof HomeAssistantRequestError) return failed('BAD_USER_INPUT', `Home Assistant rejected ${args.domain}.${args.service} (HTTP ${error.status}).`);
      throw error;
    }

    const changedIds = new Set(changed.map((state) => state.entity_id));
    const targeted = changed.filter((state) => args.entity_ids.includes(state.entity_id));
    const unchanged = args.entity_ids.filter((id) => !changedIds.has(id));
    return {
      status: 'COMPLETED',
      result: {
        ok: true,
        service: `${args.domain}.${args.service}`,
        changed: targeted.map((state) => ({ entity_id: state.entity_id, state: state.state })),
        ...(unchanged.length > 0 ? { unchanged } : {}),
      },
    };
  },
});
