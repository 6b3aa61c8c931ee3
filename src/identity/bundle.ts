// Trust bundles: a set of root certificates (several during a root rotation); peers are accepted when
// their chain ends at any root in the bundle. A bundle has a version that only increases.
import { X509Certificate } from 'node:crypto';
import { IdentityError } from './errors.ts';
import { splitPem } from './ca.ts';

export interface TrustBundle {
  /** Increases whenever the set of roots changes (assigned by the authority). */
  readonly version: number;
  /** Concatenated PEM of every root. */
  readonly pem: string;
  /** SHA-256 fingerprints (lowercase hex) of the roots, in bundle order. */
  readonly rootIds: readonly string[];
}

export interface BundleRoot {
  readonly id: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly pem: string;
}

function idOf(cert: X509Certificate): string {
  return cert.fingerprint256.replaceAll(':', '').toLowerCase();
}

/** Parses a PEM bundle into its roots; throws IDENTITY_CERT_INVALID when empty or malformed. */
export function parseBundle(pem: string): BundleRoot[] {
  const blocks = splitPem(pem);
  if (blocks.length === 0) throw new IdentityError('IDENTITY_CERT_INVALID', 'the trust bundle holds no certificate');
  return blocks.map((block) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (cause) {
      throw new IdentityError('IDENTITY_CERT_INVALID', 'a certificate in the trust bundle cannot be parsed', { cause });
    }
    return { id: idOf(cert), subject: cert.subject, notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo), pem: block + '\n' };
  });
}

/** Builds a bundle from root PEMs (duplicates removed, order kept). */
export function makeBundle(version: number, rootPems: readonly string[]): TrustBundle {
  const seen = new Set<string>();
  const parts: string[] = [];
  const ids: string[] = [];
  for (const pem of rootPems) {
    for (const root of parseBundle(pem)) {
      if (seen.has(root.id)) continue;
      seen.add(root.id);
      ids.push(root.id);
      parts.push(root.pem);
    }
  }
  return { version, pem: parts.join(''), rootIds: ids };
}

/** The id (fingerprint) of the bundle root that issued the top of `chainPem`, or undefined if none did. */
export function rootIdForChain(chainPem: string, bundlePem: string): string | undefined {
  const chain = splitPem(chainPem).map((p) => new X509Certificate(p));
  const top = chain[chain.length - 1];
  if (!top) return undefined;
  for (const block of splitPem(bundlePem)) {
    const root = new X509Certificate(block);
    if (top.checkIssued(root) && top.verify(root.publicKey)) return idOf(root);
  }
  return undefined;
}
