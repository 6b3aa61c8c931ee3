// PKCS#10 certificate requests for workload identities: built by the workload with the
// @peculiar/asn1-csr schema and signed by node:crypto (the key stays with the caller), and read by the
// CA in one schema pass that keeps the signed bytes and the public key's DER as they arrived.
import { createPublicKey, sign as nodeSign, verify as nodeVerify, type JsonWebKey } from 'node:crypto';
import { AsnConvert, AsnParser, AsnProp, AsnPropTypes, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { IdentityError } from './errors.ts';
import { checkKeyPolicyObject, DEFAULT_LEAF_KEY_POLICY, nodeSignatureFor, readPrivateKey, signatureAlgorithmFits, VERIFY_DIGEST_BY_OID, type KeyType } from './keys.ts';
import { derToPem, pemBody } from './pem.ts';
import { PreEncoded } from './pre-encoded.ts';

export const SAN_OID = '2.5.29.17';
const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';

/** A critical URI SAN holding only `uri` (the subject is empty, RFC 5280 4.2.1.6 and SPIFFE X509-SVID). */
export function uriSanExtension(uri: string): asn1X509.Extension {
  return new asn1X509.Extension({
    extnID: SAN_OID,
    critical: true,
    extnValue: new OctetString(AsnConvert.serialize(new asn1X509.SubjectAlternativeName([new asn1X509.GeneralName({ uniformResourceIdentifier: uri })]))),
  });
}

/** The AlgorithmIdentifier of a signature made by `type` (see nodeSignatureFor). */
export function signatureAlgorithmOf(type: KeyType): asn1X509.AlgorithmIdentifier {
  const s = nodeSignatureFor(type);
  return new asn1X509.AlgorithmIdentifier(s.nullParameters ? { algorithm: s.algorithmOid, parameters: null } : { algorithm: s.algorithmOid });
}

/** Makes a CSR for `spiffeId` signed by the workload's own key (the key stays with the caller). */
export async function createCsr(privateKeyPem: string, spiffeId: string): Promise<string> {
  const { key, type } = readPrivateKey(privateKeyPem);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new asn1X509.Name(),
    // node:crypto's own encoding of the public key, as-is.
    subjectPKInfo: new PreEncoded(spki).as<asn1X509.SubjectPublicKeyInfo>(),
    attributes: new Attributes([new asn1X509.Attribute({ type: EXTENSION_REQUEST_OID, values: [AsnConvert.serialize(new asn1X509.Extensions([uriSanExtension(spiffeId)]))] })]),
  });
  const infoDer = AsnConvert.serialize(info);
  const signature = nodeSign(nodeSignatureFor(type).digest, new Uint8Array(infoDer), key);
  const csr = new CertificationRequest({
    certificationRequestInfo: new PreEncoded(infoDer).as<CertificationRequestInfo>(),
    signatureAlgorithm: signatureAlgorithmOf(type),
    signature: arrayBufferOf(signature),
  });
  return derToPem(AsnConvert.serialize(csr), 'CERTIFICATE REQUEST') + '\n';
}

// ---------------------------------------------------------------------------- reading (CA side)

// The CSR schema of RFC 2986 as @peculiar/asn1-csr declares it, except that the subject and the public key
// are kept as their DER (the CA ignores the subject, and hands the key's DER to node:crypto and, unchanged,
// to the certificate), and the signed part is kept raw for the signature check.
class CsrInfoForIssuance {
  version = 0;
  subject: ArrayBuffer = new ArrayBuffer(0);
  subjectPKInfo = new asn1X509.SubjectPublicKeyInfo();
  /** Set by the parser (`raw: true`): the public key's DER as the CSR carried it. */
  subjectPKInfoRaw: ArrayBuffer | Uint8Array | undefined;
  attributes: Attributes = new Attributes();
}
AsnProp({ type: AsnPropTypes.Integer })(CsrInfoForIssuance.prototype, 'version');
AsnProp({ type: AsnPropTypes.Any })(CsrInfoForIssuance.prototype, 'subject');
AsnProp({ type: asn1X509.SubjectPublicKeyInfo, raw: true })(CsrInfoForIssuance.prototype, 'subjectPKInfo');
AsnProp({ type: Attributes, implicit: true, context: 0, optional: true })(CsrInfoForIssuance.prototype, 'attributes');

class CsrForIssuance {
  info = new CsrInfoForIssuance();
  /** Set by the parser (`raw: true`): the exact bytes the signature covers. */
  infoRaw: ArrayBuffer | Uint8Array | undefined;
  signatureAlgorithm = new asn1X509.AlgorithmIdentifier();
  signature: ArrayBuffer = new ArrayBuffer(0);
}
AsnProp({ type: CsrInfoForIssuance, raw: true })(CsrForIssuance.prototype, 'info');
AsnProp({ type: asn1X509.AlgorithmIdentifier })(CsrForIssuance.prototype, 'signatureAlgorithm');
AsnProp({ type: AsnPropTypes.BitString })(CsrForIssuance.prototype, 'signature');

export interface ParsedCsr {
  /** The requested public key, SPKI DER exactly as the CSR carried it (pass it to issueLeaf as `publicKey`). */
  readonly spkiDer: Uint8Array;
  /** The URI SANs requested (normally exactly one SPIFFE ID). */
  readonly uris: readonly string[];
  readonly keyType: KeyType;
}

/**
 * Parses a CSR (one schema pass), checks its key against policy, and verifies its self-signature with
 * node:crypto over the exact bytes that were signed.
 */
export async function parseAndVerifyCsr(pemOrDer: string | Uint8Array, allowed: readonly KeyType[] = DEFAULT_LEAF_KEY_POLICY): Promise<ParsedCsr> {
  return parseAndVerifyCsrSync(pemOrDer, allowed);
}

