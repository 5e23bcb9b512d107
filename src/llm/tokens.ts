import { countTokens as countO200kTokens } from 'gpt-tokenizer';

/**
 * Tokens a chat message costs beyond its text (role and separators). OpenAI documents about 3 to 4 for
 * its chat formats; counts for other models are estimates either way.
 */
export const MESSAGE_OVERHEAD_TOKENS = 4;

const NO_SPECIAL_TOKENS = { disallowedSpecial: new Set<string>() };

/**
 * Texts at least this long are remembered, because every turn counts the same system prompt, tool
 * definitions and home context again. A lookup costs one hash of the string, far less than a tokenizer pass.
 */
const MEMO_MIN_LENGTH = 1024;
const MEMO_ENTRIES = 64;
const memo = new Map<string, number>();

/**
 * Counts tokens with the o200k encoding (GPT-4o family). User text may contain strings such as
 * `<|endoftext|>`; they are counted as plain text instead of raising.
 */
export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  if (text.length < MEMO_MIN_LENGTH) return countO200kTokens(text, NO_SPECIAL_TOKENS);
  const known = memo.get(text);
  if (known !== undefined) {
    // Reinserting keeps the Map in least-recently-used order, so the oldest entry is the first key.
    memo.delete(text);
    memo.set(text, known);
    return known;
  }
  const tokens = countO200kTokens(text, NO_SPECIAL_TOKENS);
  memo.set(text, tokens);
  if (memo.size > MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
  return tokens;
}
