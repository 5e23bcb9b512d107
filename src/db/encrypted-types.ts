import { JsonType, Type, type Platform } from '@mikro-orm/core';
import { DataCipher, escapePlain, fingerprint } from '../security/data-cipher.js';

/**
 * The cipher of each open database. Entity definitions are shared by every database a process opens
 * (tests open several, with different keys), so the types look the cipher up by the platform that
 * MikroORM passes to every conversion. A platform without a cipher stores plain values.
 */
const ciphers = new WeakMap<Platform, DataCipher>();

export function useCipher(platform: Platform, cipher: DataCipher): void {
  ciphers.set(platform, cipher);
}

const PLAIN = new DataCipher(undefined);

function cipherOf(platform: Platform): DataCipher {
  return ciphers.get(platform) ?? PLAIN;
}

/** Most stored values kept for change detection; older ones are forgotten first. */
const REMEMBERED_VALUES = 10_000;

/**
 * Remembers which plain value each stored value holds, by fingerprint only.
 *
 * MikroORM finds changed fields by comparing the stored form of a field at load time with its stored form
 * at flush time. Encryption uses a random IV, so the same text gives a new stored form each time, and every
 * loaded entity would look changed. compareValues() instead compares the plain values behind two stored
 * forms. A stored form it has forgotten counts as changed, which only costs a redundant write.
 */
class SealedValues {
  private readonly plainFingerprints = new Map<string, string>();

  remember(stored: string, plain: string): void {
    // A value stored as it is compares equal by itself.
    if (stored === plain) return;
    if (this.plainFingerprints.size >= REMEMBERED_VALUES) {
      const oldest = this.plainFingerprints.keys().next().value;
      if (oldest !== undefined) this.plainFingerprints.delete(oldest);
    }
    this.plainFingerprints.set(fingerprint(stored), fingerprint(plain));
  }

  same(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    if (typeof a !== 'string' || typeof b !== 'string') return false;
    const first = this.plainFingerprints.get(fingerprint(a));
    return first !== undefined && first === this.plainFingerprints.get(fingerprint(b));
  }
}

/**
 * A text column stored with the database's DataCipher: encrypted when DATA_ENCRYPTION_KEY is set, plain
 * otherwise. `field` (such as `messages.content`) is bound into the ciphertext.
 */
export class EncryptedTextType extends Type<string | null | undefined, string | null | undefined> {
  private readonly sealed = new SealedValues();

  constructor(readonly field: string) {
    super();
  }

  override convertToDatabaseValue(value: string | null | undefined, platform: Platform): string | null | undefined {
    if (value === null || value === undefined) return value;
    const stored = cipherOf(platform).seal(value, this.field);
    this.sealed.remember(stored, value);
    return stored;
  }

  override convertToJSValue(value: string | null | undefined, platform: Platform): string | null | undefined {
    if (value === null || value === undefined) return value;
    const plain = cipherOf(platform).open(value, this.field);
    this.sealed.remember(value, plain);
    return plain;
  }

  override compareAsType(): string {
    return 'string';
  }

  override compareValues(a: unknown, b: unknown): boolean {
    return this.sealed.same(a, b);
  }

  override getColumnType(): string {
    return 'text';
  }
}

/**
 * A JSON column stored with the database's DataCipher. An encrypted value is stored as a JSON string
 * holding the sealed JSON text, so the column stays valid JSON on PostgreSQL. A plain JSON string that
 * begins with U+0001 is escaped the way plain text is.
 */
export class EncryptedJsonType extends JsonType {
  private readonly sealed = new SealedValues();

  constructor(readonly field: string) {
    super();
  }

  override convertToDatabaseValue(value: unknown, platform: Platform, context?: Parameters<JsonType['convertToDatabaseValue']>[2]): string | null {
    if (value === null || value === undefined) return value as null;
    const cipher = cipherOf(platform);
    const storedValue = cipher.current ? cipher.seal(JSON.stringify(value), this.field) : typeof value === 'string' ? escapePlain(value) : value;
    const stored = super.convertToDatabaseValue(storedValue, platform, context) as string;
    this.sealed.remember(stored, JSON.stringify(value));
    return stored;
  }

  override convertToJSValue(value: unknown, platform: Platform, context?: Parameters<JsonType['convertToJSValue']>[2]): unknown {
    if (value === null || value === undefined) return value;
    const parsed = super.convertToJSValue(value as string, platform, context);
    if (typeof parsed !== 'string' || !parsed.startsWith('\u0001')) return parsed;
    const opened = cipherOf(platform).open(parsed, this.field);
    // An escaped plain string opens to itself; an encrypted value opens to its JSON text.
    const plain = parsed.startsWith('\u0001raw:') ? opened : (JSON.parse(opened) as unknown);
    if (typeof value === 'string') this.sealed.remember(value, JSON.stringify(plain));
    return plain;
  }

  override compareValues(a: unknown, b: unknown): boolean {
    return this.sealed.same(a, b);
  }
}