/** parseAndVerifyCsr without the promise (the issuance path is synchronous end to end). */
export function parseAndVerifyCsrSync(pemOrDer: string | Uint8Array, allowed: readonly KeyType[] = DEFAULT_LEAF_KEY_POLICY): ParsedCsr {
  let req: CsrForIssuance;
  try {
    const der = typeof pemOrDer === 'string' ? pemBody(pemOrDer, 'CERTIFICATE REQUEST') : pemOrDer;
    if (der === undefined) throw new Error('no CERTIFICATE REQUEST block');
    req = parseFlat(der, CsrForIssuance);
    if (req.infoRaw === undefined || req.info.subjectPKInfoRaw === undefined) throw new Error('the signed part of the request is missing');
  } catch (cause) {
    throw new IdentityError('IDENTITY_CSR_INVALID', 'the CSR cannot be parsed (expected a PEM or DER PKCS#10 request)', { cause });
  }
  const spkiDer = new Uint8Array(req.info.subjectPKInfoRaw);
  const jwk = ecJwkOf(spkiDer);
  const { type: keyType, key } = checkKeyPolicyObject(spkiDer, allowed, jwk);
  // The certificate repeats the CSR's key bytes, so they must be exactly the DER of the key that was
  // checked: a canonical P-256/P-384 prefix is pinned by ecJwkOf; any other key must re-encode to the
  // same bytes (a lenient decoder would otherwise let odd encodings through into the leaf).
  if (jwk === undefined && !Buffer.from(spkiDer).equals(key.export({ type: 'spki', format: 'der' }))) {
    throw new IdentityError('IDENTITY_CSR_INVALID', 'the CSR public key is not in canonical DER');
  }
  const digest = VERIFY_DIGEST_BY_OID[req.signatureAlgorithm.algorithm];
  if (digest === undefined || !signatureAlgorithmFits(req.signatureAlgorithm.algorithm, keyType)) {
    throw new IdentityError('IDENTITY_CSR_SIGNATURE_INVALID', `CSR signature algorithm ${req.signatureAlgorithm.algorithm} is unsupported or does not fit its ${keyType} key`);
  }
  let valid: boolean;
  try {
    valid = nodeVerify(digest, new Uint8Array(req.infoRaw), key, new Uint8Array(req.signature));
  } catch (cause) {
    throw new IdentityError('IDENTITY_CSR_SIGNATURE_INVALID', 'the CSR signature cannot be checked', { cause });
  }
  if (!valid) throw new IdentityError('IDENTITY_CSR_SIGNATURE_INVALID', 'the CSR signature does not verify with the key it carries');
  return { spkiDer, uris: requestedUris(req.info.attributes), keyType };
}

// The canonical DER of a P-256 / P-384 SubjectPublicKeyInfo up to its uncompressed point: SEQUENCE,
// AlgorithmIdentifier (id-ecPublicKey, the named curve), BIT STRING with 0 unused bits, 0x04.
const EC_CURVES = [
  { crv: 'P-256', prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex'), coordinate: 32 },
  { crv: 'P-384', prefix: Buffer.from('3076301006072a8648ce3d020106052b8104002203620004', 'hex'), coordinate: 48 },
];

/**
 * The JWK of an uncompressed P-256/P-384 public key in canonical DER, or undefined for any other
 * encoding or key (those go through node's DER import, which refuses what it cannot read). node:crypto
 * imports a JWK in about half the time of SPKI DER (OpenSSL 3's decoder is the slow part), and the
 * issuance path imports one key per request. The certificate repeats these bytes, so every byte before
 * the point must be the canonical one: a BIT STRING with unused bits set, say, would otherwise be
 * verified through the JWK and then signed into a certificate no one can read.
 */
function ecJwkOf(spkiDer: Uint8Array): JsonWebKey | undefined {
  for (const curve of EC_CURVES) {
    if (spkiDer.byteLength !== curve.prefix.length + 2 * curve.coordinate) continue;
    if (!curve.prefix.equals(spkiDer.subarray(0, curve.prefix.length))) continue;
    const at = spkiDer.byteOffset + curve.prefix.length;
    const x = Buffer.from(spkiDer.buffer, at, curve.coordinate).toString('base64url');
    const y = Buffer.from(spkiDer.buffer, at + curve.coordinate, curve.coordinate).toString('base64url');
    return { kty: 'EC', crv: curve.crv, x, y };
  }
  return undefined;
}

/**
 * Schema parse without asn1js's guess at what an OCTET STRING or BIT STRING might contain (it tries to
 * decode every one as nested ASN.1): the schema says which ones hold DER, and those are parsed on their own.
 */
function parseFlat<T>(der: ArrayBuffer | ArrayBufferView, target: new () => T): T {
  return AsnParser.parse(der, target, { berOptions: { parseEmbedded: false } });
}

/** The URI SANs of the extension request attribute(s). */
function requestedUris(attributes: Attributes): string[] {
  const uris: string[] = [];
  try {
    for (const attr of attributes) {
      if (attr.type !== EXTENSION_REQUEST_OID) continue;
      for (const value of attr.values) {
        for (const ext of parseFlat<asn1X509.Extensions>(value, asn1X509.Extensions)) {
          if (ext.extnID !== SAN_OID) continue;
          for (const name of parseFlat<asn1X509.SubjectAlternativeName>(ext.extnValue.buffer, asn1X509.SubjectAlternativeName)) {
            if (name.uniformResourceIdentifier !== undefined) uris.push(name.uniformResourceIdentifier);
          }
        }
      }
    }
  } catch (cause) {
    throw new IdentityError('IDENTITY_CSR_INVALID', 'the CSR extension request cannot be parsed', { cause });
  }
  return uris;
}

function arrayBufferOf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
