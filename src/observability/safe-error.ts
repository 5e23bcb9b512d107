/** The form in which an error reaches a log line. */
export interface SerializedError {
  type: string;
  /** Left out for causes, which are mostly a library's or an upstream service's own wording. */
  message?: string;
  /** A machine-readable code when the error has one, such as SQLITE_ERROR, ECONNREFUSED or 23505. */
  code?: string;
  cause?: SerializedError;
}

/** Maximum length of an error message in a log line, in characters. */
const MAX_MESSAGE_CHARS = 300;

/** How many `cause` links are followed. */
const MAX_CAUSE_DEPTH = 3;

/** Text from a SQL keyword up to the driver's " - " separator, as in MikroORM's and knex's error messages. */
const SQL_STATEMENT = /\b(?:select|insert\s+into|update|delete\s+from|create\s+(?:table|index)|alter\s+table|drop\s+table|pragma|with)\b[\s\S]*?(?=\s-\s|$)/gi;

/** Absolute POSIX and Windows paths, and file URLs. */
const FILE_PATH = /(?:file:\/\/)?(?:\/[\w.@+-]+){2,}\/?|[A-Za-z]:\\(?:[\w.@+ -]+\\)*[\w.@+ -]*/g;

/** Quoted values from a database message, such as the row values in a constraint error. */
const QUOTED_DETAIL = /\((?:[^()]*)\)=\((?:[^()]*)\)/g;

/**
 * Makes an error message fit for a log line: SQL statements, file paths and row values are replaced,
 * and the rest is cut to a fixed length. The message still states what failed, such as "no such table:
 * conversations", which an operator needs next to the error type and code.
 */
export function cleanErrorMessage(message: string): string {
  const cleaned = message.replace(SQL_STATEMENT, '[SQL]').replace(QUOTED_DETAIL, '[values]').replace(FILE_PATH, '[path]').replace(/\s+/g, ' ').trim();
  return cleaned.length > MAX_MESSAGE_CHARS ? `${cleaned.slice(0, MAX_MESSAGE_CHARS)}…` : cleaned;
}

function errorCode(error: Error & { code?: unknown; errno?: unknown }): string | undefined {
  if (typeof error.code === 'string' || typeof error.code === 'number') return String(error.code);
  if (typeof error.errno === 'number') return String(error.errno);
  return undefined;
}

/**
 * Serializes `err` and `error` fields for pino. It keeps the type, code and a cleaned message, and the
 * types and codes of the causes. It drops the stack, enumerable fields (which carry SQL, parameters and
 * upstream bodies) and anything else a library attached.
 */
export function serializeError(value: unknown, depth = 0): SerializedError | unknown {
  if (!(value instanceof Error)) {
    if (typeof value === 'string') return { type: 'string', message: cleanErrorMessage(value) };
    return value;
  }
  const serialized: SerializedError = { type: value.name || value.constructor?.name || 'Error' };
  if (depth === 0) serialized.message = cleanErrorMessage(value.message);
  const code = errorCode(value);
  if (code) serialized.code = code;
  if (value.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    const cause = serializeError(value.cause, depth + 1);
    if (cause && typeof cause === 'object' && 'type' in cause) serialized.cause = cause as SerializedError;
  }
  return serialized;
}
