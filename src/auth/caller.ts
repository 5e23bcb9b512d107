import type { Scope } from '../config.js';

/** The authenticated user behind a request, socket or subscription. */
export interface Caller {
  userId: string;
  scopes: ReadonlySet<Scope>;
  credential: { kind: 'jwt' /** Expiry from the `exp` claim, which every accepted token has. */; expiresAt: Date } | { kind: 'api-key'; keyId: string };
}

export const DEFAULT_SCOPES: readonly Scope[] = ['chat', 'read', 'control'];

export function hasScope(caller: Caller, scope: Scope): boolean {
  return caller.scopes.has(scope) || caller.scopes.has('admin');
}
