import { isDeepStrictEqual } from 'node:util';

import { newContext, toHassTimestamp } from './ids.js';
import type { HassContext, HassEvent, HassState } from './types.js';

export type BusListener = (event: HassEvent) => void;

/** The simulator's event bus: every WebSocket subscription and the state machine meet here. */
export class EventBus {
  private readonly listeners = new Set<BusListener>();

  listen(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  fire(eventType: string, data: Record<string, unknown>, context: HassContext = newContext()): HassEvent {
    const event: HassEvent = {
      event_type: eventType,
      data,
      origin: 'LOCAL',
      time_fired: toHassTimestamp(),
      context,
    };
    for (const listener of this.listeners) {
      listener(event);
    }
    return event;
  }
}

/**
 * Current states plus the history of every state an entity had since the simulator started. Writes follow
 * Home Assistant's rules: `last_changed` moves only when the state string changes, `last_updated` when the
 * state or an attribute changes, and a write that changes neither only moves `last_reported` and fires no
 * `state_changed` event.
 */
export class StateMachine {
  private readonly current = new Map<string, HassState>();
  private readonly recorded = new Map<string, HassState[]>();

  constructor(
    initial: HassState[],
    private readonly bus: EventBus,
  ) {
    for (const state of initial) {
      const copy = structuredClone(state);
      copy.attributes ??= {};
      this.current.set(copy.entity_id, copy);
      this.recorded.set(copy.entity_id, [structuredClone(copy)]);
    }
  }

  get(entityId: string): HassState | undefined {
    const state = this.current.get(entityId);
    return state ? structuredClone(state) : undefined;
  }

  has(entityId: string): boolean {
    return this.current.has(entityId);
  }

  entityIds(): string[] {
    return [...this.current.keys()];
  }

  all(): HassState[] {
    return [...this.current.values()].map((state) => structuredClone(state));
  }

  /** Returns every state the entity had, oldest first, including the one it had when the simulator started. */
  history(entityId: string): HassState[] {
    return (this.recorded.get(entityId) ?? []).map((state) => structuredClone(state));
  }

  /**
   * Writes a state and fires `state_changed` when something changed. Returns the stored state and whether
   * the write changed it.
   */
  set(entityId: string, state: string, attributes: Record<string, unknown>, context: HassContext = newContext()): { state: HassState; changed: boolean } {
    const now = toHassTimestamp();
    const old = this.current.get(entityId);

    if (old && old.state === state && isDeepStrictEqual(old.attributes, attributes)) {
      old.last_reported = now;
      return { state: structuredClone(old), changed: false };
    }

    const next: HassState = {
      entity_id: entityId,
      state,
      attributes: structuredClone(attributes),
      last_changed: old && old.state === state ? old.last_changed : now,
      last_reported: now,
      last_updated: now,
      context,
    };
    this.current.set(entityId, next);
    const history = this.recorded.get(entityId) ?? [];
    history.push(structuredClone(next));
    this.recorded.set(entityId, history);

    this.bus.fire('state_changed', { entity_id: entityId, old_state: old ? structuredClone(old) : null, new_state: structuredClone(next) }, context);
    return { state: structuredClone(next), changed: true };
  }

  /** Removes an entity; subscribers see `state_changed` with `new_state: null`. Its history is kept. */
  remove(entityId: string, context: HassContext = newContext()): boolean {
    const old = this.current.get(entityId);
    if (!old) {
      return false;
    }
    this.current.delete(entityId);
    this.bus.fire('state_changed', { entity_id: entityId, old_state: old, new_state: null }, context);
    return true;
  }
}
