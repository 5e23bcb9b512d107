import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

export interface JwtSettings {
  /** HMAC secret. Exactly one of secret and jwksUrl is set when JWTs are accepted. */
  secret: string | undefined;
  /** URL of a JSON Web Key Set with the issuer's public keys. */
  jwksUrl: string | undefined;
  /** The accepted `alg` values. A token whose header names any other algorithm is rejected. */
  algorithms: string[];
  issuer: string | undefined;
  audience: string | undefined;
  /** Allowed clock difference for `exp` and `nbf`, in seconds. */
  clockToleranceSeconds: number;
  /** How long a downloaded key set is used before it is fetched again, in milliseconds. */
  jwksCacheMs: number;
  /** Least time between two downloads caused by tokens with an unknown `kid`, in milliseconds. */
  jwksCooldownMs: number;
}

/** Maximum length of `sub`, because user ids are stored in columns of this length. */
const MAX_SUBJECT_LENGTH = 255;

/** Time allowed for one JWKS download, in milliseconds. */
const JWKS_TIMEOUT_MS = 5_000;

export type VerifiedJwt = JWTPayload & { sub: string; exp: number };

export type JwtResult = { ok: true; payload: VerifiedJwt } | { ok: false; reason: string };

/**
 * Verifies JWTs with either a shared HMAC secret or the public keys of a JWKS document, never both.
 * The algorithm list is explicit and each key source has its own list, so `alg: none`, an RS256 token
 * signed with an HMAC secret and an HS256 token "signed" with a public key are all rejected whatever
 * the token header names. Header parameters that point to keys (`jku`, `jwk`, `x5u`) are ignored: keys
 * come only from the configuration.
 */
export class JwtVerifier {
  private readonly key: Uint8Array | JWTVerifyGetKey | undefined;

  constructor(private readonly settings: JwtSettings) {
    if (settings.secret) {
      this.key = new TextEncoder().encode(settings.secret);
    } else if (settings.jwksUrl) {
      // jose (6.x) downloads the set again when a token names a `kid` it has not seen, at most once per
      // cooldown.
      this.key = createRemoteJWKSet(new URL(settings.jwksUrl), {
        cacheMaxAge: settings.jwksCacheMs,
        cooldownDuration: settings.jwksCooldownMs,
        timeoutDuration: JWKS_TIMEOUT_MS,
      });
    }
  }

  get configured(): boolean {
    return this.key !== undefined;
  }

  async verify(token: string): Promise<JwtResult> {
    if (!this.key) return { ok: false, reason: 'JWT verification is not configured' };

    try {
      const options = {
        algorithms: this.settings.algorithms,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: this.settings.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      };
      const { payload } = this.key instanceof Uint8Array ? await jwtVerify(token, this.key, options) : await jwtVerify(token, this.key, options);
      if (typeof payload.sub !== 'string' || payload.sub.trim() === '' || payload.sub.length > MAX_SUBJECT_LENGTH) {
        return { ok: false, reason: 'invalid subject' };
      }
      return { ok: true, payload: payload as VerifiedJwt };
    } catch (error) {
      if (error instanceof errors.JOSEError) return { ok: false, reason: error.code };
      // A network failure while fetching the key set is the only other expected error.
      if (error instanceof TypeError) return { ok: false, reason: 'ERR_JWKS_UNREACHABLE' };
      throw error;
    }
  }
}
