import { z } from 'zod';
import { availableHome, completed, defineTool, DOMAIN_PATTERN, ENTITY_ID_PATTERN, rejected } from './tool.js';
import { viewState } from './state-view.js';

/** States returned per call at most; more would crowd the model's context in a large home. */
const MAX_STATES = 50;

export const getStatesTool = defineTool({
  name: 'get_states',
  description: `Read the current state and main attributes of entities: give entity_ids, or a domain and/or an area to read all of them. Returns at most ${MAX_STATES} states.`,
  arguments: z.object({
    entity_ids: z.array(z.string().regex(ENTITY_ID_PATTERN, 'an entity id such as light.kitchen')).max(MAX_STATES).nullish().describe('Only these entities.'),
    domain: z.string().regex(DOMAIN_PATTERN, 'a domain such as light').nullish().describe('Only entities of this domain, such as light.'),
    area: z.string().max(100).nullish().describe('Only entities in this area (id or name).'),
  }),
  changesState: false,
  async run(args, context) {
    const home = availableHome(context);
    const index = home.index();
    if (!args.entity_ids?.length && !args.domain && !args.area) return rejected('BAD_USER_INPUT', 'Give entity_ids, a domain or an area.');

    let entities = index.entities;
    if (args.area) {
      const area = index.findArea(args.area);
      if (!area)
        return rejected(
          'NOT_FOUND',
          `No area matches "${args.area}". Areas: ${index.areas.map((item) => `${item.name} (${item.area_id})`).join(', ') || 'none'}.`,
        );
      entities = entities.filter((entity) => entity.areaId === area.area_id);
    }
    if (args.domain) entities = entities.filter((entity) => entity.domain === args.domain);
    let unknown: string[] = [];
    if (args.entity_ids?.length) {
      const wanted = new Set(args.entity_ids);
      entities = entities.filter((entity) => wanted.has(entity.entityId));
      unknown = [...wanted].filter((entityId) => !index.isExposed(entityId));
    }

    const states = entities.flatMap((entity) => {
      const state = home.cache.getState(entity.entityId);
      return state ? [{ ...viewState(state), name: entity.name, ...(entity.areaName ? { area: entity.areaName } : {}) }] : [];
    });
    return completed({
      states: states.slice(0, MAX_STATES),
      total: states.length,
      ...(states.length > MAX_STATES ? { more: states.length - MAX_STATES } : {}),
      ...(unknown.length > 0 ? { unknown_entity_ids: unknown, note: 'Entities in unknown_entity_ids do not exist or are not exposed to you.' } : {}),
    });
  },
});
