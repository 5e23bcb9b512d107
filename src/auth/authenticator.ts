import type { Logger } from '../observability/logger.js';
import { SCOPES, type Scope } from '../config.js';
import { AppError } from '../security/errors.js';
import type { ApiKeyService } from './api-key-service.js';
import { apiKeyIdOf, looksLikeApiKey } from './api-key-format.js';
import { DEFAULT_SCOPES, type Caller } from './caller.js';
import type { JwtVerifier } from './jwt.js';

function knownScopes(names: readonly string[]): Set<Scope> {
  return new Set(names.filter((scope): scope is Scope => (SCOPES as readonly string[]).includes(scope)));
}

function parseScopes(value: unknown): Set<Scope> {
  if (typeof value !== 'string') return new Set(DEFAULT_SCOPES);
  return knownScopes(value.split(/\s+/));
}

/**
 * Reads a JWT's `scope` claim: a space-separated string, or a list of strings as some identity providers
 * issue. Only a missing claim means the default scopes; any other shape returns undefined, so a
 * malformed claim is rejected rather than read as full access.
 */
function parseJwtScopes(claim: unknown): Set<Scope> | undefined {
  if (claim === undefined) return new Set(DEFAULT_SCOPES);
  if (typeof claim === 'string') return knownScopes(claim.split(/\s+/));
  if (Array.isArray(claim) && claim.every((scope) => typeof scope === 'string')) return knownScopes(claim);
  return undefined;
}

/** Longest Authorization value looked at; real API keys and JWTs are far shorter. */
const MAX_AUTHORIZATION_LENGTH = 8_192;

/** Extracts the token from an `Authorization: Bearer <token>` value. */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  if (!authorization) return undefined;
  if (authorization.length > MAX_AUTHORIZATION_LENGTH) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

/** Limits authentication attempts per client address, so credentials cannot be guessed at speed. */
export interface AuthAttemptLimiter {
  /**
   * Counts an attempt before its credential is checked, and throws RATE_LIMITED when the address has
   * used up its failed attempts. Returns a function that takes the attempt back once it succeeded.
   */
  reserveAuthAttempt(clientIp: string): Promise<() => Promise<void>>;
}

/**
 * Turns a credential into a Caller. Every failure gives the same UNAUTHENTICATED error, so a client cannot
 * tell an unknown key from a revoked one or a bad signature from an expired token.
 */
export class Authenticator {
  constructor(
    private readonly apiKeys: ApiKeyService,
    private readonly jwt: JwtVerifier,
    private readonly logger: Logger,
    private readonly attempts?: AuthAttemptLimiter,
  ) {}

  /**
   * Verifies the credential. With a client address, a missing or invalid credential counts as a failed
   * attempt of that address, and an address with too many failures gets RATE_LIMITED without a check.
   */
  async authenticate(authorization: string | null | undefined, clientIp?: string): Promise<Caller> {
    const succeeded = clientIp !== undefined && this.attempts ? await this.attempts.reserveAuthAttempt(clientIp) : undefined;
    const caller = await this.verify(authorization, clientIp);
    await succeeded?.();
    return caller;
  }

  private async verify(authorization: string | null | undefined, clientIp: string | undefined): Promise<Caller> {
    const token = bearerToken(authorization);
    if (!token) throw AppError.unauthenticated();

    if (looksLikeApiKey(token)) {
      const key = await this.apiKeys.verify(token);
      if (!key) {
        // The key id is public and shows an operator which key is being tried. The secret is never logged.
        this.logger.info({ event: 'auth.rejected', credential: 'api-key', keyId: apiKeyIdOf(token), clientIp }, 'API key rejected');
        throw AppError.unauthenticated('Invalid or revoked API key.');
      }
      return { userId: key.userId, scopes: parseScopes(key.scopes), credential: { kind: 'api-key', keyId: key.id } };
    }

    const result = await this.jwt.verify(token);
    if (!result.ok) {
      // An unreachable key set rejects every token, which an operator must hear about.
      const keysUnavailable = result.reason === 'ERR_JWKS_UNREACHABLE' || result.reason === 'ERR_JWKS_TIMEOUT';
      this.logger[keysUnavailable ? 'warn' : 'info']({ event: 'auth.rejected', credential: 'jwt', reason: result.reason, clientIp }, 'JWT rejected');
      throw AppError.unauthenticated('Invalid or expired token.');
    }
    const scopes = parseJwtScopes(result.payload.scope);
    if (!scopes) {
      this.logger.info({ event: 'auth.rejected', credential: 'jwt', reason: 'invalid scope claim', clientIp }, 'JWT rejected');
      throw AppError.unauthenticated('Invalid or expired token.');
    }
    return {
      userId: result.payload.sub,
      scopes,
      credential: { kind: 'jwt', expiresAt: new Date(result.payload.exp * 1000) },
    };
  }
}
