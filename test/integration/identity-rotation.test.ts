// Root rotation without an outage: two workloads exchange continuous mTLS traffic (many short
// connections) through a full rotation; not one handshake may fail. Also recovery from an expired root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startIdentityServer } from '../../src/control/identity/harness.ts';
import { WorkloadIdentityClient } from '../../src/identity/client.ts';
import { clientTlsOptions, createSpiffeServer } from '../../src/identity/tls.ts';
import { parseBundle, rootIdForChain } from '../../src/identity/bundle.ts';
import type { IdentityMaterial } from '../../src/identity/material.ts';
import type { Watch } from '../../src/core/watch.ts';
import { DEFAULT_WAIT_MS, waitForValue } from '../support/wait.ts';

const TD = 'rotate.test';
const SERVER_ID = `spiffe://${TD}/ns/app/sa/server`;
const CLIENT_ID = `spiffe://${TD}/ns/app/sa/client`;

function echoServer(materials: Watch<IdentityMaterial | undefined>, rejects: string[]) {
  return createSpiffeServer(materials, { allowedPeers: { ids: [CLIENT_ID] }, onReject: (e) => rejects.push(e.message) }, (socket) => {
    socket.on('error', () => {});
    socket.once('data', (d) => socket.end(d));
  });
}

function oneRequest(port: number, material: IdentityMaterial): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...clientTlsOptions(material, { expectedPeer: SERVER_ID }) });
    let got = '';
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => socket.write('ping'));
    socket.on('data', (d) => (got += d));
    socket.on('error', reject);
    socket.on('close', () => (got === 'ping' ? resolve() : reject(new Error(`no echo (got "${got}")`))));
  });
}

/** Runs `concurrency` loops of one-connection requests until stopped; counts outcomes. */
function traffic(port: number, materials: Watch<IdentityMaterial | undefined>, concurrency = 4) {
  const stats = { ok: 0, failed: 0, errors: [] as string[] };
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        await oneRequest(port, materials.current!);
        stats.ok++;
      } catch (error) {
        stats.failed++;
        if (stats.errors.length < 5) stats.errors.push((error as Error).message);
      }
    }
  });
  return { stats, stop: async () => ((running = false), await Promise.all(loops)) };
}

/** Polls `get` until `until` holds (the shared `waitForValue`, never shorter than its default timeout). */
function waitFor<T>(get: () => Promise<T> | T, until: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  return waitForValue(get, until, { timeoutMs: Math.max(timeoutMs, DEFAULT_WAIT_MS), what, intervalMs: 50 });
}

