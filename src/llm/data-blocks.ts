/** Names of the blocks that carry home data and tool results into the prompt. */
const DATA_TAGS = ['home_context', 'home_state', 'tool_result'] as const;

/** Opening or closing tags of the data blocks, which data must not be able to write itself. */
const DELIMITER_TAG = new RegExp(`<(\\/?)\\s*(${DATA_TAGS.join('|')})`, 'gi');

/**
 * Left-pointing angle brackets and characters that look like one: ASCII, full-width and small forms,
 * angle quotation marks, CJK and mathematical angle brackets, ornaments, modifier arrowheads and the
 * Canadian syllabics that are drawn the same way. A model may read any of them as the start of a tag.
 */
const LEFT_ANGLES = '<\uFF1C\uFE64\u2039\u00AB\u2329\u3008\u27E8\u27EA\u300A\u276C\u276E\u2770\u29FC\u2991\u02C2\u1438\u22D6\u226A';
/** The right-pointing counterparts of LEFT_ANGLES, in the same order. */
const RIGHT_ANGLES = '>\uFF1E\uFE65\u203A\u00BB\u232A\u3009\u27E9\u27EB\u300B\u276D\u276F\u2771\u29FD\u2992\u02C3\u1433\u22D7\u226B';

/**
 * Characters that print nothing: format characters (zero-width spaces and joiners, bidi embeddings,
 * overrides and isolates, the byte order mark, Unicode tag characters), the combining grapheme joiner,
 * the Hangul fillers and the variation selectors. They can hide text from a reader or split a word such
 * as a tag name so that a filter misses it.
 */
const INVISIBLE = '\\p{Cf}\\u034F\\u115F\\u1160\\u3164\\uFFA0\\uFE00-\\uFE0F\\u{E0100}-\\u{E01EF}';

const ANGLE = new RegExp(`[${LEFT_ANGLES}${RIGHT_ANGLES}]`, 'gu');
const INVISIBLE_RUN = new RegExp(`[${INVISIBLE}]+`, 'gu');
/** Line and paragraph breaks and every other control character or space, which could start a line that reads like an instruction. */
const BREAK_OR_SPACE = /[\p{Cc}\p{Z}\s]+/gu;
/** Every character that the tool result JSON writes as a `\u` escape; JSON.stringify leaves line and paragraph separators as they are. */
const UNSAFE_IN_JSON = new RegExp(`[${LEFT_ANGLES}${RIGHT_ANGLES}${INVISIBLE}\\u2028\\u2029]`, 'gu');

/**
 * Makes untrusted text from Home Assistant (a name, state, attribute or area) safe to place on one line
 * of a data block. It drops invisible characters, turns line breaks and runs of spaces into one space,
 * and writes every angle bracket and look-alike as `&lt;` or `&gt;`, so the text can form no tag.
 */
export function untrustedText(text: string): string {
  return text
    .replace(INVISIBLE_RUN, '')
    .replace(BREAK_OR_SPACE, ' ')
    .trim()
    .replace(ANGLE, (bracket) => (LEFT_ANGLES.includes(bracket) ? '&lt;' : '&gt;'));
}

/** Quotes untrusted text as a JSON string, so a quote inside it cannot end the quoted string. */
export function quotedUntrustedText(text: string): string {
  return JSON.stringify(untrustedText(text));
}

/** Writes one character as JSON `\u` escapes, one per UTF-16 code unit. */
function jsonEscape(character: string): string {
  let escaped = '';
  for (let position = 0; position < character.length; position += 1) {
    escaped += `\\u${character.charCodeAt(position).toString(16).padStart(4, '0')}`;
  }
  return escaped;
}

/**
 * Serializes a value to JSON in which angle brackets, their look-alikes and invisible characters are
 * `\u` escapes. The JSON parses back to the same value, but its text can never form a tag and hides
 * nothing from a reader. JSON syntax uses none of these characters, so only string contents change.
 */
export function promptJson(value: unknown): string {
  return (JSON.stringify(value ?? null) ?? 'null').replace(UNSAFE_IN_JSON, jsonEscape);
}

/**
 * Escapes text that would open or close a data block. Each untrusted part is already passed through
 * `untrustedText`, so this only guards the block against text that skipped it.
 */
export function escapeDataDelimiters(text: string): string {
  return text.replace(DELIMITER_TAG, '&lt;$1$2');
}

/** Wraps home data in a delimited block that the system prompt describes as data, not instructions. */
export function dataBlock(tag: 'home_context' | 'home_state', text: string): string {
  return `<${tag}>\n${escapeDataDelimiters(text)}\n</${tag}>`;
}
