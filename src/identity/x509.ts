// The single entry to @peculiar/x509: it needs the reflect-metadata polyfill loaded first (its DI
// container checks for it at import time) and a WebCrypto provider. We give it node's WebCrypto with
// sign/verify done synchronously by node:crypto on KeyObjects: WebCrypto in Node runs each signature
// as a thread-pool job, which costs more than the signature itself on the issuance hot path.
import 'reflect-metadata';
import { KeyObject, sign as nodeSign, verify as nodeVerify, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type AnyAlg = { name?: string; hash?: string | { name?: string } } | string;

/** node:crypto digest name for a WebCrypto algorithm, null for Ed25519, undefined when unsupported here. */
function digestOf(alg: AnyAlg, key: webcrypto.CryptoKey): string | null | undefined {
  const name = typeof alg === 'string' ? alg : alg.name;
  if (name === 'Ed25519') return null;
  if (name !== 'ECDSA' && name !== 'RSASSA-PKCS1-v1_5') return undefined;
  const h = (typeof alg === 'object' && alg.hash) || (key.algorithm as { hash?: string | { name?: string } }).hash;
  const hn = typeof h === 'string' ? h : h?.name;
  if (!hn || !/^SHA-(256|384|512)$/.test(hn)) return undefined;
  return 'sha' + hn.slice(4);
}

const keyObjects = new WeakMap<object, KeyObject>();
function keyObjectOf(key: webcrypto.CryptoKey): KeyObject {
  let ko = keyObjects.get(key);
  if (ko === undefined) {
    ko = KeyObject.from(key);
    keyObjects.set(key, ko);
  }
  return ko;
}

function toBuffer(data: ArrayBuffer | ArrayBufferView): Buffer {
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
}

const nodeSubtle = webcrypto.subtle;
const fastSubtle = new Proxy(nodeSubtle, {
  get(target, prop) {
    if (prop === 'sign') {
      return async (alg: AnyAlg, key: webcrypto.CryptoKey, data: ArrayBuffer | ArrayBufferView) => {
        const digest = digestOf(alg, key);
        if (digest === undefined) return target.sign(alg as webcrypto.AlgorithmIdentifier, key, data);
        const sig = nodeSign(digest, toBuffer(data), { key: keyObjectOf(key), dsaEncoding: 'ieee-p1363' });
        return sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength);
      };
    }
    if (prop === 'verify') {
      return async (alg: AnyAlg, key: webcrypto.CryptoKey, signature: ArrayBuffer | ArrayBufferView, data: ArrayBuffer | ArrayBufferView) => {
        const digest = digestOf(alg, key);
        if (digest === undefined) return target.verify(alg as webcrypto.AlgorithmIdentifier, key, signature, data);
        try {
          return nodeVerify(digest, toBuffer(data), { key: keyObjectOf(key), dsaEncoding: 'ieee-p1363' }, toBuffer(signature));
        } catch {
          return false;
        }
      };
    }
    const value = Reflect.get(target, prop, target) as unknown;
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
  },
});

const fastCrypto = {
  subtle: fastSubtle,
  getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
  randomUUID: webcrypto.randomUUID.bind(webcrypto),
};

x509.cryptoProvider.set(fastCrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export * from '@peculiar/x509';
