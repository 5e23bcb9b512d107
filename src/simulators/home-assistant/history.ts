import { toHassTimestamp } from './ids.js';
import type { StateMachine } from './state-machine.js';
import type { HassState } from './types.js';

/** Domains whose attribute-only changes count as significant, as in Home Assistant's recorder. */
const SIGNIFICANT_ATTRIBUTE_DOMAINS = new Set(['climate', 'device_tracker', 'humidifier', 'thermostat', 'water_heater']);
const ONE_DAY_MS = 86_400_000;

export interface HistoryQuery {
  entityIds: string[];
  start: number;
  end: number;
  minimalResponse: boolean;
  noAttributes: boolean;
  significantChangesOnly: boolean;
  /** Whether the state in effect at the start comes first; REST always includes it. @default true */
  includeStartState?: boolean;
}

/** Raised for a query Home Assistant rejects with 400; the message names the invalid parameter. */
export class HistoryQueryError extends Error {}

/**
 * Parses `/api/history/period/<start>?filter_entity_id=...&end_time=...` parameters. The start defaults to
 * one day before now and the end to one day after the start, as in Home Assistant.
 */
export function parseHistoryQuery(startSegment: string | undefined, params: URLSearchParams): HistoryQuery {
  const now = Date.now();
  const start = startSegment ? Date.parse(decodeURIComponent(startSegment)) : now - ONE_DAY_MS;
  if (Number.isNaN(start)) {
    throw new HistoryQueryError('Invalid datetime');
  }
  const endParam = params.get('end_time');
  const end = endParam ? Date.parse(endParam) : start + ONE_DAY_MS;
  if (Number.isNaN(end)) {
    throw new HistoryQueryError('Invalid end_time');
  }

  const filter = params.get('filter_entity_id');
  if (!filter) {
    throw new HistoryQueryError('filter_entity_id is missing');
  }
  const entityIds = filter
    .split(',')
    .map((id) => id.trim().toLowerCase())
    .filter((id) => id !== '');

  return {
    entityIds,
    start,
    end,
    minimalResponse: params.has('minimal_response'),
    noAttributes: params.has('no_attributes'),
    significantChangesOnly: flagValue(params, 'significant_changes_only', true),
  };
}

/** Flags count as set when present without a value; `0` and `false` clear them. */
function flagValue(params: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = params.get(name);
  if (value === null) {
    return fallback;
  }
  return !['0', 'false', 'no', 'off'].includes(value.toLowerCase());
}

/**
 * Runs a history query and returns one array per entity that has states in the window. The first element is
 * the state in effect at the start, with its timestamps moved to the start, the way the recorder reports it.
 */
export function queryHistory(states: StateMachine, query: HistoryQuery): unknown[][] {
  const result: unknown[][] = [];
  for (const entityId of query.entityIds) {
    const rows = entityHistory(states.history(entityId), entityId, query);
    if (rows.length > 0) {
      result.push(rows);
    }
  }
  return result;
}

function entityHistory(history: HassState[], entityId: string, query: HistoryQuery): unknown[] {
  const updatedAt = (state: HassState) => Date.parse(state.last_updated);
  const atStart = [...history].reverse().find((state) => updatedAt(state) <= query.start);
  const inWindow = history.filter((state) => updatedAt(state) > query.start && updatedAt(state) < query.end);

  const selected: HassState[] = [];
  if (atStart && query.includeStartState !== false) {
    const startTime = toHassTimestamp(query.start);
    selected.push({ ...atStart, last_changed: startTime, last_updated: startTime });
  }
  const domain = entityId.split('.')[0]!;
  for (const state of inWindow) {
    const previous = selected.at(-1);
    const significant = !query.significantChangesOnly || SIGNIFICANT_ATTRIBUTE_DOMAINS.has(domain) || previous === undefined || previous.state !== state.state;
    if (significant) {
      selected.push(state);
    }
  }

  // A minimal response keeps the first and the last state whole and trims the ones between.
  return selected.map((state, index) => {
    if (query.minimalResponse && index > 0 && index < selected.length - 1) {
      return { state: state.state, last_changed: state.last_changed };
    }
    const row: Record<string, unknown> = { ...state };
    if (query.noAttributes) {
      row.attributes = {};
    }
    return row;
  });
}

/** One row of the WebSocket history: `s` state, `a` attributes, `lu` last_updated and `lc` last_changed in epoch seconds. */
export interface CompressedHistoryRow {
  s: string;
  a?: Record<string, unknown>;
  lu: number;
  lc?: number;
}

/**
 * Runs a `history/history_during_period` query: the same selection as the REST history, keyed by entity
 * id, in the compressed row form. `lc` is sent only when it differs from `lu`, and rows of a minimal
 * response carry no attributes after the first.
 */
export function queryCompressedHistory(states: StateMachine, query: HistoryQuery): Record<string, CompressedHistoryRow[]> {
  const result: Record<string, CompressedHistoryRow[]> = {};
  for (const entityId of query.entityIds) {
    const rows = entityHistory(states.history(entityId), entityId, query) as Partial<HassState>[];
    if (rows.length === 0) {
      continue;
    }
    result[entityId] = rows.map((row) => {
      const lastChanged = Date.parse(row.last_changed ?? '') / 1000;
      const lastUpdated = row.last_updated ? Date.parse(row.last_updated) / 1000 : lastChanged;
      const compressed: CompressedHistoryRow = { s: row.state ?? '', lu: lastUpdated };
      if (row.attributes && !query.noAttributes) {
        compressed.a = row.attributes;
      }
      if (lastChanged !== lastUpdated) {
        compressed.lc = lastChanged;
      }
      return compressed;
    });
  }
  return result;
}
