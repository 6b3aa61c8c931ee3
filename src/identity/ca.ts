// The certificate authority core, usable without the control plane: roots, issuing intermediates,
// workload leaves (X.509-SVIDs) and CSRs, all built with @peculiar/x509 (no hand-written ASN.1).
import { randomBytes, verify as nodeVerify, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from './x509.ts';
import { IdentityError } from './errors.ts';
import { checkKeyPolicy, checkKeyPolicyObject, DEFAULT_LEAF_KEY_POLICY, generateKeyPair, importSigningKey, type KeyType, type SigningKey } from './keys.ts';
import { parseSpiffeId } from './spiffe.ts';

/** Clock skew allowance: every certificate's notBefore is this far in the past. */
export const BACKDATE_MS = 5 * 60 * 1000;
export const DEFAULT_LEAF_TTL_MS = 24 * 3600 * 1000;
export const DEFAULT_INTERMEDIATE_TTL_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_ROOT_TTL_MS = 365 * 24 * 3600 * 1000;

/** A CA certificate with its key, in memory. `keyPem` never leaves the control plane. */
export interface CaCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: x509.X509Certificate;
  readonly key: SigningKey;
  /** SHA-256 fingerprint of the DER, lowercase hex: the stable id of this certificate. */
  readonly id: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Subject key identifier (hex), used as the authority key identifier of what it signs. */
  readonly skiHex: string;
}

/** An issuing CA: an intermediate plus the certificates between it and its root (root excluded). */
export interface IssuerCa extends CaCertificate {
  /** PEM of this intermediate followed by its parents up to (excluding) the root. */
  readonly chainPem: string;
  /** Id (fingerprint) of the root the chain ends at, when known (undefined for a plug-in CA whose root is elsewhere). */
  readonly rootId: string | undefined;
}

export interface IssuedLeaf {
  readonly certPem: string;
  /** Leaf followed by the issuer chain (no root). */
  readonly chainPem: string;
  readonly serial: string;
  readonly spiffeId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}

export function fingerprintOf(cert: x509.X509Certificate): string {
  return new NodeX509(Buffer.from(cert.rawData)).fingerprint256.replaceAll(':', '').toLowerCase();
}

function pemOf(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}

async function skiOf(cert: x509.X509Certificate): Promise<string> {
  const ext = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ext) return ext.keyId;
  return Buffer.from(await cert.publicKey.getKeyIdentifier()).toString('hex');
}

/** Loads a CA certificate and its private key from PEM (stored state, or a plug-in CA's files). */
export async function loadCa(certPem: string, keyPem: string): Promise<CaCertificate> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(firstPem(certPem));
  } catch (cause) {
    throw new IdentityError('IDENTITY_CA_STATE_INVALID', 'CA certificate PEM cannot be parsed', { cause });
  }
  const key = await importSigningKey(keyPem);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new IdentityError('IDENTITY_CA_STATE_INVALID', `certificate "${cert.subject}" is not a CA (basicConstraints CA:TRUE missing)`);
  const spki = Buffer.from(await webcryptoExportSpki(key.publicKey));
  if (!spki.equals(Buffer.from(cert.publicKey.rawData))) {
    throw new IdentityError('IDENTITY_CA_STATE_INVALID', `the private key does not match certificate "${cert.subject}"`);
  }
  return { certPem: pemOf(cert), keyPem, cert, key, id: fingerprintOf(cert), subject: cert.subject, notBefore: cert.notBefore, notAfter: cert.notAfter, skiHex: await skiOf(cert) };
}

async function webcryptoExportSpki(key: webcrypto.CryptoKey): Promise<ArrayBuffer> {
  return webcrypto.subtle.exportKey('spki', key);
}

/** Loads an issuing CA; `chainPem` is the intermediate first, then parents (roots are dropped). */
export async function loadIssuer(chainPem: string, keyPem: string, rootId: string | undefined): Promise<IssuerCa> {
  const ca = await loadCa(chainPem, keyPem);
  const chain = splitPem(chainPem)
    .map((p) => new x509.X509Certificate(p))
    .filter((c) => c.subject !== c.issuer || fingerprintOf(c) === ca.id);
  return { ...ca, chainPem: chain.map(pemOf).join(''), rootId };
}

export interface RootOptions {
  trustDomain: string;
  ttlMs?: number;
  /** Wall-clock now in ms (injectable for tests). */
  now?: number;
  keyType?: KeyType;
  /** Distinguishes roots of the same trust domain in their subject (e.g. a generation counter). */
  label?: string;
}

function caName(kind: string, trustDomain: string, label: string): string {
  return `O=weft, OU=${trustDomain}, CN=weft ${kind} ${label}`;
}

