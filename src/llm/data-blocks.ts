/** Names of the blocks that carry home data and tool results into the prompt. */
const DATA_TAGS = ['home_context', 'home_state', 'tool_result'] as const;

/** Opening or closing tags of the data blocks, which data must not be able to write itself. */
const DELIMITER_TAG = new RegExp(`<(\\/?)\\s*(${DATA_TAGS.join('|')})`, 'gi');

/**
 * Escapes text that would open or close a data block, so a device name or a state cannot end its
 * block early and pose as instructions.
 */
export function escapeDataDelimiters(text: string): string {
  return text.replace(DELIMITER_TAG, '&lt;$1$2');
}

/** Wraps home data in a delimited block that the system prompt describes as data, not instructions. */
export function dataBlock(tag: 'home_context' | 'home_state', text: string): string {
  return `<${tag}>\n${escapeDataDelimiters(text)}\n</${tag}>`;
}
