import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64url, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { openAuthenticatedSocket } from '../support/raw-graphql-ws.js';
import { openRawSse } from '../support/raw-sse.js';
import { startTestServer, TEST_JWT_SECRET, type TestServer } from '../support/server.js';
import { generateSigningKey, signWithKey, startJwksServer, type JwksServer, type SigningKey } from '../support/jwks.js';
import { ACCEPTED, CONVERSATION_EVENTS, REJECTED, storeConversation, tryEveryTransport } from '../support/transports.js';
import { postGraphQL, waitFor } from '../support/clients.js';

/**
 * Threat: forged, unsigned, expired, not yet valid, wrong-issuer and wrong-audience JWTs, algorithm
 * confusion and key injection, each presented on HTTP, SSE and graphql-ws as hand-made tokens.
 */

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'ha-ai-agent';
const now = () => Math.floor(Date.now() / 1000);

/** Signs an HS256 token with full control over header, claims and secret. */
async function signHs(claims: JWTPayload, options: { secret?: string; alg?: string; header?: Record<string, unknown> } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT', ...options.header })
    .sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}

const validClaims = (overrides: JWTPayload = {}): JWTPayload => ({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 3600, ...overrides });

/** A token with `alg: none` and an empty signature, as attackers write them by hand. */
function unsignedToken(claims: JWTPayload, alg = 'none'): string {
  const header = base64url.encode(JSON.stringify({ alg, typ: 'JWT' }));
  const payload = base64url.encode(JSON.stringify(claims));
  return `${header}.${payload}.`;
}

describe('HS256 tokens', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ env: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_CLOCK_TOLERANCE_SECONDS: '5' } });
  });

  afterAll(async () => {
    await server.close();
  });

  it('accepts a valid token on every transport', async () => {
    expect(await tryEveryTransport(server, await signHs(validClaims()))).toEqual(ACCEPTED);
  });

  it('accepts a token that expired within the clock tolerance', async () => {
    expect(await tryEveryTransport(server, await signHs(validClaims({ exp: now() - 2 })))).toEqual(ACCEPTED);
  });

  it('rejects bad tokens on every transport', async () => {
    const valid = await signHs(validClaims());
    const [header, , signature] = valid.split('.');
    const attacks: [string, string][] = [
      ['signed with another secret', await signHs(validClaims(), { secret: 'an-attacker-secret-that-is-long-enough-0123' })],
      ['alg none', unsignedToken(validClaims())],
      ['alg None', unsignedToken(validClaims(), 'None')],
      ['payload swapped under a valid signature', `${header}.${base64url.encode(JSON.stringify(validClaims({ sub: 'admin' })))}.${signature}`],
      ['signature removed', `${header}.${valid.split('.')[1]}.`],
      ['expired beyond the tolerance', await signHs(validClaims({ exp: now() - 60 }))],
      ['not yet valid', await signHs(validClaims({ nbf: now() + 60 }))],
      ['issued in the future without nbf but with exp past', await signHs(validClaims({ iat: now() + 3600, exp: now() - 60 }))],
      ['wrong issuer', await signHs(validClaims({ iss: 'https://evil.test' }))],
      ['no issuer', await signHs(validClaims({ iss: undefined }))],
      ['wrong audience', await signHs(validClaims({ aud: 'another-service' }))],
      ['no expiry', await signHs(validClaims({ exp: undefined }))],
      ['no subject', await signHs(validClaims({ sub: undefined }))],
      ['subject longer than a user id column', await signHs(validClaims({ sub: 'x'.repeat(256) }))],
      ['HS512 outside the algorithm list', await signHs(validClaims(), { alg: 'HS512' })],
      ['not a JWT at all', 'eyJhbGciOiJIUzI1NiJ9.not-json.x'],
      ['scope claim null', await signHs(validClaims({ scope: null }))],
      ['scope claim a number', await signHs(validClaims({ scope: 42 }))],
      ['scope claim an object', await signHs(validClaims({ scope: { read: true } }))],
      ['scope list with a number', await signHs(validClaims({ scope: ['read', 7] }))],
    ];
    for (const [name, token] of attacks) {
      expect(await tryEveryTransport(server, token), name).toEqual(REJECTED);
    }
  });

  it('reads scope claims as strings or lists', async () => {
    const cases: [unknown, string[]][] = [
      ['read', ['read']],
      [['read'], ['read']],
      [
        ['chat', 'read', 'unknown'],
        ['chat', 'read'],
      ],
      ['', []],
      [undefined, ['chat', 'read', 'control']],
    ];
    for (const [scope, expected] of cases) {
      const token = await signHs(validClaims({ scope }));
      const response = await postGraphQL(server.graphqlUrl, '{ viewer { scopes } }', {}, token);
      expect([...(response.body.data?.viewer.scopes ?? [])].sort(), JSON.stringify(scope)).toEqual([...expected].sort());
    }
  });

  it('rejects an RS256 token signed with a key of its own choosing', async () => {
    const attacker = await generateSigningKey('RS256', 'attacker');
    expect(await tryEveryTransport(server, await signWithKey(attacker, 'alice', { iss: ISSUER, aud: AUDIENCE }))).toEqual(REJECTED);
  });

  it('logs the rejection reason without the token', async () => {
    const expired = await signHs(validClaims({ exp: now() - 600 }));
    await tryEveryTransport(server, expired);
    const rejection = server.logs.find((line) => line.event === 'auth.rejected' && line.reason === 'ERR_JWT_EXPIRED');
    expect(rejection).toBeDefined();
    expect(JSON.stringify(server.logs)).not.toContain(expired.split('.')[2]);
  });
});