/** Makes a self-signed root CA (CA:TRUE, keyCertSign|cRLSign, URI SAN spiffe://<td>). */
export async function createRootCa(options: RootOptions): Promise<CaCertificate> {
  const now = options.now ?? Date.now();
  const pair = generateKeyPair(options.keyType ?? 'ec-p256');
  const key = await importSigningKey(pair.privateKeyPem);
  const label = options.label ?? new Date(now).toISOString().slice(0, 19) + 'Z ' + randomBytes(3).toString('hex');
  const ski = await x509.SubjectKeyIdentifierExtension.create(key.publicKey);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: caName('root', options.trustDomain, label),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + (options.ttlMs ?? DEFAULT_ROOT_TTL_MS)),
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: key.signAlg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ski,
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${options.trustDomain}` }]),
    ],
  });
  return { certPem: pemOf(cert), keyPem: pair.privateKeyPem, cert, key, id: fingerprintOf(cert), subject: cert.subject, notBefore: cert.notBefore, notAfter: cert.notAfter, skiHex: ski.keyId };
}

export interface IntermediateOptions {
  trustDomain: string;
  ttlMs?: number;
  now?: number;
  keyType?: KeyType;
  label?: string;
}

/** Makes an issuing intermediate under `parent` (CA:TRUE pathlen 0); notAfter is capped at the parent's. */
export async function createIntermediate(parent: CaCertificate, options: IntermediateOptions): Promise<IssuerCa> {
  const now = options.now ?? Date.now();
  const pair = generateKeyPair(options.keyType ?? 'ec-p256');
  const key = await importSigningKey(pair.privateKeyPem);
  const label = options.label ?? new Date(now).toISOString().slice(0, 19) + 'Z ' + randomBytes(3).toString('hex');
  const ski = await x509.SubjectKeyIdentifierExtension.create(key.publicKey);
  const notAfter = Math.min(now + (options.ttlMs ?? DEFAULT_INTERMEDIATE_TTL_MS), parent.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: caName('intermediate', options.trustDomain, label),
    issuer: parent.cert.subjectName,
    notBefore: new Date(Math.max(now - BACKDATE_MS, parent.notBefore.getTime())),
    notAfter: new Date(notAfter),
    publicKey: key.publicKey,
    signingKey: parent.key.privateKey,
    signingAlgorithm: parent.key.signAlg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ski,
      new x509.AuthorityKeyIdentifierExtension(parent.skiHex),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${options.trustDomain}` }]),
    ],
  });
  const parentChain = 'chainPem' in parent ? (parent as IssuerCa).chainPem : '';
  const rootId = 'chainPem' in parent ? (parent as IssuerCa).rootId : parent.id;
  return {
    certPem: pemOf(cert),
    keyPem: pair.privateKeyPem,
    cert,
    key,
    id: fingerprintOf(cert),
    subject: cert.subject,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    skiHex: ski.keyId,
    chainPem: pemOf(cert) + parentChain,
    rootId,
  };
}

export interface LeafOptions {
  spiffeId: string;
  /** The workload's public key: SPKI DER/PEM, a CryptoKey, or take it from a verified CSR. */
  publicKey?: x509.PublicKeyType;
  csr?: x509.Pkcs10CertificateRequest;
  /** Key type already checked against policy (parseAndVerifyCsr returns it); skips a second check. */
  keyType?: KeyType;
  ttlMs?: number;
  now?: number;
  /** Default BACKDATE_MS. Tests use a negative ttl with this to make expired certificates. */
  backdateMs?: number;
}

const SAN_OID = '2.5.29.17';

// The extensions every leaf of an issuer shares, encoded once per issuer (the issuance hot path).
const sharedLeafExtensions = new WeakMap<IssuerCa, { ec: x509.Extension[]; rsa: x509.Extension[] }>();
function leafExtensions(issuer: IssuerCa, rsa: boolean): x509.Extension[] {
  let cached = sharedLeafExtensions.get(issuer);
  if (cached === undefined) {
    const common = (usages: number) => [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension(EKU, false),
      new x509.AuthorityKeyIdentifierExtension(issuer.skiHex),
    ];
    cached = {
      ec: common(x509.KeyUsageFlags.digitalSignature),
      rsa: common(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment),
    };
    sharedLeafExtensions.set(issuer, cached);
  }
  return rsa ? cached.rsa : cached.ec;
}

// CSR signature algorithms verified directly with node:crypto (OID → digest; null = Ed25519).
const CSR_SIG_DIGEST: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null,
};
const EKU = [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];

/**
 * Issues a workload leaf: empty subject, a critical URI SAN holding only the SPIFFE ID, key usage
 * digitalSignature (+ keyEncipherment for RSA), EKU serverAuth+clientAuth, notAfter capped at the issuer's.
 */
