// Key pairs made with node:crypto, the key-type policy (P-256 default; Ed25519, RSA accepted), and
// conversion to WebCrypto keys for @peculiar/x509. Private keys stay in the process that made them.
import { createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto, type JsonWebKey, type KeyObject } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;
type EcKeyImportParams = webcrypto.EcKeyImportParams;
type RsaHashedImportParams = webcrypto.RsaHashedImportParams;
import { IdentityError } from './errors.ts';


export type KeyType = 'ec-p256' | 'ec-p384' | 'ed25519' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export interface KeyPairPem {
  readonly type: KeyType;
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

/** Makes a key pair in this process. Default ECDSA P-256. */
export function generateKeyPair(type: KeyType = 'ec-p256'): KeyPairPem {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  let pair: { publicKey: string; privateKey: string };
  switch (type) {
    case 'ec-p256':
      pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1', publicKeyEncoding, privateKeyEncoding });
      break;
    case 'ec-p384':
      pair = generateKeyPairSync('ec', { namedCurve: 'secp384r1', publicKeyEncoding, privateKeyEncoding });
      break;
    case 'ed25519':
      pair = generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
      break;
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      pair = generateKeyPairSync('rsa', { modulusLength: Number(type.slice(4)), publicKeyEncoding, privateKeyEncoding });
      break;
  }
  return { type, privateKeyPem: pair.privateKey, publicKeyPem: pair.publicKey };
}

/** Classifies a node KeyObject (public or private) into a KeyType, or undefined when it is outside every policy. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const kind = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (kind === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ec-p256';
    if (details.namedCurve === 'secp384r1') return 'ec-p384';
    return undefined;
  }
  if (kind === 'ed25519') return 'ed25519';
  if (kind === 'rsa') {
    const bits = details.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}` as KeyType;
    return undefined;
  }
  return undefined;
}

/** Key types a workload CSR may carry by default. */
export const DEFAULT_LEAF_KEY_POLICY: readonly KeyType[] = ['ec-p256', 'ec-p384', 'ed25519', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

/** Describes a public key for error messages: "ec prime256v1", "rsa 1024 bits". */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `ec ${d.namedCurve ?? '?'}`;
  if (key.asymmetricKeyType === 'rsa') return `rsa ${d.modulusLength ?? '?'} bits`;
  return String(key.asymmetricKeyType);
}

/** Checks a public key (SPKI DER) against the policy; returns its KeyType or throws IDENTITY_KEY_POLICY. */
export function checkKeyPolicy(spkiDer: ArrayBuffer | Uint8Array, allowed: readonly KeyType[] = DEFAULT_LEAF_KEY_POLICY): KeyType {
  return checkKeyPolicyObject(spkiDer, allowed).type;
}

/** Like checkKeyPolicy, also returning the parsed node KeyObject (for signature checks). */
export function checkKeyPolicyObject(spkiDer: ArrayBuffer | Uint8Array, allowed: readonly KeyType[] = DEFAULT_LEAF_KEY_POLICY, sameKeyAsJwk?: JsonWebKey): { type: KeyType; key: KeyObject } {
  let key: KeyObject;
  try {
    // `sameKeyAsJwk`: the same public key as a JWK, already read from the DER by the caller (a faster import).
    key = sameKeyAsJwk
      ? createPublicKey({ key: sameKeyAsJwk, format: 'jwk' })
      : createPublicKey({ key: Buffer.from(spkiDer instanceof Uint8Array ? spkiDer : new Uint8Array(spkiDer)), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new IdentityError('IDENTITY_KEY_POLICY', 'the public key cannot be parsed', { cause });
  }
  const type = keyTypeOf(key);
  if (type === undefined || !allowed.includes(type)) {
    throw new IdentityError('IDENTITY_KEY_POLICY', `key type ${describeKey(key)} is outside policy; allowed: ${allowed.join(', ')}`, {
      details: { key: describeKey(key) },
    });
  }
  return { type, key };
}

/** WebCrypto import and signing parameters for a key type. */
export function algorithmsFor(type: KeyType): { importAlg: EcKeyImportParams | RsaHashedImportParams | Algorithm; signAlg: EcdsaParams | Algorithm } {
  switch (type) {
    case 'ec-p256':
      return { importAlg: { name: 'ECDSA', namedCurve: 'P-256' }, signAlg: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams };
    case 'ec-p384':
      return { importAlg: { name: 'ECDSA', namedCurve: 'P-384' }, signAlg: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams };
    case 'ed25519':
      return { importAlg: { name: 'Ed25519' }, signAlg: { name: 'Ed25519' } };
    default:
      return {
        importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as RsaHashedImportParams,
        signAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm,
      };
  }
}

export interface SigningKey {
  readonly type: KeyType;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly signAlg: EcdsaParams | Algorithm;
}

/** Reads a PEM private key into node:crypto and names its type; refuses unreadable or unsupported keys. */
export function readPrivateKey(privateKeyPem: string): { key: KeyObject; type: KeyType } {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (cause) {
    throw new IdentityError('IDENTITY_CA_STATE_INVALID', 'private key cannot be parsed (expected PEM, PKCS#8, SEC1 or PKCS#1)', { cause });
  }
  const type = keyTypeOf(key);
  if (type === undefined) throw new IdentityError('IDENTITY_KEY_POLICY', `unsupported private key type ${describeKey(key)}`);
  return { key, type };
}

/** Imports a PKCS#8 PEM private key for signing certificates (CA keys, or a workload's own key for its CSR). */
export async function importSigningKey(privateKeyPem: string): Promise<SigningKey> {
  const { key: priv, type } = readPrivateKey(privateKeyPem);
  const { importAlg, signAlg } = algorithmsFor(type);
  const pkcs8 = priv.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  const subtle = webcrypto.subtle;
  const privateKey = await subtle.importKey('pkcs8', pkcs8, importAlg, false, ['sign']);
  const publicKey = await subtle.importKey('spki', spki, importAlg, true, ['verify']);
  return { type, privateKey, publicKey, signAlg };
}

/** How node:crypto signs with a key type, and the X.509 signature algorithm that names it. */
export interface NodeSignature {
  /** Digest for `crypto.sign`/`crypto.verify` (null for Ed25519). ECDSA signatures are DER, as X.509 wants. */
  readonly digest: string | null;
  /** AlgorithmIdentifier OID: ecdsa-with-SHA256/384, Ed25519, sha256WithRSAEncryption. */
  readonly algorithmOid: string;
  /** RSA PKCS#1 v1.5 algorithm identifiers carry an explicit NULL parameter (RFC 4055); the others none. */
  readonly nullParameters: boolean;
}

const NODE_SIGNATURES: Record<KeyType, NodeSignature> = {
  'ec-p256': { digest: 'sha256', algorithmOid: '1.2.840.10045.4.3.2', nullParameters: false },
  'ec-p384': { digest: 'sha384', algorithmOid: '1.2.840.10045.4.3.3', nullParameters: false },
  ed25519: { digest: null, algorithmOid: '1.3.101.112', nullParameters: false },
  'rsa-2048': { digest: 'sha256', algorithmOid: '1.2.840.113549.1.1.11', nullParameters: true },
  'rsa-3072': { digest: 'sha256', algorithmOid: '1.2.840.113549.1.1.11', nullParameters: true },
  'rsa-4096': { digest: 'sha256', algorithmOid: '1.2.840.113549.1.1.11', nullParameters: true },
};

/** The signature made by a key of this type (same choices as `algorithmsFor`: SHA-256, SHA-384 for P-384). */
export function nodeSignatureFor(type: KeyType): NodeSignature {
  return NODE_SIGNATURES[type];
}

/** Signature algorithm OID → node:crypto digest, for verifying CSR signatures (null = Ed25519). */
export const VERIFY_DIGEST_BY_OID: Readonly<Record<string, string | null>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null,
};

/** Whether a signature algorithm OID (of VERIFY_DIGEST_BY_OID) belongs to a key of this type. */
export function signatureAlgorithmFits(oid: string, type: KeyType): boolean {
  if (type.startsWith('ec-')) return oid.startsWith('1.2.840.10045.4.3.');
  if (type.startsWith('rsa-')) return oid.startsWith('1.2.840.113549.1.1.');
  return oid === '1.3.101.112';
}
