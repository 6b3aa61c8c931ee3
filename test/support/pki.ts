// A tiny PKI for tests: a root, an intermediate and leaves for any SPIFFE ID, plus the bad cases
// (expired leaf, another trust domain, an unknown root) that mTLS peers must refuse.
import { createIntermediate, createRootCa, issueLeaf, type CaCertificate, type IssuerCa } from '../../src/identity/ca.ts';
import { generateKeyPair, type KeyType } from '../../src/identity/keys.ts';
import { materialFromPem, type IdentityMaterial } from '../../src/identity/material.ts';
import { formatSpiffeId } from '../../src/identity/spiffe.ts';

export interface TestIdentity extends IdentityMaterial {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly spiffeId: string;
}

export interface IssueOptions {
  /** Leaf lifetime; default 1 h. */
  ttlMs?: number;
  /** Issue "now" at this wall-clock time (ms); with a past time and short ttl the leaf is expired. */
  now?: number;
  keyType?: KeyType;
}

export interface TestPki {
  readonly trustDomain: string;
  /** The trust bundle (this PKI's root) as PEM. */
  readonly bundlePem: string;
  readonly root: CaCertificate;
  readonly intermediate: IssuerCa;
  /** A leaf for `spiffeId` (or `ns/sa` shorthand like "default/web") under this PKI. */
  issue(spiffeId: string, options?: IssueOptions): Promise<TestIdentity>;
  /** A leaf that expired an hour ago. */
  issueExpired(spiffeId: string): Promise<TestIdentity>;
}

function expand(trustDomain: string, id: string): string {
  if (id.startsWith('spiffe://')) return id;
  const [namespace, serviceAccount] = id.split('/');
  return formatSpiffeId({ trustDomain, namespace: namespace ?? 'default', serviceAccount: serviceAccount ?? 'default' });
}

/** Builds a root and an intermediate for `trustDomain` (default "test.local"). Takes ~10 ms. */
export async function makeTestPki(options: { trustDomain?: string; rootTtlMs?: number } = {}): Promise<TestPki> {
  const trustDomain = options.trustDomain ?? 'test.local';
  const root = await createRootCa({ trustDomain, ttlMs: options.rootTtlMs ?? 7 * 24 * 3600 * 1000 });
  const intermediate = await createIntermediate(root, { trustDomain, ttlMs: options.rootTtlMs ?? 7 * 24 * 3600 * 1000 });
  const bundlePem = root.certPem;
  async function issue(id: string, opts: IssueOptions = {}): Promise<TestIdentity> {
    const spiffeId = expand(trustDomain, id);
    const pair = generateKeyPair(opts.keyType ?? 'ec-p256');
    const leaf = await issueLeaf(intermediate, { spiffeId, publicKey: pemToDer(pair.publicKeyPem), ttlMs: opts.ttlMs ?? 3600_000, now: opts.now });
    return materialFromPem({ spiffeId, certChainPem: leaf.chainPem, keyPem: pair.privateKeyPem, trustBundlePem: bundlePem }) as TestIdentity;
  }
  return {
    trustDomain,
    bundlePem,
    root,
    intermediate,
    issue,
    issueExpired: (id) => issue(id, { now: Date.now() - 2 * 3600_000, ttlMs: 3600_000 }),
  };
}

/** A workload identity from a different trust domain (its own root, not in your bundle). */
export async function makeForeignIdentity(spiffeIdOrShorthand = 'default/intruder', trustDomain = 'other.example'): Promise<TestIdentity> {
  const pki = await makeTestPki({ trustDomain });
  return pki.issue(spiffeIdOrShorthand);
}

/** A workload identity in YOUR trust domain but signed by a root nobody trusts. */
export async function makeUnknownRootIdentity(spiffeIdOrShorthand: string, trustDomain = 'test.local'): Promise<TestIdentity> {
  const pki = await makeTestPki({ trustDomain });
  return pki.issue(spiffeIdOrShorthand);
}

/** Same identity material with a different trust bundle (e.g. to trust several PKIs). */
export function withBundle(material: TestIdentity, trustBundlePem: string): TestIdentity {
  return Object.freeze({ ...material, trustBundlePem });
}

function pemToDer(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(b64, 'base64'));
}