test('a full root rotation under continuous mTLS traffic: zero handshake failures, final leaves under the new root only', async () => {
  const LEAF_MS = 8000;
  const server = await startIdentityServer({ trustDomain: TD, leafTtlMs: LEAF_MS, tickIntervalMs: 100 });
  const a = server.authority;
  const bootstrap = a.bundle.current.pem;
  const tokS = await a.issueToken({ namespace: 'app', serviceAccount: 'server' });
  const tokC = await a.issueToken({ namespace: 'app', serviceAccount: 'client' });
  const ws = new WorkloadIdentityClient({ target: server.target, token: tokS.token, bootstrapBundle: bootstrap, backoffInitialMs: 50 });
  const wc = new WorkloadIdentityClient({ target: server.target, token: tokC.token, bootstrapBundle: bootstrap, backoffInitialMs: 50 });
  await Promise.all([ws.start(), wc.start()]);
  const rejects: string[] = [];
  const echo = echoServer(ws.material, rejects);
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const port = (echo.address() as AddressInfo).port;
  const load = traffic(port, wc.material, 2);
  try {
    await waitFor(() => a.connectedWorkloads, (n) => n === 2, 3000, 'both workloads on the bundle stream');
    const oldRoot = a.status().roots[0]!.id;
    await waitFor(() => load.stats.ok, (n) => n > 0, 10_000, 'traffic flowing before the rotation');
    // Start the rotation through the admin API, as `weft identity rotate-root` does.
    const okAtStart = load.stats.ok;
    const res = await fetch(`${server.adminUrl}/identity/rotate-root`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    const started = (await res.json()) as { rotation: { step: number; newRootId: string } };
    const newRoot = started.rotation.newRootId;
    const stepsSeen = new Set<number>([started.rotation.step]);
    const done = await waitFor(
      async () => {
        const s = (await (await fetch(`${server.adminUrl}/identity/status`)).json()) as { rotation: { step: number } | null; roots: Array<{ id: string }> };
        if (s.rotation) stepsSeen.add(s.rotation.step);
        return s;
      },
      (s) => s.rotation === null,
      4 * LEAF_MS,
      'rotation to finish',
    );
    assert.deepEqual(done.roots.map((r) => r.id), [newRoot]);
    assert.ok(load.stats.ok > okAtStart, 'traffic flowed during the rotation');
    // Both workloads hold the new-root-only bundle and leaves that chain to it.
    for (const w of [ws, wc]) {
      const m = await waitFor(() => w.material.current!, (x) => parseBundle(x.trustBundlePem).length === 1, 3000, 'bundle without the old root');
      assert.deepEqual(parseBundle(m.trustBundlePem).map((r) => r.id), [newRoot]);
      assert.equal(rootIdForChain(m.certChainPem, m.trustBundlePem), newRoot);
      assert.equal(rootIdForChain(m.certChainPem, bootstrap), undefined, 'no longer chains to the old root');
    }
    // keep traffic flowing on the final state for a moment
    const before = load.stats.ok;
    await waitFor(() => load.stats.ok, (n) => n > before, 10_000, 'traffic on the final state');
    await load.stop();
    assert.ok(load.stats.ok > before, 'traffic continued after the rotation');
    assert.ok(stepsSeen.has(2) || stepsSeen.has(4), `waiting steps were visible: ${[...stepsSeen]}`);
    const history = a.status().history.map((h) => h.event).join('\n');
    for (const n of [2, 3, 4, 5]) assert.match(history, new RegExp(`→ step ${n}`));
    assert.match(history, /rotation complete/);
    assert.ok(oldRoot !== newRoot);
    assert.equal(load.stats.failed, 0, `handshake failures: ${load.stats.errors.join('; ')}`);
    assert.deepEqual(rejects, []);
    assert.ok(load.stats.ok > 10, `enough traffic: ${load.stats.ok} requests`);
    console.log(`# rotation under load: ${load.stats.ok} mTLS requests, ${load.stats.failed} failures, steps seen ${[...stepsSeen].join(',')}`);
  } finally {
    await load.stop();
    ws.close();
    wc.close();
    await new Promise((r) => echo.close(r));
    await server.close();
  }
});

test('recovery from an expired root: workloads under the expired root re-enrol with their token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-recover-'));
  const ROOT_MS = 3000;
  // Root expiry is driven by real time (TLS checks it), so this root lives 3 s; no rotation ticks run,
  // the way a forgotten trust anchor expires.
  let server = await startIdentityServer({ trustDomain: TD, stateDir: dir, leafTtlMs: 2000, rootTtlMs: ROOT_MS, autoTick: false });
  const bootstrapFile = join(dir, 'bootstrap-bundle.pem');
  writeFileSync(bootstrapFile, server.authority.bundle.current.pem);
  const tokS = await server.authority.issueToken({ namespace: 'app', serviceAccount: 'server' });
  const tokC = await server.authority.issueToken({ namespace: 'app', serviceAccount: 'client' });
  const opts = { bootstrapBundle: () => readFile(bootstrapFile, 'utf8'), backoffInitialMs: 50, backoffMaxMs: 300 };
  const ws = new WorkloadIdentityClient({ target: server.target, token: tokS.token, ...opts });
  const wc = new WorkloadIdentityClient({ target: server.target, token: tokC.token, ...opts });
  await Promise.all([ws.start(), wc.start()]);
  const expiredRoot = server.authority.status().roots[0]!.id;
  const rejects: string[] = [];
  const echo = echoServer(ws.material, rejects);
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const port = (echo.address() as AddressInfo).port;
  try {
    await oneRequest(port, wc.material.current!);
    // the outage: the root expires; every handshake fails
    await new Promise((r) => setTimeout(r, ROOT_MS + 300));
    await assert.rejects(oneRequest(port, wc.material.current!));
    // restart the control plane on the same state (as after an incident) and recover through the admin API
    const target = server.port;
    await server.close();
    server = await startIdentityServer({ trustDomain: TD, stateDir: dir, leafTtlMs: 2000, rootTtlMs: 3600_000, port: target, autoTick: false });
    const res = await fetch(`${server.adminUrl}/identity/recover`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 200);
    const status = (await res.json()) as { roots: Array<{ id: string; expired: boolean }> };
    assert.equal(status.roots.length, 1);
    assert.notEqual(status.roots[0]!.id, expiredRoot);
    // the operator publishes the new bundle (weft identity bundle > bootstrap-bundle.pem)
    writeFileSync(bootstrapFile, server.authority.bundle.current.pem);
    const newRoot = status.roots[0]!.id;
    for (const w of [ws, wc]) {
      await waitFor(() => w.material.current!, (m) => rootIdForChain(m.certChainPem, server.authority.bundle.current.pem) === newRoot, 8000, 're-enrolment under the new root');
    }
    await oneRequest(port, wc.material.current!);
    assert.ok(server.authority.status().certificatesIssued >= 2);
  } finally {
    ws.close();
    wc.close();
    await new Promise((r) => echo.close(r));
    await server.close();
  }
});
