import { describe, expect, it } from 'vitest';
import { groupMembers } from '../../src/home-assistant/group-members.js';
import type { HassState } from '../../src/home-assistant/types.js';

function home(groups: Record<string, unknown>): (entityId: string) => HassState | undefined {
  return (entityId) =>
    entityId in groups
      ? ({ entity_id: entityId, state: 'on', attributes: { entity_id: groups[entityId] }, last_changed: '', last_updated: '' } as unknown as HassState)
      : undefined;
}

describe('groupMembers', () => {
  it('follows nesting at any depth', () => {
    const chain: Record<string, unknown> = {};
    for (let level = 0; level < 12; level += 1) chain[`group.level_${level}`] = [`group.level_${level + 1}`];
    chain['group.level_12'] = ['lock.front_door'];
    expect(groupMembers(['group.level_0'], home(chain)).at(-1)).toBe('lock.front_door');
  });

  it('ends cycles and skips repeats', () => {
    const stateOf = home({ 'group.a': ['group.b', 'light.kitchen'], 'group.b': ['group.a', 'light.kitchen', 'cover.garage_door'] });
    expect(groupMembers(['group.a'], stateOf)).toEqual(['group.b', 'light.kitchen', 'cover.garage_door']);
  });

  it('ignores entities without a member list', () => {
    const stateOf = home({ 'light.group': 'light.kitchen', 'group.mixed': ['light.porch', 42, null] });
    expect(groupMembers(['light.group', 'light.kitchen'], stateOf)).toEqual([]);
    expect(groupMembers(['group.mixed'], stateOf)).toEqual(['light.porch']);
  });
});
