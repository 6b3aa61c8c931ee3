import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from './x509.ts';
import { createCsr, parseAndVerifyCsr, parseAndVerifyCsrSync, signatureAlgorithmOf, uriSanExtension } from './csr.ts';
import { PreEncoded } from './pre-encoded.ts';
import { derToPem, pemBody } from './pem.ts';
import { generateKeyPair, type KeyType } from './keys.ts';
import { hasCode } from '../core/errors.ts';

const ID = 'spiffe://td.local/ns/shop/sa/cart';
const dir = mkdtempSync(join(tmpdir(), 'weft-csr-'));

function derOf(csrPem: string): Buffer {
  return pemBody(csrPem, 'CERTIFICATE REQUEST')!;
}

for (const keyType of ['ec-p256', 'ec-p384', 'ed25519', 'rsa-2048'] as const satisfies readonly KeyType[]) {
  test(`createCsr (${keyType}): @peculiar/x509 and openssl read it and verify its signature; the CA reads the same key and SPIFFE ID`, async () => {
    const pair = generateKeyPair(keyType);
    const pem = await createCsr(pair.privateKeyPem, ID);
    const csr = new x509.Pkcs10CertificateRequest(pem);
    assert.equal(await csr.verify(), true);
    assert.equal(csr.subject, '');
    assert.deepEqual([...csr.extensions].map((e) => e.type), ['2.5.29.17'], 'one extension requested: the SAN');
    const san = csr.extensions[0] as x509.SubjectAlternativeNameExtension;
    assert.equal(san.critical, true, 'the URI SAN is critical (empty subject)');
    assert.deepEqual(san.names.items.map((n) => [n.type, n.value]), [['url', ID]]);

    const file = join(dir, `${keyType}.csr`);
    writeFileSync(file, pem);
    const r = spawnSync('openssl', ['req', '-in', file, '-noout', '-verify', '-text'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /verify OK/i);
    assert.match(r.stdout, /URI:spiffe:\/\/td\.local\/ns\/shop\/sa\/cart/);

    const parsed = await parseAndVerifyCsr(pem);
    assert.equal(parsed.keyType, keyType);
    assert.deepEqual(parsed.uris, [ID]);
    assert.deepEqual(Buffer.from(parsed.spkiDer), createPublicKey(pair.publicKeyPem).export({ type: 'spki', format: 'der' }));
  });
}

test('parseAndVerifyCsr reads a CSR made by openssl (PEM and DER)', () => {
  const pair = generateKeyPair('ec-p256');
  const keyFile = join(dir, 'ossl.key');
  writeFileSync(keyFile, pair.privateKeyPem);
  const r = spawnSync('openssl', ['req', '-new', '-key', keyFile, '-subj', '/O=ignored', '-addext', `subjectAltName=URI:${ID}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const parsed = parseAndVerifyCsrSync(r.stdout);
  assert.deepEqual(parsed.uris, [ID]);
  assert.equal(parsed.keyType, 'ec-p256');
  assert.deepEqual(parseAndVerifyCsrSync(new Uint8Array(derOf(r.stdout))).uris, [ID]);
});

test('a CSR whose signature or signed content was altered is refused; so is one that is not a CSR', async () => {
  for (const keyType of ['ec-p256', 'ed25519', 'rsa-2048'] as const) {
    const der = derOf(await createCsr(generateKeyPair(keyType).privateKeyPem, ID));
    const badSignature = Buffer.from(der);
    badSignature[badSignature.length - 3] = badSignature[badSignature.length - 3]! ^ 0x01;
    assert.throws(
      () => parseAndVerifyCsrSync(new Uint8Array(badSignature)),
      (e: unknown) => hasCode(e, 'IDENTITY_CSR_SIGNATURE_INVALID') || (keyType === 'ec-p256' && hasCode(e, 'IDENTITY_CSR_INVALID')),
      `${keyType}: flipped signature bit`,
    );
    // Change the requested SPIFFE ID inside the signed part (same length, so the DER stays well formed).
    const at = der.indexOf(Buffer.from('sa/cart'));
    assert.ok(at > 0);
    const otherId = Buffer.from(der);
    otherId.write('sa/cars', at);
    assert.throws(() => parseAndVerifyCsrSync(new Uint8Array(otherId)), (e: unknown) => hasCode(e, 'IDENTITY_CSR_SIGNATURE_INVALID'), `${keyType}: altered SAN`);
  }
  await assert.rejects(parseAndVerifyCsr('-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQU=\n-----END CERTIFICATE REQUEST-----\n'), (e: unknown) => hasCode(e, 'IDENTITY_CSR_INVALID'));
  await assert.rejects(parseAndVerifyCsr('no PEM here'), (e: unknown) => hasCode(e, 'IDENTITY_CSR_INVALID'));
});

test('key policy: Ed25519 and RSA-2048 accepted by default and refused outside a narrower policy; RSA-1024 never', async () => {
  for (const keyType of ['ed25519', 'rsa-2048', 'ec-p384'] as const) {
    const pem = await createCsr(generateKeyPair(keyType).privateKeyPem, ID);
    assert.equal(parseAndVerifyCsrSync(pem).keyType, keyType);
    assert.throws(() => parseAndVerifyCsrSync(pem, ['ec-p256']), (e: unknown) => hasCode(e, 'IDENTITY_KEY_POLICY') && /outside policy/.test((e as Error).message));
  }
  // openssl makes the RSA-1024 CSR (createCsr itself refuses such a key).
  const { generateKeyPairSync } = await import('node:crypto');
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  await assert.rejects(createCsr(weak.privateKey, ID), (e: unknown) => hasCode(e, 'IDENTITY_KEY_POLICY'));
  const keyFile = join(dir, 'weak.key');
  writeFileSync(keyFile, weak.privateKey);
  const r = spawnSync('openssl', ['req', '-new', '-key', keyFile, '-subj', '/', '-addext', `subjectAltName=URI:${ID}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.throws(() => parseAndVerifyCsrSync(r.stdout), (e: unknown) => hasCode(e, 'IDENTITY_KEY_POLICY') && /rsa 1024 bits/.test((e as Error).message));
});

test('a CSR whose P-256 key is not in canonical DER (BIT STRING with unused bits) is refused, not signed into a leaf', () => {
  const id = 'spiffe://test.local/ns/a/sa/b';
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const csrWith = (spki: Buffer): string => {
    const info = new CertificationRequestInfo({
      version: 0,
      subject: new asn1X509.Name(),
      subjectPKInfo: new PreEncoded(spki).as<asn1X509.SubjectPublicKeyInfo>(),
      attributes: new Attributes([new asn1X509.Attribute({ type: '1.2.840.113549.1.9.14', values: [AsnConvert.serialize(new asn1X509.Extensions([uriSanExtension(id)]))] })]),
    });
    const infoDer = AsnConvert.serialize(info);
    const sig = nodeSign('sha256', new Uint8Array(infoDer), privateKey);
    const csr = new CertificationRequest({ certificationRequestInfo: new PreEncoded(infoDer).as<CertificationRequestInfo>(), signatureAlgorithm: signatureAlgorithmOf('ec-p256'), signature: new Uint8Array(sig).buffer });
    return derToPem(AsnConvert.serialize(csr), 'CERTIFICATE REQUEST');
  };
  const canonical = Buffer.from(publicKey.export({ type: 'spki', format: 'der' }));
  const ok = parseAndVerifyCsrSync(csrWith(canonical));
  assert.deepEqual(Buffer.from(ok.spkiDer), canonical, 'the canonical key is accepted as it came');
  for (const unusedBits of [1, 7]) {
    const odd = Buffer.from(canonical);
    odd[odd.length - 66] = unusedBits; // the BIT STRING's unused-bits byte, just before the 65-byte point
    assert.throws(() => parseAndVerifyCsrSync(csrWith(odd)), (e: unknown) => hasCode(e, 'IDENTITY_KEY_POLICY') || hasCode(e, 'IDENTITY_CSR_INVALID') || hasCode(e, 'IDENTITY_CSR_SIGNATURE_INVALID'), `unused bits ${unusedBits}`);
  }
});

test('a CSR whose signature algorithm does not fit its key (RSA key, ECDSA algorithm) is refused', () => {
  const id = 'spiffe://test.local/ns/a/sa/b';
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new asn1X509.Name(),
    subjectPKInfo: new PreEncoded(publicKey.export({ type: 'spki', format: 'der' })).as<asn1X509.SubjectPublicKeyInfo>(),
    attributes: new Attributes([new asn1X509.Attribute({ type: '1.2.840.113549.1.9.14', values: [AsnConvert.serialize(new asn1X509.Extensions([uriSanExtension(id)]))] })]),
  });
  const infoDer = AsnConvert.serialize(info);
  const signature = new Uint8Array(nodeSign('sha256', new Uint8Array(infoDer), privateKey)).buffer;
  const withAlgorithm = (type: 'ec-p256' | 'rsa-2048') =>
    derToPem(AsnConvert.serialize(new CertificationRequest({ certificationRequestInfo: new PreEncoded(infoDer).as<CertificationRequestInfo>(), signatureAlgorithm: signatureAlgorithmOf(type), signature })), 'CERTIFICATE REQUEST');
  assert.equal(parseAndVerifyCsrSync(withAlgorithm('rsa-2048')).keyType, 'rsa-2048', 'the honest CSR passes');
  assert.throws(() => parseAndVerifyCsrSync(withAlgorithm('ec-p256')), (e: unknown) => hasCode(e, 'IDENTITY_CSR_SIGNATURE_INVALID'));
});
