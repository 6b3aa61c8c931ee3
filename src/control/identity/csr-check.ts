// The signing pipeline shared by the authority's own thread and its signing workers: parse and verify
// the CSR, check that it asks for exactly the credential's SPIFFE ID in this trust domain, issue the leaf.
import { issueLeaf, parseAndVerifyCsrSync, type IssuedLeaf, type IssuerCa } from '../../identity/ca.ts';
import { IdentityError } from '../../identity/errors.ts';
import type { KeyType } from '../../identity/keys.ts';
import { trustDomainOf } from '../../identity/spiffe.ts';

export interface SignRequest {
  csrPem: string | Uint8Array;
  /** The SPIFFE ID the credential proved. */
  expectedId: string;
  trustDomain: string;
  keyPolicy: readonly KeyType[];
  ttlMs: number;
  now: number;
}

/** Throws IdentityError (CSR invalid, bad signature, key policy, trust domain or ID mismatch) or returns the leaf. */
export async function checkCsrAndIssue(issuer: IssuerCa, req: SignRequest): Promise<IssuedLeaf> {
  const csr = parseAndVerifyCsrSync(req.csrPem, req.keyPolicy);
  if (csr.uris.length !== 1) throw new IdentityError('IDENTITY_CSR_INVALID', `the CSR must request exactly one URI SAN (the SPIFFE ID), found ${csr.uris.length}`);
  const requested = csr.uris[0]!;
  if (trustDomainOf(requested) !== req.trustDomain) {
    throw new IdentityError('IDENTITY_TRUST_DOMAIN_MISMATCH', `the CSR asks for ${requested}, outside this mesh's trust domain "${req.trustDomain}"`);
  }
  if (requested !== req.expectedId) throw new IdentityError('IDENTITY_ID_MISMATCH', `the CSR asks for ${requested} but the credential proves ${req.expectedId}`);
  return issueLeaf(issuer, { spiffeId: req.expectedId, publicKey: csr.spkiDer, keyType: csr.keyType, ttlMs: req.ttlMs, now: req.now });
}