describe('tokens verified with a JWKS', () => {
  let jwks: JwksServer;
  let server: TestServer;
  let rsa: SigningKey;
  let ec: SigningKey;

  beforeAll(async () => {
    rsa = await generateSigningKey('RS256', 'rsa-1');
    ec = await generateSigningKey('ES256', 'ec-1');
    jwks = await startJwksServer([rsa.publicJwk, ec.publicJwk]);
    server = await startTestServer({ env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url, JWT_AUDIENCE: AUDIENCE, JWT_JWKS_COOLDOWN_SECONDS: '0' } });
  });

  afterAll(async () => {
    await server.close();
    await jwks.close();
  });

  it('accepts RS256 and ES256 tokens from the published keys', async () => {
    expect(await tryEveryTransport(server, await signWithKey(rsa, 'alice', { aud: AUDIENCE }))).toEqual(ACCEPTED);
    expect(await tryEveryTransport(server, await signWithKey(ec, 'alice', { aud: AUDIENCE }))).toEqual(ACCEPTED);
  });

  it('rejects an HS256 token keyed with the public key (algorithm confusion)', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const publishedPem = await exportSPKI(publicKey);
    const attempts = [
      await signHs(validClaims({ iss: undefined }), { secret: publishedPem, header: { kid: 'rsa-1' } }),
      await signHs(validClaims({ iss: undefined }), { secret: JSON.stringify(rsa.publicJwk), header: { kid: 'rsa-1' } }),
      await signHs(validClaims({ iss: undefined }), { secret: rsa.publicJwk.n as string, header: { kid: 'rsa-1' } }),
    ];
    for (const token of attempts) expect(await tryEveryTransport(server, token)).toEqual(REJECTED);
  });

  it('rejects unsigned tokens and keys the token brings along', async () => {
    const attacker = await generateSigningKey('RS256', 'rsa-1');
    const attackerJwks = await startJwksServer([attacker.publicJwk]);
    try {
      const attempts: [string, string][] = [
        ['alg none', unsignedToken({ sub: 'alice', aud: AUDIENCE, exp: now() + 60 })],
        ['own key under a published kid', await signWithKey(attacker, 'alice', { aud: AUDIENCE })],
        ['embedded jwk header', await signWithKey(attacker, 'alice', { aud: AUDIENCE }, { jwk: attacker.publicJwk })],
        ['jku header to a foreign key set', await signWithKey(attacker, 'alice', { aud: AUDIENCE }, { jku: attackerJwks.url, kid: 'rsa-1' })],
        ['wrong audience', await signWithKey(rsa, 'alice', { aud: 'another-service' })],
        ['expired', await signWithKey(rsa, 'alice', { aud: AUDIENCE, exp: now() - 120 })],
      ];
      for (const [name, token] of attempts) expect(await tryEveryTransport(server, token), name).toEqual(REJECTED);
      expect(attackerJwks.downloads).toBe(0);
    } finally {
      await attackerJwks.close();
    }
  });

  it('fetches the key set again for a kid it has not seen', async () => {
    const rotated = await generateSigningKey('RS256', 'rsa-2');
    const before = jwks.downloads;
    const token = await signWithKey(rotated, 'alice', { aud: AUDIENCE });
    expect(await tryEveryTransport(server, token)).toEqual(REJECTED);

    jwks.publish([rsa.publicJwk, ec.publicJwk, rotated.publicJwk]);
    expect(await tryEveryTransport(server, token)).toEqual(ACCEPTED);
    expect(jwks.downloads).toBeGreaterThan(before);
  });

  it('downloads the key set at most once per cooldown for unknown kids', async () => {
    const guarded = await startTestServer({ env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url, JWT_AUDIENCE: AUDIENCE, JWT_JWKS_COOLDOWN_SECONDS: '30' } });
    try {
      const ok = await signWithKey(rsa, 'alice', { aud: AUDIENCE });
      expect((await tryEveryTransport(guarded, ok)).http).toBe(200);
      const before = jwks.downloads;
      for (let index = 0; index < 10; index += 1) {
        const stranger = await generateSigningKey('RS256', `random-${index}`);
        expect((await tryEveryTransport(guarded, await signWithKey(stranger, 'alice', { aud: AUDIENCE }))).http).toBe(401);
      }
      expect(jwks.downloads - before).toBeLessThanOrEqual(1);
    } finally {
      await guarded.close();
    }
  });

  it('answers 401, not 500, while the key set cannot be reached', async () => {
    const unreachable = await startJwksServer([]);
    const url = unreachable.url;
    await unreachable.close();
    const orphan = await startTestServer({ env: { JWT_SECRET: undefined, JWT_JWKS_URL: url } });
    try {
      expect(await tryEveryTransport(orphan, await signWithKey(rsa, 'alice'))).toEqual(REJECTED);
      expect(orphan.logs.some((line) => line.event === 'auth.rejected' && line.level === 'warn' && line.reason === 'ERR_JWKS_UNREACHABLE')).toBe(true);
      expect(orphan.logs.some((line) => line.level === 'error')).toBe(false);
    } finally {
      await orphan.close();
    }
  });
});

