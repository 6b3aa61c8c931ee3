// Workload tokens: ES256 JWTs naming one SPIFFE ID, issued by `weft identity token` from the CA state
// and verified by the identity service. A token is a bootstrap credential: never log it.
import { randomUUID } from 'node:crypto';
import { importPKCS8, importSPKI, jwtVerify, SignJWT, errors as joseErrors } from 'jose';
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

type JoseKey = Awaited<ReturnType<typeof importSPKI>>;

/** Signs and verifies workload tokens with one ES256 key pair (kept in the CA state). */
export class WorkloadTokens {
  readonly #kid: string;
  readonly #privateKeyPem: string;
  readonly #publicKeyPem: string;
  #signKey: JoseKey | undefined;
  #verifyKey: JoseKey | undefined;

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

  /** Verifies a token and returns the SPIFFE ID it proves. IDENTITY_TOKEN_EXPIRED / IDENTITY_TOKEN_INVALID otherwise. */
  async verify(token: string, now: number = Date.now()): Promise<SpiffeId> {
    if (typeof token !== 'string' || token.length === 0) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'no workload token was presented');
    if (token.length > 8192) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token is too long');
    this.#verifyKey ??= await importSPKI(this.#publicKeyPem, 'ES256');
    let sub: string | undefined;
    try {
      const { payload } = await jwtVerify(token, this.#verifyKey, {
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        algorithms: ['ES256'],
        currentDate: new Date(now),
        requiredClaims: ['sub', 'exp'],
      });
      sub = payload.sub;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw new IdentityError('IDENTITY_TOKEN_EXPIRED', 'the workload token has expired; issue a new one with `weft identity token`');
      }
      const why = error instanceof joseErrors.JWSSignatureVerificationFailed ? 'its signature does not verify (forged, or issued by another CA)' : error instanceof Error ? error.message : 'malformed';
      throw new IdentityError('IDENTITY_TOKEN_INVALID', `the workload token is not valid: ${why}`);
    }
    try {
      return parseSpiffeId(sub ?? '');
    } catch {
      throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token subject is not a SPIFFE ID');
    }
  }
}
