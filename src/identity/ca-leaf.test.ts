import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from './x509.ts';
import { createCsr, createIntermediate, createRootCa, issueLeaf, parseAndVerifyCsr, splitPem, type IssuerCa } from './ca.ts';
import { generateKeyPair, type KeyType } from './keys.ts';
import { pemBody } from './pem.ts';
import { PreEncoded } from './pre-encoded.ts';

const TD = 'leaf.test';
const ID = `spiffe://${TD}/ns/shop/sa/cart`;
const dir = mkdtempSync(join(tmpdir(), 'weft-leaf-'));
let n = 0;

function opensslVerify(rootPem: string, issuer: IssuerCa, leafPem: string): { ok: boolean; out: string } {
  const base = join(dir, String(n++));
  writeFileSync(`${base}-root.pem`, rootPem);
  writeFileSync(`${base}-inter.pem`, issuer.chainPem);
  writeFileSync(`${base}-leaf.pem`, leafPem);
  const r = spawnSync('openssl', ['verify', '-CAfile', `${base}-root.pem`, '-untrusted', `${base}-inter.pem`, `${base}-leaf.pem`], { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

for (const issuerKey of ['ec-p256', 'rsa-2048', 'ed25519'] as const satisfies readonly KeyType[]) {
  test(`leaves signed by a ${issuerKey} intermediate parse with node and @peculiar/x509, carry the expected fields and pass openssl verify`, async () => {
    const now = Date.now();
    const root = await createRootCa({ trustDomain: TD, ttlMs: 3600_000, now });
    const inter = await createIntermediate(root, { trustDomain: TD, ttlMs: 3600_000, now, keyType: issuerKey });
    for (const leafKey of ['ec-p256', 'ec-p384', 'ed25519', 'rsa-2048'] as const) {
      const pair = generateKeyPair(leafKey);
      const csr = await parseAndVerifyCsr(await createCsr(pair.privateKeyPem, ID));
      const leaf = await issueLeaf(inter, { spiffeId: ID, publicKey: csr.spkiDer, keyType: csr.keyType, ttlMs: 600_000, now });
      const label = `${issuerKey} issuer, ${leafKey} leaf`;
      assert.equal(splitPem(leaf.chainPem)[0] + '\n', leaf.certPem, label);

      const node = new X509Certificate(leaf.certPem);
      assert.ok(node.verify(new X509Certificate(inter.certPem).publicKey), `${label}: signature`);
      assert.ok(node.checkIssued(new X509Certificate(inter.certPem)), `${label}: issuer name and key identifiers match`);
      assert.equal(node.subjectAltName, `URI:${ID}`);
      assert.ok(!node.subject, 'empty subject');
      assert.equal(node.ca, false);
      assert.equal(node.serialNumber.toLowerCase().replace(/^0+/, ''), leaf.serial.replace(/^0+/, ''));
      assert.deepEqual(node.publicKey.export({ type: 'spki', format: 'der' }), createPublicKey(pair.publicKeyPem).export({ type: 'spki', format: 'der' }));

      const peculiar = new x509.X509Certificate(leaf.certPem);
      assert.equal(peculiar.issuer, inter.subject);
      assert.equal(await peculiar.verify({ publicKey: inter.cert.publicKey, signatureOnly: true }), true, `${label}: @peculiar/x509 verifies`);
      const ext = (oid: string) => [...peculiar.extensions].find((e) => e.type === oid);
      assert.deepEqual([...peculiar.extensions].map((e) => e.type).sort(), ['2.5.29.15', '2.5.29.17', '2.5.29.19', '2.5.29.35', '2.5.29.37'].sort(), 'no other extension');
      const bc = ext('2.5.29.19') as x509.BasicConstraintsExtension;
      assert.equal(bc.ca, false);
      assert.equal(bc.critical, true);
      const ku = ext('2.5.29.15') as x509.KeyUsagesExtension;
      assert.equal(ku.critical, true);
      const usages = leafKey === 'rsa-2048' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature;
      assert.equal(ku.usages, usages, `${label}: key usage`);
      assert.deepEqual([...(ext('2.5.29.37') as x509.ExtendedKeyUsageExtension).usages], [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
      assert.equal((ext('2.5.29.35') as x509.AuthorityKeyIdentifierExtension).keyId, inter.skiHex);
      const san = ext('2.5.29.17') as x509.SubjectAlternativeNameExtension;
      assert.equal(san.critical, true);
      assert.deepEqual(san.names.items.map((i) => [i.type, i.value]), [['url', ID]]);

      const v = opensslVerify(root.certPem, inter, leaf.certPem);
      assert.ok(v.ok, `${label}: ${v.out}`);
    }
  });
}

test('a leaf for a key that was not checked yet: the key is checked against policy and re-encoded by node:crypto', async () => {
  const now = Date.now();
  const root = await createRootCa({ trustDomain: TD, ttlMs: 3600_000, now });
  const inter = await createIntermediate(root, { trustDomain: TD, ttlMs: 3600_000, now });
  const pair = generateKeyPair('ed25519');
  const leaf = await issueLeaf(inter, { spiffeId: ID, publicKey: pemBody(pair.publicKeyPem, 'PUBLIC KEY')!, now });
  assert.ok(opensslVerify(root.certPem, inter, leaf.certPem).ok);
  const weak = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 });
  await assert.rejects(issueLeaf(inter, { spiffeId: ID, publicKey: weak.publicKey.export({ type: 'spki', format: 'der' }), now }), /outside policy/);
});

test('PreEncoded: a schema object holding DER serializes to the same bytes as the object it stands for', () => {
  const name = new asn1X509.Name([new asn1X509.RelativeDistinguishedName([new asn1X509.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1X509.AttributeValue({ utf8String: 'weft' }) })])]);
  const alg = new asn1X509.AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null });
  const spkiDer = createPublicKey(generateKeyPair().publicKeyPem).export({ type: 'spki', format: 'der' });
  const tbs = (issuer: asn1X509.Name, signature: asn1X509.AlgorithmIdentifier, spki: asn1X509.SubjectPublicKeyInfo) =>
    Buffer.from(
      AsnConvert.serialize(
        new asn1X509.TBSCertificate({
          version: asn1X509.Version.v3,
          serialNumber: new Uint8Array([1, 2, 3]).buffer,
          signature,
          issuer,
          validity: new asn1X509.Validity({ notBefore: new Date(0), notAfter: new Date(1000_000) }),
          subject: new asn1X509.Name(),
          subjectPublicKeyInfo: spki,
        }),
      ),
    );
  const plain = tbs(name, alg, AsnConvert.parse(spkiDer, asn1X509.SubjectPublicKeyInfo));
  const reused = tbs(
    new PreEncoded(AsnConvert.serialize(name)).as<asn1X509.Name>(),
    new PreEncoded(AsnConvert.serialize(alg)).as<asn1X509.AlgorithmIdentifier>(),
    new PreEncoded(spkiDer).as<asn1X509.SubjectPublicKeyInfo>(),
  );
  assert.deepEqual(reused, plain);
  assert.equal(AsnConvert.parse(reused, asn1X509.TBSCertificate).issuer[0]![0]!.value.utf8String, 'weft');
  assert.throws(() => new PreEncoded(spkiDer).fromASN(), /encoding only/);
});

