import { countTokens as countO200kTokens } from 'gpt-tokenizer';

/**
 * Tokens a chat message costs beyond its text (role and separators). OpenAI documents about 3 to 4 for
 * its chat formats; counts for other models are estimates either way.
 */
export const MESSAGE_OVERHEAD_TOKENS = 4;

const NO_SPECIAL_TOKENS = { disallowedSpecial: new Set<string>() };

/**
 * Counts tokens with the o200k encoding (GPT-4o family). User text may contain strings such as
 * `<|endoftext|>`; they are counted as plain text instead of raising.
 */
export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  return countO200kTokens(text, NO_SPECIAL_TOKENS);
}
