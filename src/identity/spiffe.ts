// SPIFFE IDs: parse, format and validate `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
import { IdentityError } from './errors.ts';

export interface WorkloadName {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

export interface SpiffeId extends WorkloadName {
  /** The canonical URI, e.g. `spiffe://cluster.local/ns/shop/sa/cart`. */
  readonly uri: string;
}

// Trust domain: lowercase letters, digits, dot, dash, underscore (SPIFFE spec), 1..255 chars.
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
// Namespace and service account: DNS-label-like names (Kubernetes rules, slightly relaxed for dots).
const SEGMENT = /^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$/;

export function isValidTrustDomain(td: string): boolean {
  return TRUST_DOMAIN.test(td) && !td.startsWith('.') && !td.endsWith('.');
}

function invalid(input: string, why: string): IdentityError {
  return new IdentityError('IDENTITY_SPIFFE_ID_INVALID', `invalid SPIFFE ID "${input}": ${why}; expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`, {
    details: { input },
  });
}

/** Parses a weft workload SPIFFE ID; throws IdentityError(IDENTITY_SPIFFE_ID_INVALID) saying what is wrong. */
export function parseSpiffeId(input: string): SpiffeId {
  if (typeof input !== 'string' || !input.startsWith('spiffe://')) throw invalid(String(input), 'it must start with spiffe://');
  if (input.length > 2048) throw invalid(input.slice(0, 64) + '…', 'longer than 2048 bytes');
  const rest = input.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) throw invalid(input, 'the path is missing');
  const trustDomain = rest.slice(0, slash);
  if (!isValidTrustDomain(trustDomain)) throw invalid(input, `trust domain "${trustDomain}" must be lowercase letters, digits, ".", "-" or "_" (no port, no user info)`);
  const parts = rest.slice(slash + 1).split('/');
  if (parts.length !== 4 || parts[0] !== 'ns' || parts[2] !== 'sa') throw invalid(input, 'the path must be /ns/<namespace>/sa/<service-account>');
  const namespace = parts[1]!;
  const serviceAccount = parts[3]!;
  if (!SEGMENT.test(namespace)) throw invalid(input, `namespace "${namespace}" must be lowercase letters, digits, ".", "-" or "_"`);
  if (!SEGMENT.test(serviceAccount)) throw invalid(input, `service account "${serviceAccount}" must be lowercase letters, digits, ".", "-" or "_"`);
  return { trustDomain, namespace, serviceAccount, uri: input };
}

/** Like parseSpiffeId but returns undefined instead of throwing. */
export function tryParseSpiffeId(input: string): SpiffeId | undefined {
  try {
    return parseSpiffeId(input);
  } catch {
    return undefined;
  }
}

export function isSpiffeId(input: string): boolean {
  return tryParseSpiffeId(input) !== undefined;
}

/** Builds the canonical SPIFFE ID URI, validating each part. */
export function formatSpiffeId(name: WorkloadName): string {
  const uri = `spiffe://${name.trustDomain}/ns/${name.namespace}/sa/${name.serviceAccount}`;
  parseSpiffeId(uri);
  return uri;
}

/** The trust domain of any spiffe:// URI (also ones that are not workload IDs), or undefined. */
export function trustDomainOf(uri: string): string | undefined {
  if (!uri.startsWith('spiffe://')) return undefined;
  const rest = uri.slice(9);
  const slash = rest.indexOf('/');
  const td = slash < 0 ? rest : rest.slice(0, slash);
  return isValidTrustDomain(td) ? td : undefined;
}

/** The SPIFFE ID of the control plane itself in a trust domain. */
export function controlPlaneSpiffeId(trustDomain: string): string {
  return formatSpiffeId({ trustDomain, namespace: 'weft-system', serviceAccount: 'weft-control' });
}

/**
 * The `spiffe://` URI SANs of a certificate as node:tls reports them (`subjectaltname`, e.g.
 * `DNS:a, URI:spiffe://td/ns/x/sa/y`). A SPIFFE-conformant certificate has exactly one; callers
 * decide what more or fewer means.
 */
export function spiffeUrisOfSubjectAltName(san: string | undefined): string[] {
  if (!san) return [];
  return san
    .split(', ')
    .filter((part) => part.startsWith('URI:spiffe://'))
    .map((part) => part.slice(4));
}
