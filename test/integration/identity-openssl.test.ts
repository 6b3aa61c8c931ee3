// Every certificate weft issues, checked by the real OpenSSL CLI: chain verification against the bundle,
// SAN, key usage, extended key usage and validity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityAuthority } from '../../src/control/identity/authority.ts';
import { MemoryCaStateStore } from '../../src/control/identity/state-store.ts';
import { createCsr, splitPem } from '../../src/identity/ca.ts';
import { generateKeyPair, type KeyType } from '../../src/identity/keys.ts';
import { makeTestPki } from '../support/pki.ts';

const TD = 'ossl.test';
const dir = mkdtempSync(join(tmpdir(), 'weft-openssl-'));
let n = 0;

function files(chainPem: string, bundlePem: string) {
  const [leaf, ...inters] = splitPem(chainPem);
  const base = join(dir, String(n++));
  writeFileSync(`${base}-leaf.pem`, leaf + '\n');
  writeFileSync(`${base}-inter.pem`, inters.join('\n') + '\n');
  writeFileSync(`${base}-bundle.pem`, bundlePem);
  return { leaf: `${base}-leaf.pem`, inter: `${base}-inter.pem`, bundle: `${base}-bundle.pem` };
}

function opensslVerify(f: { leaf: string; inter: string; bundle: string }): { ok: boolean; out: string } {
  const r = spawnSync('openssl', ['verify', '-CAfile', f.bundle, '-untrusted', f.inter, f.leaf], { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

function text(path: string): string {
  return execFileSync('openssl', ['x509', '-in', path, '-noout', '-text'], { encoding: 'utf8' });
}

function dateOf(t: string, label: string): number {
  const m = new RegExp(`${label}\\s*:\\s*(.+)`).exec(t);
  assert.ok(m, `${label} in openssl output`);
  return new Date(m[1]!.trim()).getTime();
}

async function issue(a: IdentityAuthority, keyType: KeyType = 'ec-p256') {
  const { token } = await a.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
  const csrPem = await createCsr(generateKeyPair(keyType).privateKeyPem, `spiffe://${TD}/ns/shop/sa/cart`);
  const issuedAt = Date.now();
  return { ...(await a.certify({ csrPem, token })), issuedAt };
}

test('openssl verifies weft leaves (P-256, Ed25519, RSA-2048) against the bundle; x509 -text shows SAN, usages and 24 h + 5 min validity', async () => {
  const a = await IdentityAuthority.open({ trustDomain: TD, store: new MemoryCaStateStore() });
  for (const keyType of ['ec-p256', 'ed25519', 'rsa-2048'] as const) {
    const r = await issue(a, keyType);
    const f = files(r.certChainPem, r.bundle.pem);
    const v = opensslVerify(f);
    assert.ok(v.ok, `${keyType}: ${v.out}`);
    assert.match(v.out, /: OK/);
    const t = text(f.leaf);
    assert.match(t, /URI:spiffe:\/\/ossl\.test\/ns\/shop\/sa\/cart/);
    assert.doesNotMatch(t, /DNS:|IP Address:|email:/, 'nothing that could be mistaken for a DNS identity');
    assert.doesNotMatch(t, /Subject: .*CN ?=/);
    assert.match(t, /X509v3 Subject Alternative Name: critical/);
    assert.match(t, /X509v3 Key Usage: critical\s+Digital Signature/);
    if (keyType === 'rsa-2048') assert.match(t, /Digital Signature, Key Encipherment/);
    else assert.doesNotMatch(t, /Key Encipherment/);
    assert.match(t, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(t, /CA:FALSE/);
    const nb = dateOf(t, 'Not Before');
    const na = dateOf(t, 'Not After ');
    assert.ok(Math.abs(na - nb - (24 * 3600_000 + 5 * 60_000)) <= 2000, `validity ${(na - nb) / 1000} s`);
    assert.ok(Math.abs(nb - (r.issuedAt - 5 * 60_000)) <= 3000, 'backdated 5 minutes');
    // the intermediate is a CA limited to path length 0
    assert.match(text(f.inter), /CA:TRUE, pathlen:0/);
  }
  // the control plane's own serving certificate verifies too
  const s = a.serving.current;
  const fs = files(s.certChainPem, a.bundle.current.pem);
  assert.ok(opensslVerify(fs).ok);
  assert.match(text(fs.leaf), /URI:spiffe:\/\/ossl\.test\/ns\/weft-system\/sa\/weft-control/);
});

test('openssl refuses a weft leaf against another bundle, and verifies both generations during a rotation', async () => {
  const a = await IdentityAuthority.open({ trustDomain: TD, store: new MemoryCaStateStore(), leafTtlMs: 60_000 });
  const before = await issue(a);
  const foreign = await makeTestPki({ trustDomain: TD });
  const bad = opensslVerify(files(before.certChainPem, foreign.bundlePem));
  assert.equal(bad.ok, false);
  assert.match(bad.out, /unable to get (local )?issuer certificate/);
  // hold a session open that has not acked: rotation stays at step 2, bundle has two roots
  const session = a.openBundleSession(`spiffe://${TD}/ns/shop/sa/cart`);
  await a.rotateRoot();
  assert.equal(a.status().rotation?.step, 2);
  session.ack(a.bundle.current.version);
  await a.tick();
  assert.equal(a.status().rotation?.step, 4);
  const after = await issue(a);
  const bundle = a.bundle.current.pem;
  assert.equal(splitPem(bundle).length, 2);
  assert.ok(opensslVerify(files(before.certChainPem, bundle)).ok, 'old-root leaf verifies against the two-root bundle');
  assert.ok(opensslVerify(files(after.certChainPem, bundle)).ok, 'new-root leaf verifies against the two-root bundle');
  assert.equal(opensslVerify(files(after.certChainPem, before.bundle.pem)).ok, false, 'new-root leaf is not trusted by the old bundle alone');
  session.close();
});
