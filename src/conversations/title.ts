/** Longest generated title, in characters. */
export const TITLE_MAX_CHARS = 60;

/** A new conversation's title: the first line of its first message, whitespace collapsed, cut at 60 characters. */
export function titleFromMessage(message: string): string {
  const firstLine = message.trim().split(/\r?\n/, 1)[0] ?? '';
  const collapsed = firstLine.replace(/\s+/g, ' ').trim();
  const characters = [...collapsed];
  if (characters.length <= TITLE_MAX_CHARS) return collapsed || 'New conversation';
  return `${characters
    .slice(0, TITLE_MAX_CHARS - 1)
    .join('')
    .trimEnd()}…`;
}
