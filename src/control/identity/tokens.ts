// Workload tokens: ES256 JWTs naming one SPIFFE ID, issued by `weft identity token` from the CA state
// and verified by the identity service. A token is a bootstrap credential: never log it.
import { createPublicKey, randomUUID, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { IdentityError } from '../../identity/errors.ts';
import { formatSpiffeId, parseSpiffeId, type SpiffeId } from '../../identity/spiffe.ts';

export const TOKEN_ISSUER = 'weft-control';
export const TOKEN_AUDIENCE = 'weft-identity';
export const DEFAULT_TOKEN_TTL_MS = 365 * 24 * 3600 * 1000;

export interface TokenKeyPem {
  readonly kid: string;
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

export interface WorkloadTokenRequest {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
  ttlMs?: number;
  now?: number;
}

type JoseKey = Awaited<ReturnType<typeof importPKCS8>>;

/** Clock skew accepted on `nbf` (seconds). */
const NBF_LEEWAY_S = 60;

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Signs and verifies workload tokens with one ES256 key pair (kept in the CA state). */
export class WorkloadTokens {
  readonly #kid: string;
  readonly #privateKeyPem: string;
  readonly #publicKeyPem: string;
  #signKey: JoseKey | undefined;
  #verifyKey: KeyObject | undefined;

  constructor(key: TokenKeyPem) {
    this.#kid = key.kid;
    this.#privateKeyPem = key.privateKeyPem;
    this.#publicKeyPem = key.publicKeyPem;
  }

  async issue(request: WorkloadTokenRequest): Promise<{ token: string; spiffeId: string; expiresAt: Date }> {
    const spiffeId = formatSpiffeId(request);
    const now = request.now ?? Date.now();
    const exp = now + (request.ttlMs ?? DEFAULT_TOKEN_TTL_MS);
    this.#signKey ??= await importPKCS8(this.#privateKeyPem, 'ES256');
    const token = await new SignJWT({ td: request.trustDomain })
      .setProtectedHeader({ alg: 'ES256', kid: this.#kid, typ: 'weft-workload+jwt' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(spiffeId)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(now / 1000))
      .setNotBefore(Math.floor(now / 1000) - 300)
      .setExpirationTime(Math.floor(exp / 1000))
      .sign(this.#signKey);
    return { token, spiffeId, expiresAt: new Date(exp) };
  }

  /**
   * Verifies a token and returns the SPIFFE ID it proves. IDENTITY_TOKEN_EXPIRED / IDENTITY_TOKEN_INVALID otherwise.
   * Verification is done here with node:crypto (ES256 only, fixed issuer and audience): it runs on every
   * certificate request, and WebCrypto (which jose uses) would add a thread-pool hop per check.
   */
  async verify(token: string, now: number = Date.now()): Promise<SpiffeId> {
    if (typeof token !== 'string' || token.length === 0) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'no workload token was presented');
    if (token.length > 8192) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token is too long');
    const parts = token.split('.');
    if (parts.length !== 3) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token is not a JWS compact token');
    const [h, p, sig] = parts as [string, string, string];
    const header = decodeJson(h);
    if (!header || header.alg !== 'ES256') throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token must be signed with ES256');
    if (header.kid !== undefined && header.kid !== this.#kid) {
      throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token is not valid: its signature does not verify (forged, or issued by another CA)');
    }
    this.#verifyKey ??= createPublicKey(this.#publicKeyPem);
    const signature = Buffer.from(sig, 'base64url');
    const valid = signature.length === 64 && nodeVerify('sha256', Buffer.from(`${h}.${p}`), { key: this.#verifyKey, dsaEncoding: 'ieee-p1363' }, signature);
    if (!valid) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token is not valid: its signature does not verify (forged, or issued by another CA)');
    const claims = decodeJson(p);
    if (!claims) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token payload is not JSON');
    const aud = claims.aud;
    if (claims.iss !== TOKEN_ISSUER || !(aud === TOKEN_AUDIENCE || (Array.isArray(aud) && aud.includes(TOKEN_AUDIENCE)))) {
      throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token has the wrong issuer or audience');
    }
    const nowS = now / 1000;
    if (typeof claims.exp !== 'number') throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token has no expiry');
    if (nowS >= claims.exp) throw new IdentityError('IDENTITY_TOKEN_EXPIRED', 'the workload token has expired; issue a new one with `weft identity token`');
    if (typeof claims.nbf === 'number' && nowS + NBF_LEEWAY_S < claims.nbf) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token is not valid yet');
    try {
      return parseSpiffeId(typeof claims.sub === 'string' ? claims.sub : '');
    } catch {
      throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token subject is not a SPIFFE ID');
    }
  }
}
