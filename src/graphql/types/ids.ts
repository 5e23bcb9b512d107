import { z } from 'zod';

/**
 * Any UUID in its usual text form, whatever its version, so a well-formed id this API never issued
 * (the nil UUID too) is simply not found.
 */
const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; a malformed one is BAD_USER_INPUT before any lookup. */
export const uuidArgument = z.string().regex(UUID_TEXT, 'must be a UUID such as 0193a5c4-8f3e-7c1a-9b2d-4e5f6a7b8c9d');

export const pageSizeArgument = z.number().int('must be a whole number').min(1, 'must be at least 1').max(100, 'must be at most 100');

export const cursorArgument = z.string().min(1, 'must not be empty').max(512, 'is not a cursor returned by this API');

/** `first` and `after` of a connection field, validated together so both problems are reported at once. */
export const pageArguments = z.object({ first: pageSizeArgument.nullish(), after: cursorArgument.nullish() });
