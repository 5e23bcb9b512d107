/** Service data keys that carry a secret, such as a lock's code; their values are never shown back. */
export const SECRET_DATA_KEYS: ReadonlySet<string> = new Set(['code', 'pin', 'password']);

/** Text that replaces a hidden value. */
export const HIDDEN_VALUE = '(hidden)';

/** A secret key with its value in JSON-like text: a string (escapes included), a number or a bare word. */
const SECRET_IN_TEXT = new RegExp(`"(${[...SECRET_DATA_KEYS].join('|')})"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*"?|[^,}\\s]+)`, 'g');

/**
 * Returns tool-call arguments with the value of every secret key replaced, at any depth, for display in
 * previews, the reply's tool calls and the audit trail. The stored arguments keep the real values,
 * which the model needs in the conversation's history.
 */
export function hideSecretArguments(value: unknown): unknown {
  // Arguments the model sent as broken JSON are stored as text, so secrets are hidden in that too.
  if (typeof value === 'string') return value.replace(SECRET_IN_TEXT, (_match, key: string) => `"${key}":"${HIDDEN_VALUE}"`);
  if (Array.isArray(value)) return value.map(hideSecretArguments);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, SECRET_DATA_KEYS.has(key) ? HIDDEN_VALUE : hideSecretArguments(inner)]));
}
