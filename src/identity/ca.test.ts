import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createCsr, createIntermediate, createRootCa, issueLeaf, parseAndVerifyCsr, pemBody, splitPem, spiffeIdOfPem, BACKDATE_MS } from './ca.ts';
import { generateKeyPair } from './keys.ts';
import { makeBundle, rootIdForChain } from './bundle.ts';
import { hasCode } from '../core/errors.ts';

test('root → intermediate → leaf chain verifies and carries the SPIFFE ID only', async () => {
  const now = Date.now();
  const root = await createRootCa({ trustDomain: 'td.local', ttlMs: 3600_000, now });
  const inter = await createIntermediate(root, { trustDomain: 'td.local', ttlMs: 1800_000, now });
  const pair = generateKeyPair();
  const csrPem = await createCsr(pair.privateKeyPem, 'spiffe://td.local/ns/a/sa/b');
  const csr = await parseAndVerifyCsr(csrPem);
  assert.deepEqual(csr.uris, ['spiffe://td.local/ns/a/sa/b']);
  const leaf = await issueLeaf(inter, { spiffeId: 'spiffe://td.local/ns/a/sa/b', publicKey: csr.spkiDer, ttlMs: 600_000, now });
  const [leafPem, interPem] = splitPem(leaf.chainPem);
  const l = new X509Certificate(leafPem!);
  const i = new X509Certificate(interPem!);
  const r = new X509Certificate(root.certPem);
  assert.ok(l.verify(i.publicKey));
  assert.ok(i.verify(r.publicKey));
  assert.equal(l.subjectAltName, 'URI:spiffe://td.local/ns/a/sa/b');
  assert.equal(l.ca, false);
  assert.equal(i.ca, true);
  assert.deepEqual(l.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.ok(Math.abs(new Date(l.validFrom).getTime() - (now - BACKDATE_MS)) < 2000);
  assert.ok(Math.abs(new Date(l.validTo).getTime() - (now + 600_000)) < 2000);
  assert.equal(spiffeIdOfPem(leaf.chainPem), 'spiffe://td.local/ns/a/sa/b');
  assert.equal(rootIdForChain(leaf.chainPem, makeBundle(1, [root.certPem]).pem), root.id);
  // leaf notAfter is capped at the issuer's
  const long = await issueLeaf(inter, { spiffeId: 'spiffe://td.local/ns/a/sa/b', publicKey: csr.spkiDer, ttlMs: 10 * 3600_000, now });
  assert.ok(long.notAfter.getTime() <= inter.notAfter.getTime());
});

test('CSR with a bad signature or a weak key is refused', async () => {
  const pair = generateKeyPair();
  const csrPem = await createCsr(pair.privateKeyPem, 'spiffe://td/ns/a/sa/b');
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 5] = der[der.length - 5]! ^ 0xff; // flip a byte of the signature
  await assert.rejects(parseAndVerifyCsr(new Uint8Array(der)), (e: unknown) => hasCode(e, 'IDENTITY_CSR_SIGNATURE_INVALID') || hasCode(e, 'IDENTITY_CSR_INVALID'));
  const rsa1024 = await import('node:crypto').then((c) => c.generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }));
  await assert.rejects(createCsr(rsa1024.privateKey, 'spiffe://td/ns/a/sa/b'), (e: unknown) => hasCode(e, 'IDENTITY_KEY_POLICY'));
  const ed = generateKeyPair('ed25519');
  const edCsr = await parseAndVerifyCsr(await createCsr(ed.privateKeyPem, 'spiffe://td/ns/a/sa/b'));
  assert.equal(edCsr.keyType, 'ed25519');
  await assert.rejects(parseAndVerifyCsr(await createCsr(ed.privateKeyPem, 'spiffe://td/ns/a/sa/b'), ['ec-p256']), (e: unknown) => hasCode(e, 'IDENTITY_KEY_POLICY') && /outside policy/.test((e as Error).message));
});

test('pemBody: the DER of the block with the label asked for (legacy NEW CERTIFICATE REQUEST too), unpooled', () => {
  const der = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]);
  const block = (label: string) => `-----BEGIN ${label}-----\n${der.toString('base64')}\n-----END ${label}-----\n`;
  assert.deepEqual(pemBody(block('NEW CERTIFICATE REQUEST'), 'CERTIFICATE REQUEST'), der);
  assert.deepEqual(pemBody(block('CERTIFICATE') + block('PUBLIC KEY'), 'PUBLIC KEY'), der);
  assert.equal(pemBody(block('CERTIFICATE'), 'PUBLIC KEY'), undefined);
  const got = pemBody(block('PUBLIC KEY'), 'PUBLIC KEY')!;
  assert.equal(got.byteOffset, 0, 'its own ArrayBuffer, not a slice of the pool');
  assert.equal(got.buffer.byteLength, der.length);
});
