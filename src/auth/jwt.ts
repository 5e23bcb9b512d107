import { errors, jwtVerify, type JWTPayload } from 'jose';

export interface JwtSettings {
  secret: string | undefined;
  issuer: string | undefined;
  audience: string | undefined;
  /** Allowed clock difference for `exp` and `nbf`, in seconds. */
  clockToleranceSeconds: number;
}

export type JwtResult = { ok: true; payload: JWTPayload & { sub: string } } | { ok: false; reason: string };

/**
 * Verifies an HS256 token. The algorithm list is explicit, so `alg: none` and tokens signed with another
 * algorithm are rejected whatever their header says.
 */
export async function verifyJwt(token: string, settings: JwtSettings): Promise<JwtResult> {
  if (!settings.secret) return { ok: false, reason: 'JWT verification is not configured' };

  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(settings.secret), {
      algorithms: ['HS256'],
      issuer: settings.issuer,
      audience: settings.audience,
      clockTolerance: settings.clockToleranceSeconds,
    });
    if (typeof payload.sub !== 'string' || payload.sub.trim() === '') return { ok: false, reason: 'token has no subject' };
    return { ok: true, payload: payload as JWTPayload & { sub: string } };
  } catch (error) {
    if (error instanceof errors.JOSEError) return { ok: false, reason: error.code };
    throw error;
  }
}
