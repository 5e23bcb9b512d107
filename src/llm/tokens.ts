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
 * Maximum length of a piece handed to the tokenizer in one call. gpt-tokenizer 4.0 merges each
 * pre-token (a word, a run of digits, punctuation or spaces) at a cost that grows about with the square
 * of its length. CJK text, or any text without spaces, is one pre-token: 16,000 CJK characters took
 * about 0.8 s in one call on this project's test machine. Cut into slices, the cost grows linearly.
 */
const SLICE_CHARS = 256;

/** A slice may end this many characters early to end before a space, where the tokenizer splits anyway. */
const SLICE_CUT_WINDOW = 64;

function countSlice(text: string): number {
  return countO200kTokens(text, NO_SPECIAL_TOKENS);
}

/**
 * Returns where the slice that starts at `start` ends. It ends before a space that follows a non-space
 * when there is one in the last SLICE_CUT_WINDOW characters. The tokenizer's pre-tokens never run
 * across such a space, so the pieces then count exactly what the whole text counts. Otherwise the
 * slice ends after SLICE_CHARS characters, but not inside a surrogate pair.
 */
function sliceEnd(text: string, start: number): number {
  const end = start + SLICE_CHARS;
  if (end >= text.length) return text.length;
  for (let position = end; position > end - SLICE_CUT_WINDOW; position -= 1) {
    if (text[position] === ' ' && !/\s/.test(text[position - 1] ?? ' ')) return position;
  }
  const code = text.charCodeAt(end - 1);
  return code >= 0xd800 && code <= 0xdbff ? end - 1 : end;
}

/**
 * Counts a text of any length in time linear in its length. Texts up to SLICE_CHARS characters, and
 * text whose slices all end before a space, are counted exactly. A cut inside a pre-token changes the
 * count by about one token, mostly upwards, which is fine for budgets: 16,000 random CJK characters
 * are about 30,000 tokens, and their 62 cuts change that by at most about 62.
 */
function countLinear(text: string): number {
  if (text.length <= SLICE_CHARS) return countSlice(text);
  let tokens = 0;
  for (let start = 0; start < text.length; ) {
    const end = sliceEnd(text, start);
    tokens += countSlice(text.slice(start, end));
    start = end;
  }
  return tokens;
}

/**
 * Counts tokens with the o200k encoding (GPT-4o family). User text may contain strings such as
 * `<|endoftext|>`; they are counted as plain text instead of raising. Long text without spaces may
 * be off by a few tokens in a thousand (see countLinear).
 */
export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  if (text.length < MEMO_MIN_LENGTH) return countLinear(text);
  const known = memo.get(text);
  if (known !== undefined) {
    // Reinserting keeps the Map in least-recently-used order, so the oldest entry is the first key.
    memo.delete(text);
    memo.set(text, known);
    return known;
  }
  const tokens = countLinear(text);
  memo.set(text, tokens);
  if (memo.size > MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
  return tokens;
}
