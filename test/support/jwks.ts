import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** Generates a key pair with jose for signing test tokens; the public half goes into a JWKS. */
export async function generateSigningKey(alg: 'RS256' | 'ES256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

/** Signs a token with the key, `kid` in the header, for `sub`, expiring in an hour unless claims say otherwise. */
export async function signWithKey(key: SigningKey, subject: string, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .setSubject(subject)
    .setIssuedAt();
  if (claims.exp === undefined) jwt.setExpirationTime('1h');
  return jwt.sign(key.privateKey);
}

export interface JwksServer {
  /** http://127.0.0.1:PORT/.well-known/jwks.json */
  url: string;
  /** How many times the key set was downloaded. */
  downloads: number;
  /** Replaces the published keys, as an identity provider does when it rotates them. */
  publish(keys: JWK[]): void;
  close(): Promise<void>;
}

/** Serves a JSON Web Key Set on loopback, standing in for an identity provider. */
export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  let published = keys;
  const state = { downloads: 0 };
  const server = createServer((_request, response) => {
    state.downloads += 1;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get downloads() {
      return state.downloads;
    },
    publish(next) {
      published = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
