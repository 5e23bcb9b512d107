import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** An AES-256 key with the id stored next to every value it encrypts. */
export interface DataKey {
  id: string;
  key: Buffer;
}

/** Key ids are short and plain, because each encrypted value repeats its key id. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export const KEY_FORMAT_HELP = 'KEY_ID:BASE64, where BASE64 encodes 32 random bytes, for example k1:$(openssl rand -base64 32)';

/**
 * Parses `KEY_ID:BASE64` (standard or URL-safe base64 of exactly 32 bytes). Returns undefined when the
 * value has another form; the configuration reports it with KEY_FORMAT_HELP.
 */
export function parseDataKey(value: string): DataKey | undefined {
  const separator = value.indexOf(':');
  if (separator < 0) return undefined;
  const id = value.slice(0, separator).trim();
  const encoded = value.slice(separator + 1).trim();
  if (!KEY_ID_PATTERN.test(id) || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) return undefined;
  const key = Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return key.length === 32 ? { id, key } : undefined;
}

/**
 * Starts every encrypted value. Text seldom begins with U+0001, and plain values that do are escaped, so
 * no plain value is read as an encrypted one.
 */
const ENCRYPTED_PREFIX = '\u0001enc:v1:';
/** Marks a plain value that itself begins with U+0001, so it is not read as an encrypted one. */
const ESCAPED_PREFIX = '\u0001raw:';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Text encrypted under every key when it is first used, to detect a wrong key at startup. */
const KEY_CHECK_TEXT = 'ha-ai-agent data key check';
const KEY_CHECK_FIELD = 'encryption_keys.check_value';

/** Raised when a stored value cannot be decrypted: its key is not configured, or the key or data is wrong. */
export class DecryptionError extends Error {
  constructor(
    message: string,
    readonly keyId: string | undefined,
  ) {
    super(message);
    this.name = 'DecryptionError';
  }
}

/** Returns the text that every value encrypted with the key `keyId` begins with. */
export function encryptedPrefix(keyId: string): string {
  return `${ENCRYPTED_PREFIX}${keyId}:`;
}

/** Returns the key id of an encrypted stored value, or undefined for a plain one. */
export function encryptedKeyId(stored: string): string | undefined {
  if (!stored.startsWith(ENCRYPTED_PREFIX)) return undefined;
  const rest = stored.slice(ENCRYPTED_PREFIX.length);
  const separator = rest.indexOf(':');
  return separator > 0 ? rest.slice(0, separator) : undefined;
}

/**
 * Encrypts stored values with AES-256-GCM. Each value becomes `\u0001enc:v1:KEY_ID:DATA`, where DATA is
 * base64url of a random 12-byte IV, the 16-byte tag and the ciphertext. The additional authenticated
 * data names the key id and the column (such as `messages.content`), so a value copied into another
 * column, or relabelled with another key id, fails to decrypt instead of giving garbage.
 *
 * Without a current key, new values are stored plain and the old keys only decrypt, which is how
 * encryption is turned off again.
 */
export class DataCipher {
  private readonly keys = new Map<string, Buffer>();

  constructor(
    readonly current: DataKey | undefined,
    readonly old: readonly DataKey[] = [],
  ) {
    for (const key of [...old, ...(current ? [current] : [])]) this.keys.set(key.id, key.key);
  }

  hasKey(id: string): boolean {
    return this.keys.has(id);
  }

  /** Encrypts `plain` under the current key, or returns it plain (escaped if needed) without one. */
  seal(plain: string, field: string): string {
    if (!this.current) return escapePlain(plain);
    return encryptWith(this.current, plain, field);
  }

  /** Reverses seal() for any configured key; plain values pass through. Throws DecryptionError. */
  open(stored: string, field: string): string {
    if (stored.startsWith(ESCAPED_PREFIX)) return stored.slice(ESCAPED_PREFIX.length);
    const keyId = encryptedKeyId(stored);
    if (keyId === undefined) {
      if (stored.startsWith(ENCRYPTED_PREFIX)) throw new DecryptionError(`A stored ${field} value is malformed.`, undefined);
      return stored;
    }
    const key = this.keys.get(keyId);
    if (!key) {
      throw new DecryptionError(`A stored ${field} value is encrypted with key "${keyId}", which is not configured.`, keyId);
    }
    return decryptWith({ id: keyId, key }, stored, field);
  }

  /** Returns the check value of a key: the fixed check text encrypted under it. */
  static keyCheck(key: DataKey): string {
    return encryptWith(key, KEY_CHECK_TEXT, KEY_CHECK_FIELD);
  }

  /** Returns whether `check` was made by keyCheck() with this very key. */
  static matchesKeyCheck(key: DataKey, check: string): boolean {
    try {
      return decryptWith(key, check, KEY_CHECK_FIELD) === KEY_CHECK_TEXT;
    } catch {
      return false;
    }
  }
}

/** Stores plain text unchanged unless it could be mistaken for an encrypted or escaped value. */
export function escapePlain(plain: string): string {
  return plain.startsWith('\u0001') ? `${ESCAPED_PREFIX}${plain}` : plain;
}

function additionalData(keyId: string, field: string): Buffer {
  return Buffer.from(`ha-ai-agent:v1:${keyId}:${field}`, 'utf8');
}

function encryptWith(key: DataKey, plain: string, field: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(additionalData(key.id, field));
  const encrypted = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const data = Buffer.concat([iv, cipher.getAuthTag(), encrypted]).toString('base64url');
  return `${ENCRYPTED_PREFIX}${key.id}:${data}`;
}

function decryptWith(key: DataKey, stored: string, field: string): string {
  const data = Buffer.from(stored.slice(ENCRYPTED_PREFIX.length + key.id.length + 1), 'base64url');
  if (data.length < IV_BYTES + TAG_BYTES) throw new DecryptionError(`A stored ${field} value is truncated.`, key.id);
  const decipher = createDecipheriv('aes-256-gcm', key.key, data.subarray(0, IV_BYTES));
  decipher.setAAD(additionalData(key.id, field));
  decipher.setAuthTag(data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(data.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new DecryptionError(`A stored ${field} value does not decrypt with key "${key.id}": the key is wrong or the data was altered.`, key.id);
  }
}

/** Returns a short fingerprint of a value, to compare sealed values without keeping their text. */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}
