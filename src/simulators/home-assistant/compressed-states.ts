import { isDeepStrictEqual } from 'node:util';

import type { HassContext, HassState } from './types.js';

/**
 * The compact state form of the `subscribe_entities` command: `s` state, `a` attributes, `c` context (its
 * id alone when it has no parent and no user), `lc` last_changed in epoch seconds, and `lu` last_updated
 * only when it differs from last_changed.
 */
export type CompressedState = {
  s: string;
  a: Record<string, unknown>;
  c: string | HassContext;
  lc: number;
  lu?: number;
};

const epochSeconds = (timestamp: string) => Date.parse(timestamp) / 1000;

function compressContext(context: HassContext | undefined): string | HassContext {
  if (!context) {
    return '';
  }
  return context.parent_id === null && context.user_id === null ? context.id : context;
}

export function compressState(state: HassState): CompressedState {
  const compressed: CompressedState = {
    s: state.state,
    a: state.attributes,
    c: compressContext(state.context),
    lc: epochSeconds(state.last_changed),
  };
  if (state.last_updated !== state.last_changed) {
    compressed.lu = epochSeconds(state.last_updated);
  }
  return compressed;
}

/** Computes the `{"+": additions, "-": removals}` diff between two states of one entity. */
export function diffStates(oldState: HassState, newState: HassState): { '+'?: Record<string, unknown>; '-'?: { a: string[] } } {
  const additions: Record<string, unknown> = {};
  if (oldState.state !== newState.state) {
    additions.s = newState.state;
  }
  if (oldState.last_changed !== newState.last_changed) {
    additions.lc = epochSeconds(newState.last_changed);
  } else if (oldState.last_updated !== newState.last_updated) {
    additions.lu = epochSeconds(newState.last_updated);
  }
  if (oldState.context?.id !== newState.context?.id) {
    additions.c = compressContext(newState.context);
  }

  const changedAttributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(newState.attributes)) {
    if (!(key in oldState.attributes) || !isDeepStrictEqual(oldState.attributes[key], value)) {
      changedAttributes[key] = value;
    }
  }
  if (Object.keys(changedAttributes).length > 0) {
    additions.a = changedAttributes;
  }
  const removed = Object.keys(oldState.attributes).filter((key) => !(key in newState.attributes));

  const diff: { '+'?: Record<string, unknown>; '-'?: { a: string[] } } = {};
  if (Object.keys(additions).length > 0) {
    diff['+'] = additions;
  }
  if (removed.length > 0) {
    diff['-'] = { a: removed };
  }
  return diff;
}