describe('a token that expires during a stream', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ env: { JWT_CLOCK_TOLERANCE_SECONDS: '0' } });
  });

  afterAll(async () => {
    await server.close();
  });

  it('ends SSE and graphql-ws subscriptions with UNAUTHENTICATED and closes the socket', async () => {
    const conversationId = await storeConversation(server.app, 'alice');
    const exp = now() + 2;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));

    const sse = await openRawSse(server.graphqlUrl, CONVERSATION_EVENTS, { id: conversationId }, { authorization: `Bearer ${token}` });
    const socket = await openAuthenticatedSocket(server.wsUrl, token);
    socket.send({ type: 'subscribe', id: 'events', payload: { query: CONVERSATION_EVENTS, variables: { id: conversationId } } });
    expect(sse.status).toBe(200);

    const error = await socket.nextMessage((message) => message.id === 'events', 6_000);
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    expect(error).toMatchObject({ type: 'next', payload: { errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] } });
    expect(await socket.nextMessage((message) => message.id === 'events' && message.type === 'complete')).toBeDefined();
    expect(await socket.closed).toEqual({ code: 4403, reason: 'Token expired' });

    await sse.done;
    expect(sse.events.map((event) => event.event)).toEqual(['next', 'complete']);
    expect(sse.events[0]?.data.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    await waitFor(() => (server.logs.some((line) => line.event === 'websocket.credential_ended' && line.reason === 'expired') ? true : undefined));
  });
});
