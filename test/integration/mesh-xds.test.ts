// Two workloads behind weft proxies talk over mTLS with configuration that arrived only through xDS
// from a real control plane (files store, TLS xDS, certificates from its CA). Editing the route file
// changes traffic within a second; a bad edit is refused and changes nothing; killing the control
// plane under traffic fails no request, and after it returns the proxies converge on new edits.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDir, controlPlane, workloadIdentity, eventually, getJson } from '../support/control-plane.ts';
import { meshProxy, namedApp, viaProxy, type MeshProxy } from '../support/mesh.ts';
import type { ControlPlane } from '../../src/control/server.ts';

const SERVICES = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: web}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog-v2}
spec: {ports: [{name: http, port: 80}]}
`;
const route = (v1: number, v2: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{group: "", kind: Service, name: catalog}]
  rules:
    - matches: [{headers: [{name: x-version, value: v2}]}]
      backendRefs: [{name: catalog-v2, port: 80}]
    - filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: {set: [{name: x-routed-by, value: weft}]}
      backendRefs: [{name: catalog, port: 80, weight: ${v1}}, {name: catalog-v2, port: 80, weight: ${v2}}]
`;

const dir = await configDir({ 'services.yaml': SERVICES, 'route.yaml': route(1, 0) });
const stateDir = await mkdtemp(join(tmpdir(), 'weft-cp-state-'));
let cp: ControlPlane = await controlPlane({ configDir: dir.dir, stateDir });
const v1 = await namedApp('v1');
const v2 = await namedApp('v2');
const proxies: MeshProxy[] = [];
after(async () => {
  for (const p of proxies) await p.close();
  await cp.close();
  await v1.close();
  await v2.close();
  await dir.remove();
  await rm(stateDir, { recursive: true, force: true });
});

async function mesh(): Promise<{ web: MeshProxy }> {
  const td = cp.trustDomain;
  const [catalogId, catalog2Id, webId] = await Promise.all([workloadIdentity(cp, 'default', 'catalog'), workloadIdentity(cp, 'default', 'catalog'), workloadIdentity(cp, 'default', 'web')]);
  proxies.push(await meshProxy({ xdsTarget: cp.xdsTarget, trustDomain: td, identity: catalogId, nodeId: 'catalog-1', service: 'catalog', serviceAccount: 'catalog', appPort: v1.port }));
  proxies.push(await meshProxy({ xdsTarget: cp.xdsTarget, trustDomain: td, identity: catalog2Id, nodeId: 'catalog-v2-1', service: 'catalog-v2', serviceAccount: 'catalog', appPort: v2.port, mode: 'sotw' }));
  const web = await meshProxy({ xdsTarget: cp.xdsTarget, trustDomain: td, identity: webId, nodeId: 'web-1', service: 'web', serviceAccount: 'web', upstreams: ['catalog'] });
  proxies.push(web);
  return { web };
}

const { web } = await mesh();
const out = web.outboundPort!;

async function distribution(n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await viaProxy(out, 'catalog', '/', headers);
    const k = r.status === 200 ? r.body : `status ${r.status}`;
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

test('two proxies talk over mTLS with config that arrived only through xDS', async () => {
  let res = await viaProxy(out, 'catalog', '/hello');
  for (let i = 0; i < 100 && res.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    res = await viaProxy(out, 'catalog', '/hello');
  }
  assert.equal(res.status, 200, res.body);
  assert.equal(res.body, 'v1');
  assert.equal(res.headers['x-routed-by'], 'weft', 'route filter from the HTTPRoute applied');
  const v2res = await viaProxy(out, 'catalog.default', '/', { 'x-version': 'v2' });
  assert.equal(v2res.body, 'v2', 'header-based routing');
  // the hop between the proxies is mTLS: the catalog proxy's inbound refuses plaintext
  const plain = await fetch(`http://127.0.0.1:${proxies[0]!.inboundPort}/`).then(() => 'answered', () => 'refused');
  assert.equal(plain, 'refused');
  const statuses = await getJson(`${cp.adminUrl}/api/proxies`);
  assert.deepEqual(statuses.map((p: any) => p.status), ['SYNCED', 'SYNCED', 'SYNCED']);
  assert.equal(cp.nacks().length, 0, 'no proxy refused its config');
});

test('editing the route file changes traffic within a second; a bad edit changes nothing', async () => {
  const t0 = performance.now();
  await dir.write('route.yaml', route(0, 1));
  let switched = false;
  while (performance.now() - t0 < 1000) {
    if ((await viaProxy(out, 'catalog', '/')).body === 'v2') {
      switched = true;
      break;
    }
  }
  const elapsed = performance.now() - t0;
  assert.ok(switched, `traffic did not switch within a second`);
  assert.deepEqual(await distribution(20), { v2: 20 });

  await dir.write('route.yaml', route(1, 0).replace('weight: 1}', 'weight: -1}'));
  let cfg: any;
  for (let i = 0; i < 100; i++) {
    cfg = await getJson(`${cp.adminUrl}/api/config`);
    if (cfg.errors) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(cfg.errors, 'the bad edit is reported');
  assert.match(JSON.stringify(cfg.errors.problems), /weight/);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await distribution(20), { v2: 20 }, 'the bad edit changed nothing');
  console.log(`route edit → traffic switched in ${elapsed.toFixed(0)} ms`);
});

test('the control plane dies under traffic: zero failed requests; it comes back and the proxies converge', async () => {
  await dir.write('route.yaml', route(1, 0));
  await eventually(async () => ((await viaProxy(out, 'catalog', '/')).body === 'v1' ? true : undefined) as any, 'back to v1');
  for (let i = 0; i < 50; i++) if ((await viaProxy(out, 'catalog', '/')).body !== 'v1') await new Promise((r) => setTimeout(r, 20));
  const port = cp.xdsPort;
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const traffic = (async () => {
    while (!stop) {
      try {
        const r = await viaProxy(out, 'catalog', '/');
        if (r.status === 200) ok++;
        else failures.push(`status ${r.status}: ${r.body}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await cp.close();
  const okBeforeOutage = ok;
  await new Promise((r) => setTimeout(r, 1500));
  const okDuringOutage = ok - okBeforeOutage;
  assert.ok(web.xds.client.state.current.connected === false, 'the proxy noticed the outage');
  cp = await controlPlane({ configDir: dir.dir, stateDir, xdsPort: port });
  await eventually(() => web.xds.client.state.current.connected || undefined, 'reconnected', 10_000);
  await dir.write('route.yaml', route(0, 1));
  const t0 = performance.now();
  await eventually(() => web.proxy.snapshot.version !== undefined && cp.ads.streams().length === 3 || undefined, 'all three proxies back', 10_000);
  let converged = false;
  while (performance.now() - t0 < 5000 && !converged) {
    const r = await viaProxy(out, 'catalog', '/');
    converged = r.body === 'v2';
    if (!converged) await new Promise((r) => setTimeout(r, 20));
  }
  stop = true;
  await traffic;
  assert.deepEqual(failures, [], 'no request failed');
  assert.ok(okDuringOutage > 50, `traffic flowed during the outage (${okDuringOutage} requests)`);
  assert.ok(converged, 'the proxies converged on the edit made after the control plane returned');
  console.log(`outage: ${ok} requests, ${okDuringOutage} while the control plane was down, 0 failed; converged ${(performance.now() - t0).toFixed(0)} ms after the edit`);
});
