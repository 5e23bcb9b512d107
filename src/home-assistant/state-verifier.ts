import type { HomeCache } from './home-cache.js';
import type { HassState, StateChangedData } from './types.js';

export type VerifiedOutcome = 'CHANGED' | 'UNCHANGED' | 'UNKNOWN_ENTITY';

export interface EntityVerification {
  entityId: string;
  outcome: VerifiedOutcome;
  previousState: string | null;
  state: string | null;
}

/** States a device passes through on its way to the state it was asked for. */
const TRANSITIONAL_STATES = new Set(['opening', 'closing', 'locking', 'unlocking', 'arming', 'disarming', 'pending']);

/**
 * The state each service leaves an entity in when it is called without data. An entity already in that
 * state will not change, so the wait for it can end at once.
 */
const TARGET_STATES: Record<string, string> = {
  turn_on: 'on',
  turn_off: 'off',
  lock: 'locked',
  unlock: 'unlocked',
  open_cover: 'open',
  close_cover: 'closed',
  open_valve: 'open',
  close_valve: 'closed',
  alarm_disarm: 'disarmed',
  alarm_arm_home: 'armed_home',
  alarm_arm_away: 'armed_away',
  alarm_arm_night: 'armed_night',
  alarm_arm_vacation: 'armed_vacation',
  media_play: 'playing',
  media_pause: 'paused',
};

export interface VerificationRequest {
  service: string;
  /** Service data other than the target; with data, even an entity in the target state may change. */
  hasData: boolean;
  entityIds: string[];
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * Watches `state_changed` events for the targeted entities of one service call. Start it before the
 * call, so no event is missed, then `settle` after the call returns.
 */
export class StateVerifier {
  private readonly before = new Map<string, HassState | undefined>();
  private readonly latest = new Map<string, HassState | null>();
  private readonly stop: () => void;
  private wake: (() => void) | undefined;

  constructor(
    cache: HomeCache,
    private readonly request: VerificationRequest,
  ) {
    for (const entityId of request.entityIds) this.before.set(entityId, cache.getState(entityId));
    const targeted = new Set(request.entityIds);
    this.stop = cache.onStateChanged((change: StateChangedData) => {
      if (!targeted.has(change.entity_id)) return;
      this.latest.set(change.entity_id, change.new_state);
      this.wake?.();
    });
  }

  /** Stops listening without a result, for a call that failed. */
  cancel(): void {
    this.stop();
  }

  /**
   * Waits until every targeted entity reached a final state or cannot change, or the timeout passes.
   * Then reads the entities that sent no event once more through `reread`, because events can be lost
   * on a reconnect, and returns the outcome per entity.
   */
  async settle(reread: (entityId: string) => Promise<HassState | undefined | 'failed'>): Promise<EntityVerification[]> {
    const deadline = Date.now() + this.request.timeoutMs;
    try {
      while (!this.allSettled() && Date.now() < deadline && !this.request.signal.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    } finally {
      this.stop();
    }

    const silent = this.request.entityIds.filter((entityId) => !this.latest.has(entityId));
    const rereadStates = await Promise.all(silent.map(async (entityId) => [entityId, await reread(entityId).catch(() => 'failed' as const)] as const));
    for (const [entityId, state] of rereadStates) {
      if (state === 'failed') continue;
      const previous = this.before.get(entityId);
      if (state === undefined) this.latest.set(entityId, null);
      else if (!previous || state.last_updated !== previous.last_updated || state.state !== previous.state) this.latest.set(entityId, state);
    }

    return this.request.entityIds.map((entityId) => this.outcome(entityId));
  }

  private allSettled(): boolean {
    return this.request.entityIds.every((entityId) => {
      const latest = this.latest.get(entityId);
      if (latest === null) return true;
      if (latest) return !TRANSITIONAL_STATES.has(latest.state);
      const before = this.before.get(entityId)?.state;
      // Home Assistant skips unavailable entities in entity services, so they will not change.
      if (before === 'unavailable') return true;
      const target = TARGET_STATES[this.request.service];
      return !this.request.hasData && target !== undefined && before === target;
    });
  }

  private outcome(entityId: string): EntityVerification {
    const previous = this.before.get(entityId);
    const latest = this.latest.get(entityId);
    if (latest === null || (latest === undefined && previous === undefined)) {
      return { entityId, outcome: 'UNKNOWN_ENTITY', previousState: previous?.state ?? null, state: null };
    }
    if (latest === undefined) return { entityId, outcome: 'UNCHANGED', previousState: previous?.state ?? null, state: previous?.state ?? null };
    return { entityId, outcome: 'CHANGED', previousState: previous?.state ?? null, state: latest.state };
  }
}