export async function issueLeaf(issuer: IssuerCa, options: LeafOptions): Promise<IssuedLeaf> {
  parseSpiffeId(options.spiffeId);
  const now = options.now ?? Date.now();
  const publicKey = options.publicKey ?? options.csr?.publicKey;
  if (publicKey === undefined) throw new IdentityError('IDENTITY_CSR_INVALID', 'issueLeaf needs a publicKey or a csr');
  const pub = publicKey instanceof x509.PublicKey ? publicKey : await x509.PublicKey.create(publicKey);
  const keyType = options.keyType ?? checkKeyPolicy(pub.rawData, DEFAULT_LEAF_KEY_POLICY);
  const notBefore = new Date(Math.max(now - (options.backdateMs ?? BACKDATE_MS), issuer.notBefore.getTime()));
  const notAfter = new Date(Math.min(now + (options.ttlMs ?? DEFAULT_LEAF_TTL_MS), issuer.notAfter.getTime()));
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: '',
    issuer: issuer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: pub,
    signingKey: issuer.key.privateKey,
    signingAlgorithm: issuer.key.signAlg,
    extensions: [
      ...leafExtensions(issuer, keyType.startsWith('rsa')),
      // Subject is empty, so the SAN is critical (RFC 5280 4.2.1.6, SPIFFE X509-SVID).
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: options.spiffeId }], true),
    ],
  });
  const certPem = pemOf(cert);
  return { certPem, chainPem: certPem + issuer.chainPem, serial, spiffeId: options.spiffeId, notBefore: cert.notBefore, notAfter: cert.notAfter };
}

/** Makes a CSR for `spiffeId` signed by the workload's own key (the key stays with the caller). */
export async function createCsr(privateKeyPem: string, spiffeId: string): Promise<string> {
  const key = await importSigningKey(privateKeyPem);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: key.signAlg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true)],
  });
  return csr.toString('pem') + '\n';
}

export interface ParsedCsr {
  readonly csr: x509.Pkcs10CertificateRequest;
  /** The URI SANs requested (normally exactly one SPIFFE ID). */
  readonly uris: readonly string[];
  readonly keyType: KeyType;
}

/** Parses a CSR, checks its key against policy, and verifies its self-signature. */
export async function parseAndVerifyCsr(pemOrDer: string | Uint8Array, allowed: readonly KeyType[] = DEFAULT_LEAF_KEY_POLICY): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(typeof pemOrDer === 'string' ? pemOrDer : Buffer.from(pemOrDer));
  } catch (cause) {
    throw new IdentityError('IDENTITY_CSR_INVALID', 'the CSR cannot be parsed (expected a PEM or DER PKCS#10 request)', { cause });
  }
  const { type: keyType, key } = checkKeyPolicyObject(csr.publicKey.rawData, allowed);
  let valid = false;
  try {
    // The parsed request keeps the exact bytes that were signed (certificationRequestInfoRaw).
    const asn = (csr as unknown as { asn: { certificationRequestInfoRaw?: ArrayBuffer; signatureAlgorithm: { algorithm: string }; signature: ArrayBuffer } }).asn;
    const tbs = asn.certificationRequestInfoRaw;
    const digest = CSR_SIG_DIGEST[asn.signatureAlgorithm.algorithm];
    if (tbs !== undefined && digest !== undefined) {
      valid = nodeVerify(digest, Buffer.from(tbs), key, Buffer.from(asn.signature));
    } else {
      valid = await csr.verify();
    }
  } catch (cause) {
    throw new IdentityError('IDENTITY_CSR_SIGNATURE_INVALID', 'the CSR signature cannot be checked', { cause });
  }
  if (!valid) throw new IdentityError('IDENTITY_CSR_SIGNATURE_INVALID', 'the CSR signature does not verify with the key it carries');
  const uris: string[] = [];
  for (const ext of csr.extensions) {
    if (ext.type !== SAN_OID) continue;
    const san = ext instanceof x509.SubjectAlternativeNameExtension ? ext : new x509.SubjectAlternativeNameExtension(ext.rawData);
    for (const n of san.names.items) if (n.type === 'url') uris.push(n.value);
  }
  return { csr, uris, keyType };
}

/** Splits a PEM bundle into individual PEM blocks. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function firstPem(pem: string): string {
  const first = splitPem(pem)[0];
  if (first === undefined) throw new IdentityError('IDENTITY_CERT_INVALID', 'no CERTIFICATE block in PEM');
  return first;
}

/** The URI SANs of a certificate (node:crypto parse; cheap). */
export function uriSansOf(cert: NodeX509): string[] {
  const alt = cert.subjectAltName;
  if (!alt) return [];
  const out: string[] = [];
  for (const part of alt.split(', ')) if (part.startsWith('URI:')) out.push(part.slice(4));
  return out;
}

/** The SPIFFE ID in the first certificate of a PEM chain, or undefined. */
export function spiffeIdOfPem(pem: string): string | undefined {
  const first = splitPem(pem)[0];
  if (!first) return undefined;
  return uriSansOf(new NodeX509(first)).find((u) => u.startsWith('spiffe://'));
}
