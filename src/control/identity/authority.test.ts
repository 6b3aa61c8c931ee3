import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityAuthority, type IdentityAuthorityOptions } from './authority.ts';
import { FileCaStateStore, MemoryCaStateStore } from './state-store.ts';
import { createCsr } from '../../identity/ca.ts';
import { generateKeyPair } from '../../identity/keys.ts';
import { rootIdForChain } from '../../identity/bundle.ts';
import { hasCode } from '../../core/errors.ts';

const TD = 'rot.test';
const ID = `spiffe://${TD}/ns/app/sa/web`;
const LEAF = 10_000;

function fakeClock(start = Date.now()) {
  const c = { t: start, now: () => c.t };
  return c;
}

async function leaf(a: IdentityAuthority, replacesSerial?: string) {
  const { token } = await a.issueToken({ namespace: 'app', serviceAccount: 'web' });
  return a.certify({ csrPem: await createCsr(generateKeyPair().privateKeyPem, ID), token, replacesSerial });
}

test('CA state is persisted as a 0600 file and reloaded with the same roots and token key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-ca-'));
  const a = await IdentityAuthority.open({ trustDomain: TD, store: new FileCaStateStore(dir) });
  const file = join(dir, 'ca-state.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const { token } = await a.issueToken({ namespace: 'app', serviceAccount: 'web' });
  const b = await IdentityAuthority.open({ trustDomain: TD, store: new FileCaStateStore(dir) });
  assert.equal(b.bundle.current.pem, a.bundle.current.pem);
  assert.equal((await b.verifyToken(token)).uri, ID, 'a token from before the restart still verifies');
  await assert.rejects(IdentityAuthority.open({ trustDomain: 'other.td', store: new FileCaStateStore(dir) }), /trust domain "rot.test"/);
  assert.ok(!JSON.stringify(a.status()).includes('PRIVATE KEY'), 'status never carries key material');
  assert.ok(readFileSync(file, 'utf8').includes('PRIVATE KEY'));
});

test('root rotation runs its five steps, each persisted and visible, surviving a restart at every step', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-rot-'));
  const clock = fakeClock();
  const opts: IdentityAuthorityOptions = { trustDomain: TD, store: new FileCaStateStore(dir), clock, leafTtlMs: LEAF, rootTtlMs: 3600_000 };
  let a = await IdentityAuthority.open(opts);
  const oldRoot = a.status().roots[0]!.id;
  const l1 = await leaf(a);
  let session = a.openBundleSession(ID);
  session.ack(a.bundle.current.version);

  // step 1 runs at once, then step 2 waits for the connected workload's ack
  let s = await a.rotateRoot();
  assert.equal(s.rotation?.step, 2);
  assert.equal(s.roots.length, 2);
  assert.deepEqual(s.rotation?.workloadsWithoutNewBundle, [ID]);
  assert.equal(s.issuer.rootId, oldRoot, 'still issuing under the old root');
  const newRoot = s.rotation!.newRootId!;
  await assert.rejects(a.rotateRoot(), /already in progress/);

  // restart in step 2: the new authority has the same state; a reconnected workload must ack again
  a.close();
  a = await IdentityAuthority.open(opts);
  assert.equal(a.status().rotation?.step, 2);
  assert.equal(a.status().roots.length, 2);
  session = a.openBundleSession(ID);
  session.ack(a.bundle.current.version - 1);
  await a.tick();
  assert.equal(a.status().rotation?.step, 2);
  session.ack(a.bundle.current.version);
  await a.tick();
  // step 3 is immediate: issuing switched, now waiting in step 4
  s = a.status();
  assert.equal(s.rotation?.step, 4);
  assert.equal(s.issuer.rootId, newRoot);
  assert.equal(a.bundle.current.issuingRootId, newRoot);
  const l2 = await leaf(a, l1.serial);
  assert.equal(rootIdForChain(l2.certChainPem, a.bundle.current.pem), newRoot);

  // restart in step 4: waits (the ledger of the new process cannot know older leaves) ...
  a.close();
  a = await IdentityAuthority.open(opts);
  assert.equal(a.status().rotation?.step, 4);
  assert.equal(a.status().issuer.rootId, newRoot);
  clock.t += LEAF / 2;
  await a.tick();
  assert.equal(a.status().rotation?.step, 4);
  // ... at most one leaf lifetime, then step 5 removes the old root
  clock.t += LEAF / 2;
  await a.tick();
  s = a.status();
  assert.equal(s.rotation, null);
  assert.deepEqual(s.roots.map((r) => r.id), [newRoot]);
  assert.ok(s.history.some((h) => /rotation complete/.test(h.event)));
  assert.ok(!a.bundle.current.rootIds.includes(oldRoot));

  a.close();
  a = await IdentityAuthority.open(opts);
  assert.equal(a.status().rotation, null);
  assert.deepEqual(a.status().roots.map((r) => r.id), [newRoot]);
  a.close();
});

