import type { Logger } from '../observability/logger.js';
import { SCOPES, type Scope } from '../config.js';
import { AppError } from '../security/errors.js';
import type { ApiKeyService } from './api-key-service.js';
import { looksLikeApiKey } from './api-key-format.js';
import { DEFAULT_SCOPES, type Caller } from './caller.js';
import { verifyJwt, type JwtSettings } from './jwt.js';

function parseScopes(value: unknown): Set<Scope> {
  if (typeof value !== 'string') return new Set(DEFAULT_SCOPES);
  return new Set(value.split(/\s+/).filter((scope): scope is Scope => (SCOPES as readonly string[]).includes(scope)));
}

/** Extracts the token from an `Authorization: Bearer <token>` value. */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

/**
 * Turns a credential into a Caller. Every failure gives the same UNAUTHENTICATED error, so a client cannot
 * tell an unknown key from a revoked one or a bad signature from an expired token.
 */
export class Authenticator {
  constructor(
    private readonly apiKeys: ApiKeyService,
    private readonly jwt: JwtSettings,
    private readonly logger: Logger,
  ) {}

  async authenticate(authorization: string | null | undefined): Promise<Caller> {
    const token = bearerToken(authorization);
    if (!token) throw AppError.unauthenticated();

    if (looksLikeApiKey(token)) {
      const key = await this.apiKeys.verify(token);
      if (!key) {
        this.logger.info({ event: 'auth.rejected', credential: 'api-key' }, 'API key rejected');
        throw AppError.unauthenticated('Invalid or revoked API key.');
      }
      return { userId: key.userId, scopes: parseScopes(key.scopes), credential: { kind: 'api-key', keyId: key.id } };
    }

    const result = await verifyJwt(token, this.jwt);
    if (!result.ok) {
      this.logger.info({ event: 'auth.rejected', credential: 'jwt', reason: result.reason }, 'JWT rejected');
      throw AppError.unauthenticated('Invalid or expired token.');
    }
    return {
      userId: result.payload.sub,
      scopes: parseScopes(result.payload.scope),
      credential: { kind: 'jwt', expiresAt: result.payload.exp ? new Date(result.payload.exp * 1000) : undefined },
    };
  }
}
