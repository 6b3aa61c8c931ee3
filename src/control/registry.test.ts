import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateDocuments } from '../config/index.ts';
import { Registry } from './registry.ts';
import { readNodeClaims, META } from './node-metadata.ts';
import type { NodeInfo } from '../xds/node.ts';

function node(id: string, metadata: Record<string, unknown>, userAgentName = 'weft'): NodeInfo {
  return { id, cluster: '', metadata: metadata as any, locality: undefined, userAgentName, userAgentVersion: '' };
}

const TD = 'cluster.local';
const claims = readNodeClaims(
  node('web-1', { [META.service]: 'web', [META.namespace]: 'shop', [META.serviceAccount]: 'web', [META.address]: '10.0.0.5', [META.ports]: [{ name: 'http', port: 8080 }], [META.inboundPort]: 15006, [META.upstreams]: ['catalog', 'other/db'] }),
);

test('node claims: read from metadata; upstreams qualified by namespace; gRPC user agents are proxyless', () => {
  assert.equal(claims.service, 'web');
  assert.deepEqual(claims.upstreams, ['shop/catalog', 'other/db']);
  assert.equal(claims.kind, 'sidecar');
  assert.equal(claims.inboundPort, 15006);
  assert.equal(readNodeClaims(node('g', {}, 'gRPC Node Pure-JS')).kind, 'proxyless');
  assert.equal(readNodeClaims(node('g', {})).upstreams, undefined);
});

test('registry: a proxy registers with a matching certificate; a mismatch is refused', () => {
  const reg = new Registry();
  assert.throws(() => reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/admin', TD), (e: any) => e.code === 'REGISTRY_IDENTITY_MISMATCH');
  assert.throws(() => reg.connect(claims, undefined, TD), (e: any) => e.code === 'REGISTRY_NO_IDENTITY');
  assert.equal(reg.view.current.workloads.size, 0);
  const e = reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/web', TD)!;
  assert.equal(e.address, '10.0.0.5');
  assert.equal(e.proxyPort, 15006);
  assert.equal(reg.view.current.workloads.get('proxy:web-1')!.spiffeId, 'spiffe://cluster.local/ns/shop/sa/web');
});

test('registry: a disconnected proxy stays for the grace period, a reconnect cancels removal', () => {
  let now = 1000;
  const armed: (() => void)[] = [];
  const reg = new Registry({ graceMs: 10_000, clock: () => now, schedule: (_ms, fn) => (armed.push(fn), { cancel() {} }) });
  reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/web', TD);
  reg.disconnect('web-1');
  assert.ok(reg.view.current.workloads.has('proxy:web-1'), 'kept during grace');
  now += 9_999;
  assert.equal(reg.sweep(), 0);
  // reconnect within grace: not removed later
  reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/web', TD);
  now += 5_000;
  assert.equal(reg.sweep(), 0);
  reg.disconnect('web-1');
  now += 10_000;
  const rev = reg.view.current.revision;
  assert.equal(reg.sweep(), 1);
  assert.equal(reg.view.current.workloads.size, 0);
  assert.ok(reg.view.current.revision > rev);
  assert.equal(armed.length, 2);
});

test('registry: a grace timer that fires before the wall clock agrees still removes the endpoint', () => {
  let now = 1000;
  const armed: (() => void)[] = [];
  const reg = new Registry({ graceMs: 3_000, clock: () => now, schedule: (_ms, fn) => (armed.push(fn), { cancel() {} }) });
  reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/web', TD);
  reg.disconnect('web-1');
  now += 2_999; // timers and Date.now() disagree by a millisecond now and then
  armed[0]!();
  assert.equal(reg.view.current.workloads.size, 0, 'the timer removed its entry');
});

test('registry: a stale grace timer does not remove a proxy that reconnected and disconnected again', () => {
  let now = 1000;
  const armed: (() => void)[] = [];
  const reg = new Registry({ graceMs: 3_000, clock: () => now, schedule: (_ms, fn) => (armed.push(fn), { cancel() {} }) });
  reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/web', TD);
  reg.disconnect('web-1');
  now += 1_000;
  reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/web', TD);
  reg.disconnect('web-1');
  armed[0]!(); // the first timer (not cancelled by this fake scheduler) fires late
  assert.ok(reg.view.current.workloads.has('proxy:web-1'), 'second grace period still running');
  armed[1]!();
  assert.equal(reg.view.current.workloads.size, 0);
});

test('registry: two streams of one proxy — endpoint kept until both close', () => {
  let now = 0;
  const reg = new Registry({ graceMs: 10, clock: () => now, schedule: () => ({ cancel() {} }) });
  reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/web', TD);
  reg.connect(claims, 'spiffe://cluster.local/ns/shop/sa/web', TD);
  reg.disconnect('web-1');
  now = 100;
  assert.equal(reg.sweep(), 0);
  reg.disconnect('web-1');
  now = 200;
  assert.equal(reg.sweep(), 1);
});

test('registry: static Workload resources are accepted; identical sets do not bump the revision', () => {
  const r = validateDocuments([
    {
      source: 'w.yaml',
      text: `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: catalog-1, namespace: shop, labels: {version: v1}}
spec: {service: catalog, serviceAccount: catalog, address: 10.0.0.9, port: 9090, proxyPort: 15006}
`,
    },
  ]);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const reg = new Registry();
  reg.setStatic(r.value.workloads.values(), 'mesh.local');
  const e = reg.view.current.workloads.get('static:shop/catalog-1')!;
  assert.equal(e.spiffeId, 'spiffe://mesh.local/ns/shop/sa/catalog');
  assert.deepEqual(e.ports, [{ name: '', port: 9090 }]);
  assert.equal(e.labels.version, 'v1');
  const rev = reg.view.current.revision;
  reg.setStatic(r.value.workloads.values(), 'mesh.local');
  assert.equal(reg.view.current.revision, rev);
});
