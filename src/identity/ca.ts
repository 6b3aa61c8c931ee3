// The certificate authority core, usable without the control plane: roots, issuing intermediates,
// workload leaves (X.509-SVIDs) and CSRs, all built with @peculiar/x509 (no hand-written ASN.1).
import { createPrivateKey, randomBytes, sign as nodeSign, verify as nodeVerify, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { CertificationRequest } from '@peculiar/asn1-csr';
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
 *
 * Hot path: the first leaf of an issuer is made by @peculiar/x509's generator; its signature algorithm,
 * issuer name and shared extensions become a template, and later leaves are assembled from the same
 * @peculiar/asn1-x509 schema objects, serialized once and signed with node:crypto (about 3x less CPU than
 * the generator, which re-parses every part and the finished certificate).
 */
export async function issueLeaf(issuer: IssuerCa, options: LeafOptions): Promise<IssuedLeaf> {
  parseSpiffeId(options.spiffeId);
  const now = options.now ?? Date.now();
  const spki = await spkiOf(options);
  const keyType = options.keyType ?? checkKeyPolicy(spki, DEFAULT_LEAF_KEY_POLICY);
  const rsa = keyType.startsWith('rsa');
  // X.509 times have one-second precision.
  const notBefore = new Date(Math.floor(Math.max(now - (options.backdateMs ?? BACKDATE_MS), issuer.notBefore.getTime()) / 1000) * 1000);
  const notAfter = new Date(Math.floor(Math.min(now + (options.ttlMs ?? DEFAULT_LEAF_TTL_MS), issuer.notAfter.getTime()) / 1000) * 1000);
  const serial = randomSerial();
  const template = await leafTemplate(issuer);
  const san = new asn1X509.Extension({
    extnID: SAN_OID,
    // Subject is empty, so the SAN is critical (RFC 5280 4.2.1.6, SPIFFE X509-SVID).
    critical: true,
    extnValue: new OctetString(AsnConvert.serialize(new asn1X509.SubjectAlternativeName([new asn1X509.GeneralName({ uniformResourceIdentifier: options.spiffeId })]))),
  });
  const serialBytes = Buffer.from(serial, 'hex');
  const tbs = new asn1X509.TBSCertificate({
    version: asn1X509.Version.v3,
    serialNumber: arrayBufferOf(serialBytes),
    signature: template.signatureAlgorithm,
    issuer: template.issuerName,
    validity: new asn1X509.Validity({ notBefore, notAfter }),
    subject: new asn1X509.Name(),
    subjectPublicKeyInfo: AsnConvert.parse(spki, asn1X509.SubjectPublicKeyInfo),
    extensions: new asn1X509.Extensions([...(rsa ? template.rsaExtensions : template.ecExtensions), san]),
  });
  const signature = nodeSign(template.digest, Buffer.from(AsnConvert.serialize(tbs)), { key: template.signingKey, dsaEncoding: 'der' });
  const der = Buffer.from(AsnConvert.serialize(new asn1X509.Certificate({ tbsCertificate: tbs, signatureAlgorithm: template.signatureAlgorithm, signatureValue: arrayBufferOf(signature) })));
  const certPem = derToPem(der, 'CERTIFICATE');
  return { certPem, chainPem: certPem + issuer.chainPem, serial, spiffeId: options.spiffeId, notBefore, notAfter };
}

interface LeafTemplate {
  readonly signatureAlgorithm: asn1X509.AlgorithmIdentifier;
  readonly issuerName: asn1X509.Name;
  readonly ecExtensions: asn1X509.Extension[];
  readonly rsaExtensions: asn1X509.Extension[];
  readonly signingKey: KeyObject;
  /** node:crypto digest for the issuer's key (null for Ed25519). */
  readonly digest: string | null;
}

const leafTemplates = new WeakMap<IssuerCa, Promise<LeafTemplate>>();

function leafTemplate(issuer: IssuerCa): Promise<LeafTemplate> {
  let t = leafTemplates.get(issuer);
  if (t === undefined) {
    t = buildLeafTemplate(issuer);
    leafTemplates.set(issuer, t);
  }
  return t;
}

async function buildLeafTemplate(issuer: IssuerCa): Promise<LeafTemplate> {
  // One leaf through the high-level generator fixes the exact encoding of the signature algorithm and
  // issuer name that the library chooses for this issuer's key.
  const sample = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: '',
    issuer: issuer.cert.subjectName,
    notBefore: issuer.notBefore,
    notAfter: issuer.notAfter,
    publicKey: issuer.cert.publicKey,
    signingKey: issuer.key.privateKey,
    signingAlgorithm: issuer.key.signAlg,
    extensions: leafExtensions(issuer, false),
  });
  const parsed = AsnConvert.parse(sample.rawData, asn1X509.Certificate);
  const toAsn = (exts: x509.Extension[]) => exts.map((e) => AsnConvert.parse(e.rawData, asn1X509.Extension));
  const digests: Record<KeyType, string | null> = { 'ec-p256': 'sha256', 'ec-p384': 'sha384', ed25519: null, 'rsa-2048': 'sha256', 'rsa-3072': 'sha256', 'rsa-4096': 'sha256' };
  return {
    signatureAlgorithm: parsed.signatureAlgorithm,
    issuerName: parsed.tbsCertificate.issuer,
    ecExtensions: toAsn(leafExtensions(issuer, false)),
    rsaExtensions: toAsn(leafExtensions(issuer, true)),
    signingKey: createPrivateKey(issuer.keyPem),
    digest: digests[issuer.key.type],
  };
}

