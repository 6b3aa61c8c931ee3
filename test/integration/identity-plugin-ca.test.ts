// Plug-in CA: an intermediate and key made by an external PKI (here the openssl CLI) supplied as files;
// weft issues under it, reloads when the files change, and keeps the last good CA when they are broken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityAuthority } from '../../src/control/identity/authority.ts';
import { MemoryCaStateStore } from '../../src/control/identity/state-store.ts';
import { createCsr, splitPem } from '../../src/identity/ca.ts';
import { generateKeyPair } from '../../src/identity/keys.ts';

const TD = 'corp.test';
const dir = mkdtempSync(join(tmpdir(), 'weft-plugin-'));
const p = (name: string) => join(dir, name);

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', cwd: dir });
}

function makeExternalRoot(): void {
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('root.key'));
  openssl('req', '-x509', '-new', '-key', p('root.key'), '-subj', '/O=Corp/CN=Corp Root', '-days', '30', '-out', p('root.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

function makeIntermediate(name: string, keyArgs: string[]): { cert: string; key: string } {
  const key = p(`${name}.key`);
  if (keyArgs[0] === 'rsa') openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key);
  else if (keyArgs[0] === 'ed25519') openssl('genpkey', '-algorithm', 'ED25519', '-out', key);
  else openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key);
  openssl('req', '-new', '-key', key, '-subj', `/O=Corp/CN=${name}`, '-out', p(`${name}.csr`));
  writeFileSync(p('ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  openssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('root.pem'), '-CAkey', p('root.key'), '-CAcreateserial', '-days', '10', '-extfile', p('ext.cnf'), '-out', p(`${name}.pem`));
  return { cert: p(`${name}.pem`), key };
}

function install(src: { cert: string; key: string }): void {
  // Replace atomically, the way cert-manager or a Vault agent writes files.
  writeFileSync(p('tls.crt.tmp'), readFileSync(src.cert));
  writeFileSync(p('tls.key.tmp'), readFileSync(src.key), { mode: 0o600 });
  renameSync(p('tls.crt.tmp'), p('tls.crt'));
  renameSync(p('tls.key.tmp'), p('tls.key'));
}

async function issue(a: IdentityAuthority) {
  const { token } = await a.issueToken({ namespace: 'pay', serviceAccount: 'api' });
  return a.certify({ csrPem: await createCsr(generateKeyPair().privateKeyPem, `spiffe://${TD}/ns/pay/sa/api`), token });
}

function verify(chainPem: string): boolean {
  const [leaf, ...rest] = splitPem(chainPem);
  writeFileSync(p('leaf.pem'), leaf + '\n');
  writeFileSync(p('inter.pem'), rest.join('\n') + '\n');
  return spawnSync('openssl', ['verify', '-CAfile', p('root.pem'), '-untrusted', p('inter.pem'), p('leaf.pem')]).status === 0;
}

test('plug-in CA: issues under an external intermediate, reloads on change, keeps the last good CA on bad files', async () => {
  makeExternalRoot();
  install(makeIntermediate('Corp Mesh Issuer 1', ['ec']));
  const a = await IdentityAuthority.open({ trustDomain: TD, store: new MemoryCaStateStore(), pluginCa: { certFile: p('tls.crt'), keyFile: p('tls.key'), bundleFile: p('root.pem') } });
  let s = a.status();
  assert.equal(s.mode, 'plugin');
  assert.match(s.issuer.subject, /Corp Mesh Issuer 1/);
  assert.equal(s.roots.length, 1);
  assert.match(s.roots[0]!.subject, /Corp Root/);
  const first = await issue(a);
  assert.ok(verify(first.certChainPem), 'leaf verifies against the external root');
  assert.equal(a.bundle.current.pem.trim(), readFileSync(p('root.pem'), 'utf8').trim());
  await assert.rejects(a.rotateRoot(), /managed by the external CA/);

  // the external PKI hands over a new intermediate (RSA this time): picked up on the next tick
  install(makeIntermediate('Corp Mesh Issuer 2', ['rsa']));
  await a.tick();
  s = a.status();
  assert.match(s.issuer.subject, /Corp Mesh Issuer 2/);
  const second = await issue(a);
  assert.ok(verify(second.certChainPem));
  assert.match(execFileSync('openssl', ['x509', '-noout', '-issuer'], { input: splitPem(second.certChainPem)[0], encoding: 'utf8' }), /Corp Mesh Issuer 2/);

  // a key that does not match the certificate: refused, issuing continues from issuer 2
  const mismatched = makeIntermediate('Corp Mesh Issuer 3', ['ec']);
  install({ cert: mismatched.cert, key: p('Corp Mesh Issuer 1.key') });
  await a.tick();
  assert.match(a.status().issuer.subject, /Corp Mesh Issuer 2/);
  assert.equal(a.status().refusals.IDENTITY_PLUGIN_CA_INVALID, 1);
  assert.ok(verify((await issue(a)).certChainPem));

  // an Ed25519 intermediate is accepted too
  install(makeIntermediate('Corp Mesh Issuer 4', ['ed25519']));
  await a.tick();
  assert.match(a.status().issuer.subject, /Corp Mesh Issuer 4/);
  const ed = await issue(a);
  assert.ok(verify(ed.certChainPem));
  assert.match(execFileSync('openssl', ['x509', '-noout', '-text'], { input: splitPem(ed.certChainPem)[0], encoding: 'utf8' }), /Signature Algorithm: ED25519/);
  a.close();
});
