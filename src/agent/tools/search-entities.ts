import { z } from 'zod';
import { searchEntities } from '../../home-assistant/entity-search.js';
import type { IndexedEntity } from '../../home-assistant/home-index.js';
import type { HassState } from '../../home-assistant/types.js';
import { availableHome, completed, defineTool, DOMAIN_PATTERN, rejected } from './tool.js';

const DEFAULT_RESULTS = 10;
const MAX_RESULTS = 50;

/** Builds the compact form of an entity for tool results. */
export function describeEntity(entity: IndexedEntity, state: HassState | undefined): Record<string, unknown> {
  const view: Record<string, unknown> = { entity_id: entity.entityId, name: entity.name };
  if (entity.areaName) view.area = entity.areaName;
  if (entity.floorName) view.floor = entity.floorName;
  if (entity.deviceClass) view.device_class = entity.deviceClass;
  if (state) {
    view.state = state.state;
    const unit = state.attributes.unit_of_measurement;
    if (typeof unit === 'string' && unit !== '') view.unit = unit;
  }
  return view;
}

export const searchEntitiesTool = defineTool({
  name: 'search_entities',
  description:
    'Find entities of the home by words from their name, id, area, floor or device, in any language, and/or by domain, area or floor. Use it to find the right entity id before reading or changing anything, especially when the home context does not list the entity. Results come best match first, with their current state.',
  arguments: z.object({
    query: z.string().max(200).nullish().describe('Words to look for, such as "kitchen light" or "客厅 灯".'),
    domain: z.string().regex(DOMAIN_PATTERN, 'a domain such as light').nullish().describe('Only entities of this domain, such as light.'),
    area: z.string().max(100).nullish().describe('Only entities in this area (id or name).'),
    floor: z.string().max(100).nullish().describe('Only entities on this floor (id or name).'),
    limit: z.number().int().min(1).max(MAX_RESULTS).nullish().describe(`Most results to return; default ${DEFAULT_RESULTS}.`),
  }),
  changesState: false,
  async run(args, context) {
    const home = availableHome(context);
    if (!args.query && !args.domain && !args.area && !args.floor) {
      return rejected('BAD_USER_INPUT', 'Give at least one of query, domain, area or floor.');
    }
    const found = searchEntities(home.index(), {
      text: args.query,
      domain: args.domain,
      area: args.area,
      floor: args.floor,
      limit: args.limit ?? DEFAULT_RESULTS,
    });
    if (!found.ok) return rejected('NOT_FOUND', found.problem);
    return completed({
      total: found.total,
      entities: found.entities.map((entity) => describeEntity(entity, home.cache.getState(entity.entityId))),
      ...(found.total > found.entities.length ? { more: found.total - found.entities.length } : {}),
    });
  },
});