test('step 4 ends early once every live leaf under the old root was replaced', async () => {
  const clock = fakeClock();
  const a = await IdentityAuthority.open({ trustDomain: TD, store: new MemoryCaStateStore(), clock, leafTtlMs: LEAF });
  const l1 = await leaf(a);
  clock.t += LEAF / 2;
  await a.rotateRoot(); // no connected workloads: steps 1-3 run at once
  assert.equal(a.status().rotation?.step, 4);
  assert.equal(a.status().rotation?.liveLeavesUnderOldRoot, 1);
  await leaf(a, l1.serial);
  assert.equal(a.status().rotation?.liveLeavesUnderOldRoot, 0);
  clock.t += LEAF / 2; // process up one leaf lifetime; step 4 only half a lifetime old
  await a.tick();
  assert.equal(a.status().rotation, null);
  assert.equal(a.status().roots.length, 1);
});

test('rotation starts automatically when a root has less than a third of its life left; intermediate renews itself', async () => {
  const clock = fakeClock();
  const a = await IdentityAuthority.open({ trustDomain: TD, store: new MemoryCaStateStore(), clock, leafTtlMs: 1000, rootTtlMs: 90_000, intermediateTtlMs: 30_000 });
  const firstIssuer = a.status().issuer.subject;
  clock.t += 21_000; // intermediate (30 s) has < 1/3 left
  await a.tick();
  assert.notEqual(a.status().issuer.subject, firstIssuer);
  assert.equal(a.status().rotation, null);
  clock.t += 30_000; // root: 51 s of 90 gone, 39 s left: above a third
  await a.tick();
  assert.equal(a.status().rotation, null);
  const oldRoot = a.status().issuer.rootId;
  clock.t += 10_000; // 29 s left: below a third → rotation starts; with no workload connected and no live
  // leaf under the old root, all five steps complete in this tick
  await a.tick();
  const st = a.status();
  assert.equal(st.rotation, null);
  assert.notEqual(st.issuer.rootId, oldRoot);
  assert.deepEqual(st.roots.map((r) => r.id), [st.issuer.rootId]);
  assert.ok(st.history.some((h) => /rotation complete/.test(h.event)));
  assert.ok(st.history.some((h) => /rotation started \(auto\)/.test(h.event)));
});

test('recover: refused while the root is valid, then replaces an expired root; tokens still enrol', async () => {
  const clock = fakeClock();
  const a = await IdentityAuthority.open({ trustDomain: TD, store: new MemoryCaStateStore(), clock, leafTtlMs: 1000, rootTtlMs: 60_000 });
  const oldRoot = a.status().roots[0]!.id;
  await assert.rejects(a.recover(), (e: unknown) => hasCode(e, 'IDENTITY_CA_UNAVAILABLE') && /has not expired/.test((e as Error).message));
  clock.t += 10 * 60_000; // root (60 s + 5 min backdate) long expired; no rotation ran (no ticks)
  assert.equal(a.status().roots[0]!.expired, true);
  const s = await a.recover();
  assert.equal(s.roots.length, 1);
  assert.notEqual(s.roots[0]!.id, oldRoot);
  assert.equal(s.roots[0]!.expired, false);
  const l = await leaf(a);
  assert.equal(rootIdForChain(l.certChainPem, a.bundle.current.pem), s.roots[0]!.id);
});

test('signing workers issue the same leaves and carry refusal codes back', async () => {
  const a = await IdentityAuthority.open({ trustDomain: TD, store: new MemoryCaStateStore(), signWorkers: 2 });
  try {
    const leaves = await Promise.all(Array.from({ length: 6 }, () => leaf(a)));
    for (const l of leaves) {
      assert.equal(rootIdForChain(l.certChainPem, a.bundle.current.pem), a.status().issuer.rootId);
      assert.equal(l.spiffeId, ID);
    }
    assert.equal(new Set(leaves.map((l) => l.serial)).size, 6);
    const { token } = await a.issueToken({ namespace: 'app', serviceAccount: 'web' });
    await assert.rejects(a.certify({ csrPem: await createCsr(generateKeyPair().privateKeyPem, `spiffe://${TD}/ns/app/sa/other`), token }), (e: unknown) => hasCode(e, 'IDENTITY_ID_MISMATCH'));
    await assert.rejects(a.certify({ csrPem: 'garbage', token }), (e: unknown) => hasCode(e, 'IDENTITY_CSR_INVALID'));
    // after a rotation the workers sign with the new issuer
    await a.rotateRoot();
    const after = await leaf(a);
    assert.equal(rootIdForChain(after.certChainPem, a.bundle.current.pem), a.status().issuer.rootId);
    assert.equal(a.status().refusals.IDENTITY_ID_MISMATCH, 1);
  } finally {
    a.close();
  }
});
