import { describe, expect, it } from 'vitest';
import { hideSecretArguments } from '../../src/agent/tools/hidden-arguments.js';

describe('hideSecretArguments', () => {
  it('hides secrets at any depth', () => {
    expect(hideSecretArguments({ domain: 'lock', data: { code: '4321', nested: [{ pin: 7 }] } })).toEqual({
      domain: 'lock',
      data: { code: '(hidden)', nested: [{ pin: '(hidden)' }] },
    });
  });

  it('hides secrets in broken JSON text', () => {
    const cases: [string, string][] = [
      ['{"data":{"code":"86420"}', '{"data":{"code":"(hidden)"}'],
      ['{"code": 1234, "entity_ids": ["lock.front_door"]}', '{"code":"(hidden)", "entity_ids": ["lock.front_door"]}'],
      ['{"pin":"12\\"34"}', '{"pin":"(hidden)"}'],
      ['{"password":"cut off', '{"password":"(hidden)"'],
    ];
    for (const [text, hidden] of cases) expect(hideSecretArguments(text), text).toBe(hidden);
  });
});
