import { countTokens as countUncached } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { countTokens } from '../../src/llm/tokens.js';

const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

/** Random characters from U+4E00 to U+9FFF, the same for the same seed. */
function cjkText(length: number, seed: number): string {
  let state = seed;
  let text = '';
  for (let index = 0; index < length; index += 1) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    text += String.fromCharCode(0x4e00 + (state % 0x5200));
  }
  return text;
}

describe('countTokens', () => {
  it('counts short and special text', () => {
    expect(countTokens('')).toBe(0);
    expect(countTokens('Turn off the kitchen light')).toBe(countUncached('Turn off the kitchen light'));
    expect(countTokens('<|endoftext|>')).toBeGreaterThan(1);
  });

  it('remembered counts match fresh counts', () => {
    const texts = Array.from({ length: 150 }, (_, index) => `Entity light.room_${index} is on. `.repeat(40 + (index % 7)));
    const expected = texts.map((text) => countUncached(text, NO_SPECIAL));
    // Three passes: the first fills the memo past its size, later ones mix hits and recounts.
    for (let pass = 0; pass < 3; pass += 1) {
      expect(texts.map((text) => countTokens(text))).toEqual(expected);
    }
    // A text equal in content but built separately is a hit with the same count.
    const rebuilt = `Entity light.room_149 is on. `.repeat(40 + (149 % 7));
    expect(countTokens(rebuilt)).toBe(expected[149]);
  });

  it('counts long prose exactly', () => {
    const prose = 'Turn off the kitchen light at 23:45, then lock the front door.\n\nIs the garage   closed? '.repeat(120);

    expect(countTokens(prose)).toBe(countUncached(prose, NO_SPECIAL));
  });

  it('counts long CJK text within a token per slice', () => {
    // 4,000 characters still take the tokenizer only tens of milliseconds in one call.
    for (const seed of [1, 2, 3]) {
      const text = cjkText(4_000, seed);
      const exact = countUncached(text, NO_SPECIAL);
      const slices = Math.ceil(text.length / 256);

      expect(countTokens(text)).toBeGreaterThanOrEqual(exact - slices);
      expect(countTokens(text)).toBeLessThanOrEqual(exact + slices);
    }
  });

  it('counts 16,000 CJK characters as the sum of their quarters', () => {
    const quarters = [1, 2, 3, 4].map((seed) => cjkText(4_000, seed));
    const exactSum = quarters.reduce((sum, quarter) => sum + countUncached(quarter, NO_SPECIAL), 0);

    // One call on the whole text took about 0.8 s; sliced, it takes a few tens of milliseconds.
    const tokens = countTokens(quarters.join(''));

    expect(tokens).toBeGreaterThanOrEqual(exactSum - 64);
    expect(tokens).toBeLessThanOrEqual(exactSum + 64);
  });

  it('keeps surrogate pairs whole', () => {
    // The leading letter puts every slice boundary of 256 code units inside an emoji unless the cut moves.
    const emoji = `a${'\u{1F600}'.repeat(2_000)}`;

    expect(countTokens(emoji)).toBe(countUncached(emoji, NO_SPECIAL));
  });
});