async function spkiOf(options: LeafOptions): Promise<Uint8Array> {
  if (options.publicKey instanceof Uint8Array) return options.publicKey;
  if (options.publicKey === undefined && options.csr === undefined) throw new IdentityError('IDENTITY_CSR_INVALID', 'issueLeaf needs a publicKey or a csr');
  const source = options.publicKey ?? options.csr!.publicKey;
  const pub = source instanceof x509.PublicKey ? source : await x509.PublicKey.create(source);
  return new Uint8Array(pub.rawData);
}

function arrayBufferOf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
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
  /** The requested public key, SPKI DER (pass it to issueLeaf as `publicKey`). */
  readonly spkiDer: Uint8Array;
  /** The URI SANs requested (normally exactly one SPIFFE ID). */
  readonly uris: readonly string[];
  readonly keyType: KeyType;
}

const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';

/**
 * The DER bytes of the first PEM block labelled `label` (`CERTIFICATE REQUEST` also accepts the legacy
 * `NEW CERTIFICATE REQUEST`), or undefined when there is none. A fresh, unshared Uint8Array-compatible
 * Buffer (never a slice of Node's pool), so callers may hand its `.buffer` on.
 */
export function pemBody(text: string, label: string): Buffer | undefined {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]+?)-----END \1-----/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const found = m[1]!;
    if (found === label || (label === 'CERTIFICATE REQUEST' && found === 'NEW CERTIFICATE REQUEST')) {
      const pooled = Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
      const own = Buffer.alloc(pooled.length);
      pooled.copy(own);
      return own;
    }
  }
  return undefined;
}

/**
 * Parses a CSR (one pass with @peculiar/asn1-csr), checks its key against policy, and verifies its
 * self-signature with node:crypto over the exact bytes that were signed.
 */
export async function parseAndVerifyCsr(pemOrDer: string | Uint8Array, allowed: readonly KeyType[] = DEFAULT_LEAF_KEY_POLICY): Promise<ParsedCsr> {
  let req: CertificationRequest;
  let spkiDer: Uint8Array;
  try {
    const der = typeof pemOrDer === 'string' ? pemBody(pemOrDer, 'CERTIFICATE REQUEST') : Buffer.from(pemOrDer);
    if (der === undefined) throw new Error('no CERTIFICATE REQUEST block');
    req = AsnConvert.parse(der, CertificationRequest);
    spkiDer = new Uint8Array(AsnConvert.serialize(req.certificationRequestInfo.subjectPKInfo));
  } catch (cause) {
    throw new IdentityError('IDENTITY_CSR_INVALID', 'the CSR cannot be parsed (expected a PEM or DER PKCS#10 request)', { cause });
  }
  const { type: keyType, key } = checkKeyPolicyObject(spkiDer, allowed);
  let valid = false;
  try {
    const tbs = req.certificationRequestInfoRaw;
    const digest = CSR_SIG_DIGEST[req.signatureAlgorithm.algorithm];
    if (tbs === undefined || digest === undefined) {
      throw new IdentityError('IDENTITY_CSR_SIGNATURE_INVALID', `unsupported CSR signature algorithm ${req.signatureAlgorithm.algorithm}`);
    }
    valid = nodeVerify(digest, Buffer.from(tbs), key, Buffer.from(req.signature));
  } catch (cause) {
    if (cause instanceof IdentityError) throw cause;
    throw new IdentityError('IDENTITY_CSR_SIGNATURE_INVALID', 'the CSR signature cannot be checked', { cause });
  }
  if (!valid) throw new IdentityError('IDENTITY_CSR_SIGNATURE_INVALID', 'the CSR signature does not verify with the key it carries');
  const uris: string[] = [];
  try {
    for (const attr of req.certificationRequestInfo.attributes) {
      if (attr.type !== EXTENSION_REQUEST_OID) continue;
      for (const value of attr.values) {
        for (const ext of AsnConvert.parse(value, asn1X509.Extensions)) {
          if (ext.extnID !== SAN_OID) continue;
          for (const name of AsnConvert.parse(ext.extnValue, asn1X509.SubjectAlternativeName)) {
            if (name.uniformResourceIdentifier !== undefined) uris.push(name.uniformResourceIdentifier);
          }
        }
      }
    }
  } catch (cause) {
    throw new IdentityError('IDENTITY_CSR_INVALID', 'the CSR extension request cannot be parsed', { cause });
  }
  return { spkiDer, uris, keyType };
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
