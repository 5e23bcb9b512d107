import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `haa_<id>_<secret>`. The prefix tells them apart from JWTs (which start with `eyJ`),
 * the id is public and finds the stored record, and only a SHA-256 hash of the 256-bit secret is stored.
 * A fast hash is enough here because the secret is random, not a password a person chose.
 */
export const API_KEY_PREFIX = 'haa_';

const API_KEY_PATTERN = /^haa_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface GeneratedApiKey {
  id: string;
  /** The full key to hand to the user once. */
  key: string;
  secretHash: string;
}

export function generateApiKey(): GeneratedApiKey {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `${API_KEY_PREFIX}${id}_${secret}`, secretHash: hashSecret(secret) };
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/** Splits a presented key into id and secret, or returns undefined when it is malformed. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const match = API_KEY_PATTERN.exec(key);
  if (!match?.[1] || !match[2]) return undefined;
  return { id: match[1], secret: match[2] };
}

/**
 * Returns the public id of a presented key even when its secret part is malformed, so a rejected
 * attempt can name the key it tried. Returns undefined when no id of the usual shape follows the prefix.
 */
export function apiKeyIdOf(key: string): string | undefined {
  return /^haa_([0-9a-f]{16})(?:_|$)/.exec(key)?.[1];
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares a presented secret with a stored hash in time that does not depend on where they differ. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
