import { describe, expect, it } from 'vitest';
import { titleFromMessage } from '../../src/conversations/title.js';
import { UUID_PATTERN, uuidv7 } from '../../src/db/uuid.js';

describe('titleFromMessage', () => {
  it('uses the first line with whitespace collapsed', () => {
    expect(titleFromMessage('  Turn   on\tthe light\nand more')).toBe('Turn on the light');
  });

  it('cuts at 60 characters', () => {
    const title = titleFromMessage('a'.repeat(100));
    expect([...title]).toHaveLength(60);
    expect(title.endsWith('…')).toBe(true);
  });

  it('counts characters, not UTF-16 units', () => {
    const title = titleFromMessage(`${'灯'.repeat(59)}🙂`);
    expect(title).toBe(`${'灯'.repeat(59)}🙂`);
  });
});

describe('uuidv7', () => {
  it('makes valid ids that sort in creation order', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    for (const id of ids) expect(id).toMatch(UUID_PATTERN);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps order when the clock goes back', () => {
    const first = uuidv7(2_000_000_000_000);
    const second = uuidv7(1_000_000_000_000);
    expect(second > first).toBe(true);
  });
});
