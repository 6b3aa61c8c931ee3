// IdentityMaterial: what a workload holds to speak mTLS — its SPIFFE ID, certificate chain, private key
// (in-process only), and the trust bundle — delivered to the proxy through a Watch.
import { X509Certificate } from 'node:crypto';
import { splitPem } from './ca.ts';

export interface IdentityMaterial {
  readonly spiffeId: string;
  /** Leaf first, then intermediates (no root). */
  readonly certChainPem: string;
  /** PKCS#8 PEM. Never logged, never sent anywhere. */
  readonly keyPem: string;
  /** Every root the workload trusts (several during a rotation). */
  readonly trustBundlePem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Bundle version from the control plane (0 when unknown, e.g. test material). */
  readonly bundleVersion?: number;
  /** Serial (hex) of the leaf. */
  readonly serial?: string;
}

/** Builds IdentityMaterial from PEMs, reading validity and serial from the leaf. */
export function materialFromPem(input: { spiffeId: string; certChainPem: string; keyPem: string; trustBundlePem: string; bundleVersion?: number }): IdentityMaterial {
  const leaf = new X509Certificate(splitPem(input.certChainPem)[0] ?? input.certChainPem);
  return Object.freeze({
    spiffeId: input.spiffeId,
    certChainPem: input.certChainPem,
    keyPem: input.keyPem,
    trustBundlePem: input.trustBundlePem,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    bundleVersion: input.bundleVersion ?? 0,
    serial: leaf.serialNumber.toLowerCase(),
  });
}