test('leaf validity: notBefore backdated 5 minutes for clock skew, notAfter never past the issuer', async () => {
  const now = Date.now();
  const root = await createRootCa({ trustDomain: TD, ttlMs: 7200_000, now: now - 600_000 });
  const inter = await createIntermediate(root, { trustDomain: TD, ttlMs: 3600_000, now: now - 600_000 }); // valid until now + 50 min
  const csr = await parseAndVerifyCsr(await createCsr(generateKeyPair().privateKeyPem, ID));
  const seconds = (t: number) => Math.floor(t / 1000) * 1000;

  const short = new X509Certificate((await issueLeaf(inter, { spiffeId: ID, publicKey: csr.spkiDer, keyType: csr.keyType, ttlMs: 600_000, now })).certPem);
  assert.equal(Date.parse(short.validFrom), seconds(now - 5 * 60_000), 'notBefore = now - 5 min');
  assert.ok(Math.abs(Date.parse(short.validTo) - (now + 600_000)) < 1000, `notAfter ${short.validTo} = now + ttl`);

  const long = new X509Certificate((await issueLeaf(inter, { spiffeId: ID, publicKey: csr.spkiDer, keyType: csr.keyType, ttlMs: 24 * 3600_000, now })).certPem);
  assert.equal(Date.parse(long.validTo), seconds(inter.notAfter.getTime()), 'a 24 h leaf is cut at the issuer\'s notAfter');
  assert.ok(Date.parse(long.validTo) < now + 3600_000);
});
