import { countTokens as countUncached } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { countTokens } from '../../src/llm/tokens.js';

const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

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
});
