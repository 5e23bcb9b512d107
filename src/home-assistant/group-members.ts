import type { HassState } from './types.js';

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
  // Every level is followed, because a member left unchecked could be the lock; `seen` ends cycles.
  let level = [...seen];
  while (level.length > 0) {
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
