import { z } from 'zod';
import { availableHome, completed, defineTool, ENTITY_ID_PATTERN, rejected } from './tool.js';

const MAX_ENTITIES = 10;
/** States per entity in a result; the newest are kept. */
const MAX_STATES_PER_ENTITY = 50;
const HOUR_MS = 3_600_000;
const MAX_PERIOD_HOURS = 7 * 24;

const isoInstant = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'an ISO 8601 time such as 2026-12-04T08:00:00Z');

export const getHistoryTool = defineTool({
  name: 'get_history',
  description: `Read how the state of up to ${MAX_ENTITIES} entities changed over a period (at most 7 days), from Home Assistant's recorder. Give start and end, or hours to look back from now (default 24).`,
  arguments: z.object({
    entity_ids: z
      .array(z.string().regex(ENTITY_ID_PATTERN, 'an entity id such as sensor.kitchen_temperature'))
      .min(1)
      .max(MAX_ENTITIES)
      .describe('The entities.'),
    start: isoInstant.nullish().describe('Start of the period, ISO 8601.'),
    end: isoInstant.nullish().describe('End of the period, ISO 8601; default now.'),
    hours: z.number().int().min(1).max(MAX_PERIOD_HOURS).nullish().describe('Hours before the end; used when start is not given. Default 24.'),
  }),
  changesState: false,
  async run(args, context) {
    const home = availableHome(context);
    const index = home.index();
    const hidden = args.entity_ids.filter((entityId) => !index.isExposed(entityId));
    if (hidden.length > 0) return rejected('NOT_FOUND', `Unknown or not exposed: ${hidden.join(', ')}. Find entity ids with search_entities.`);

    const end = args.end ? new Date(args.end) : new Date();
    const start = args.start ? new Date(args.start) : new Date(end.getTime() - (args.hours ?? 24) * HOUR_MS);
    if (start >= end) return rejected('BAD_USER_INPUT', 'start must be before end.');
    if (end.getTime() - start.getTime() > MAX_PERIOD_HOURS * HOUR_MS) return rejected('BAD_USER_INPUT', 'The period may be at most 7 days.');

    const histories = await home.history(args.entity_ids, start, end, context.signal);
    return completed({
      start: start.toISOString(),
      end: end.toISOString(),
      entities: histories.map((history) => ({
        entity_id: history.entityId,
        name: index.get(history.entityId)?.name,
        states: history.states.slice(-MAX_STATES_PER_ENTITY),
        ...(history.states.length > MAX_STATES_PER_ENTITY ? { earlier_states_left_out: history.states.length - MAX_STATES_PER_ENTITY } : {}),
      })),
    });
  },
});
