import type { HassState } from './types.js';

/** Nesting followed at most; Home Assistant's own groups rarely nest more than two levels. */
const MAX_DEPTH = 5;

function listedMembers(state: HassState | undefined): string[] {
  const members = state?.attributes.entity_id;
  return Array.isArray(members) ? members.filter((member): member is string => typeof member === 'string') : [];
}

/**
 * Returns the members of the group-like entities among `entityIds`, nested groups included, as Home
 * Assistant expands them when a service targets the group. A group is any entity whose state lists its
 * members in an `entity_id` attribute: group.* and the light, switch, cover and lock groups alike. The
 * groups themselves are not in the result.
 */
export function groupMembers(entityIds: Iterable<string>, stateOf: (entityId: string) => HassState | undefined): string[] {
  const seen = new Set(entityIds);
  const members: string[] = [];
  let level = [...seen];
  for (let depth = 0; depth < MAX_DEPTH && level.length > 0; depth += 1) {
    const next: string[] = [];
    for (const entityId of level) {
      for (const member of listedMembers(stateOf(entityId))) {
        if (seen.has(member)) continue;
        seen.add(member);
        members.push(member);
        next.push(member);
      }
    }
    level = next;
  }
  return members;
}
