// The certificate authority core, usable without the control plane: roots, issuing intermediates and
// workload leaves (X.509-SVIDs), built with @peculiar/x509 and its ASN.1 schemas (no hand-written ASN.1).
import { createPrivateKey, randomBytes, sign as nodeSign, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from './x509.ts';
import { IdentityError } from './errors.ts';
import { checkKeyPolicyObject, DEFAULT_LEAF_KEY_POLICY, generateKeyPair, importSigningKey, nodeSignatureFor, type KeyType, type SigningKey } from './keys.ts';
import { signatureAlgorithmOf, uriSanExtension } from './csr.ts';
import { derToPem } from './pem.ts';
import { PreEncoded } from './pre-encoded.ts';

export { createCsr, parseAndVerifyCsr, parseAndVerifyCsrSync, type ParsedCsr } from './csr.ts';
export { pemBody } from './pem.ts';
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
  /**
   * Key type already checked against policy (parseAndVerifyCsr returns it): skips a second check, and
   * `publicKey` (SPKI DER) then goes into the certificate exactly as given.
   */
  keyType?: KeyType;
  ttlMs?: number;
  now?: number;
  /** Default BACKDATE_MS. Tests use a negative ttl with this to make expired certificates. */
  backdateMs?: number;
}

const EKU = [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];

/**
 * What every leaf of one issuer shares, encoded once by @peculiar/asn1-x509 and reused as DER: the
 * signature algorithm, the issuer's name, the empty subject and the static extensions; plus the
 * issuer's key as a node KeyObject.
 */
interface LeafTemplate {
  readonly signatureAlgorithm: PreEncoded;
  readonly issuerName: PreEncoded;
  readonly emptySubject: PreEncoded;
  readonly ecExtensions: readonly PreEncoded[];
  readonly rsaExtensions: readonly PreEncoded[];
  readonly signingKey: KeyObject;
  /** node:crypto digest for the issuer's key (null for Ed25519). */
  readonly digest: string | null;
}

const leafTemplates = new WeakMap<IssuerCa, LeafTemplate>();

function leafTemplate(issuer: IssuerCa): LeafTemplate {
  let t = leafTemplates.get(issuer);
  if (t === undefined) {
    t = buildLeafTemplate(issuer);
    leafTemplates.set(issuer, t);
  }
  return t;
}

function buildLeafTemplate(issuer: IssuerCa): LeafTemplate {
  const encoded = (value: object) => new PreEncoded(AsnConvert.serialize(value));
  const extensions = (usages: number) =>
    [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension(EKU, false),
      new x509.AuthorityKeyIdentifierExtension(issuer.skiHex),
    ].map((e) => new PreEncoded(e.rawData));
  // The issuer field of a leaf is the issuer certificate's subject, DER for DER.
  const issuerCert = AsnConvert.parse(issuer.cert.rawData, asn1X509.Certificate);
  const signing = nodeSignatureFor(issuer.key.type);
  return {
    signatureAlgorithm: encoded(signatureAlgorithmOf(issuer.key.type)),
    issuerName: encoded(issuerCert.tbsCertificate.subject),
    emptySubject: encoded(new asn1X509.Name()),
    ecExtensions: extensions(x509.KeyUsageFlags.digitalSignature),
    rsaExtensions: extensions(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment),
    signingKey: createPrivateKey(issuer.keyPem),
    digest: signing.digest,
  };
}

/**
 * Issues a workload leaf: empty subject, a critical URI SAN holding only the SPIFFE ID, key usage
 * digitalSignature (+ keyEncipherment for RSA), EKU serverAuth+clientAuth, notAfter capped at the issuer's.
 *
 * Hot path: the certificate is assembled from @peculiar/asn1-x509's TBSCertificate and Certificate
 * schemas; the parts shared by every leaf of this issuer come from the per-issuer template as DER, the
 * TBSCertificate is encoded once (signed by node:crypto, then placed in the certificate as those bytes).
 */
export async function issueLeaf(issuer: IssuerCa, options: LeafOptions): Promise<IssuedLeaf> {
  parseSpiffeId(options.spiffeId);
  const now = options.now ?? Date.now();
  const { spki, keyType } = await checkedSpkiOf(options);
  // X.509 times have one-second precision.
  const notBefore = new Date(Math.floor(Math.max(now - (options.backdateMs ?? BACKDATE_MS), issuer.notBefore.getTime()) / 1000) * 1000);
  const notAfter = new Date(Math.floor(Math.min(now + (options.ttlMs ?? DEFAULT_LEAF_TTL_MS), issuer.notAfter.getTime()) / 1000) * 1000);
  const serial = randomSerial();
  const template = leafTemplate(issuer);
  const tbs = new asn1X509.TBSCertificate({
    version: asn1X509.Version.v3,
    serialNumber: arrayBufferOf(Buffer.from(serial, 'hex')),
    signature: template.signatureAlgorithm.as<asn1X509.AlgorithmIdentifier>(),
    issuer: template.issuerName.as<asn1X509.Name>(),
    validity: new asn1X509.Validity({ notBefore, notAfter }),
    subject: template.emptySubject.as<asn1X509.Name>(),
    subjectPublicKeyInfo: new PreEncoded(spki).as<asn1X509.SubjectPublicKeyInfo>(),
    extensions: new asn1X509.Extensions([...(keyType.startsWith('rsa') ? template.rsaExtensions : template.ecExtensions).map((e) => e.as<asn1X509.Extension>()), uriSanExtension(options.spiffeId)]),
  });
  const tbsDer = AsnConvert.serialize(tbs);
  const signature = nodeSign(template.digest, new Uint8Array(tbsDer), template.signingKey);
  const der = AsnConvert.serialize(
    new asn1X509.Certificate({
      tbsCertificate: new PreEncoded(tbsDer).as<asn1X509.TBSCertificate>(),
      signatureAlgorithm: template.signatureAlgorithm.as<asn1X509.AlgorithmIdentifier>(),
      signatureValue: arrayBufferOf(signature),
    }),
  );
  const certPem = derToPem(der, 'CERTIFICATE');
  return { certPem, chainPem: certPem + issuer.chainPem, serial, spiffeId: options.spiffeId, notBefore, notAfter };
}

/**
 * The SPKI DER that goes into the leaf and its key type. A key that was not checked yet is parsed and
 * checked against the default policy, and the certificate then carries node:crypto's own encoding of it.
 */
async function checkedSpkiOf(options: LeafOptions): Promise<{ spki: Uint8Array; keyType: KeyType }> {
  if (options.publicKey instanceof Uint8Array && options.keyType !== undefined) return { spki: options.publicKey, keyType: options.keyType };
  const given = await spkiOf(options);
  const { type, key } = checkKeyPolicyObject(given, DEFAULT_LEAF_KEY_POLICY);
  return { spki: key.export({ type: 'spki', format: 'der' }), keyType: options.keyType ?? type };
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
