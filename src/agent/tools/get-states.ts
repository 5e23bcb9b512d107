import { z } from 'zod';
import { entityDomain } from '../../home-assistant/types.js';
import { defineTool, failed } from './tool.js';
import { viewState } from './state-view.js';

/** States returned per call at most; more would crowd the model's context in a large home. */
const MAX_STATES = 100;

const entityId = z.string().regex(/^[a-z0-9_]+\.[a-z0-9_]+$/, 'an entity id such as light.kitchen');

export const getStatesTool = defineTool({
  name: 'get_states',
  description:
    'Read the current state of Home Assistant entities. Give entity_ids to read specific entities, or a domain (such as light or sensor) to read all entities of that domain. Returns at most 100 states.',
  arguments: z.object({
    domain: z.string().regex(/^[a-z0-9_]+$/, 'a domain such as light').nullish().describe('Only entities of this domain, such as light.'),
    entity_ids: z.array(entityId).max(MAX_STATES).nullish().describe('Only these entities.'),
  }),
  changesState: false,
  async run(args, context) {
    if (!context.homeAssistant) return failed('HOME_ASSISTANT_UNAVAILABLE', 'Home Assistant is not configured.');

    const states = await context.homeAssistant.getStates(context.signal);
    const wanted = args.entity_ids ? new Set(args.entity_ids) : undefined;
    const matching = states
      .filter((state) => !wanted || wanted.has(state.entity_id))
      .filter((state) => !args.domain || entityDomain(state.entity_id) === args.domain)
      .sort((a, b) => a.entity_id.localeCompare(b.entity_id));

    const found = new Set(matching.map((state) => state.entity_id));
    const unknown = args.entity_ids?.filter((id) => !found.has(id)) ?? [];
    return {
      status: 'COMPLETED',
      result: {
        states: matching.slice(0, MAX_STATES).map(viewState),
        total: matching.length,
        ...(matching.length > MAX_STATES ? { truncated: true } : {}),
        ...(unknown.length > 0 ? { unknown_entity_ids: unknown } : {}),
      },
    };
  },
});
