import { createHash, randomBytes } from 'node:crypto';

import type { HassContext } from './types.js';

const CROCKFORD_BASE32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Creates a ULID (48-bit millisecond time plus 80 random bits), the context id format of current cores. */
export function newUlid(now = Date.now()): string {
  let time = '';
  let remaining = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD_BASE32[remaining % 32] + time;
    remaining = Math.floor(remaining / 32);
  }

  const bytes = randomBytes(16);
  let random = '';
  for (let i = 0; i < 16; i++) {
    random += CROCKFORD_BASE32[bytes[i]! % 32];
  }
  return time + random;
}

export function newContext(userId: string | null = null): HassContext {
  return { id: newUlid(), parent_id: null, user_id: userId };
}

/**
 * Formats a time the way Home Assistant does (`2026-02-19T22:05:46.642000+00:00`): microseconds and an
 * explicit offset instead of JavaScript's `Z`.
 */
export function toHassTimestamp(date: Date | number = Date.now()): string {
  const iso = new Date(date).toISOString();
  return `${iso.slice(0, -1)}000+00:00`;
}

/** Converts an ISO timestamp into float epoch seconds, the form registry lists use for `created_at`. */
export function toEpochSeconds(value: unknown): number | unknown {
  if (typeof value !== 'string') {
    return value;
  }
  const millis = Date.parse(value);
  if (Number.isNaN(millis)) {
    return value;
  }
  // Keep the microseconds that Date.parse drops, so values round-trip like Home Assistant's floats.
  const micros = /\.\d{3}(\d{3})/.exec(value)?.[1];
  return millis / 1000 + (micros ? Number(micros) / 1e6 : 0);
}

/** Derives a stable 32-hex id, the format of registry ids, from a seed such as an entity id. */
export function stableHexId(seed: string): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, 32);
}

/** Turns a name into an object id the way Home Assistant's `slugify` does for plain ASCII names. */
export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return slug === '' ? 'unknown' : slug;
}
