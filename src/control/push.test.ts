import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotCache } from '../xds/server.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../xds/resources.ts';
import { validateDocuments } from '../config/index.ts';
import { PushController } from './push.ts';
import type { WorkloadEntry } from './registry.ts';
import type { ProxyDescriptor } from './compiler/compile.ts';

function config(extra = '') {
  const r = validateDocuments([
    {
      source: 'm.yaml',
      text: `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: a}
spec: {ports: [{port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: b}
spec: {ports: [{port: 80}]}
${extra}`,
    },
  ]);
  assert.ok(r.ok);
  return r.value;
}

function workload(id: string, service: string, address: string): WorkloadEntry {
  return { id, origin: 'proxy', service, namespace: 'default', serviceAccount: service, spiffeId: `spiffe://cluster.local/ns/default/sa/${service}`, labels: {}, address, ports: [{ name: '', port: 8080 }], proxyPort: 15006, ready: true, locality: undefined, disconnectedAt: undefined };
}

const scopedToA: ProxyDescriptor = { nodeId: 'p1', kind: 'sidecar', namespace: 'default', service: undefined, serviceAccount: 'default', ports: [], inboundPort: undefined, upstreams: ['default/a'] };
const versions = (cache: SnapshotCache, key: string) => {
  const s = cache.getSnapshot(key)!;
  return [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL].map((t) => s.resources[t]!.version);
};

test('push: a connecting proxy gets its snapshot at once; endpoint-only changes move only EDS; out-of-scope changes move nothing', () => {
  const cache = new SnapshotCache();
  const push = new PushController({ cache, debounceMs: 10_000 });
  const a1 = workload('proxy:a-1', 'a', '10.0.0.1');
  push.update({ config: config(), workloads: new Map([['proxy:a-1', a1]]), trustBundlePem: 'PEM' });
  push.connect('p1', scopedToA);
  const v0 = versions(cache, 'p1');
  assert.deepEqual([...cache.getSnapshot('p1')!.resources[CLUSTER_TYPE_URL]!.items.keys()], ['outbound|80||a.default'], 'scoped to a');

  let woken = 0;
  cache.watch('p1', () => woken++);
  // A second endpoint with the same identity: the cluster (its SAN list) is unchanged.
  push.update({ workloads: new Map([['proxy:a-1', a1], ['proxy:a-2', workload('proxy:a-2', 'a', '10.0.0.3')]]) });
  push.flushNow();
  const v1 = versions(cache, 'p1');
  assert.equal(v1[0], v0[0], 'CDS unchanged');
  assert.notEqual(v1[1], v0[1], 'EDS changed');
  assert.equal(v1[2], v0[2], 'LDS unchanged');
  assert.equal(v1[3], v0[3], 'RDS unchanged');
  assert.equal(woken, 1);
  assert.deepEqual(push.stats.lastChanged, { CDS: 0, EDS: 1, LDS: 0, RDS: 0 });

  // An endpoint of b (out of scope) changes: nothing for p1.
  push.update({ workloads: new Map([['proxy:a-1', a1], ['proxy:a-2', workload('proxy:a-2', 'a', '10.0.0.3')], ['proxy:b-1', workload('proxy:b-1', 'b', '10.0.0.2')]]) });
  push.flushNow();
  assert.deepEqual(versions(cache, 'p1'), v1);
  assert.equal(woken, 1, 'an unchanged view does not wake the stream');
  push.close();
});

test('push: proxies with the same view share one compilation; disconnect drops the snapshot', () => {
  const cache = new SnapshotCache();
  const push = new PushController({ cache, debounceMs: 10_000 });
  push.update({ config: config(), trustBundlePem: 'PEM' });
  for (let i = 0; i < 50; i++) push.connect(`p${i}`, { ...scopedToA, nodeId: `p${i}` });
  push.update({ config: config() });
  push.flushNow();
  assert.equal(push.stats.groups, 1);
  assert.equal(push.stats.proxies, 50);
  assert.equal(cache.getSnapshot('p0')!.resources[CLUSTER_TYPE_URL], cache.getSnapshot('p49')!.resources[CLUSTER_TYPE_URL], 'shared TypeSnapshot');
  push.disconnect('p0');
  assert.equal(cache.getSnapshot('p0'), undefined);
  push.close();
});

test('push: changes are debounced, but never beyond the max delay', (t) => {
  // Fake time: setTimeout is mocked and the controller reads an injected clock advanced in step.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  const clock = { now: () => now };
  const advance = (ms: number) => {
    now += ms;
    t.mock.timers.tick(ms);
  };
  const cache = new SnapshotCache();
  const push = new PushController({ cache, debounceMs: 30, maxDelayMs: 80, clock });
  push.update({ config: config(), trustBundlePem: 'PEM' });
  push.connect('p1', scopedToA);
  push.flushNow();
  const flushes: number[] = [];
  const latencies: number[] = [];
  push.onFlush((stats) => {
    flushes.push(now);
    latencies.push(stats.lastLatencyMs!);
  });
  // One change, then quiet: it flushes after exactly the debounce.
  push.update({ config: config() });
  advance(29);
  assert.deepEqual(flushes, [], 'not before the quiet time');
  advance(1);
  assert.deepEqual(flushes, [30]);
  flushes.length = 0;
  latencies.length = 0;
  // A change every 10 ms for 200 ms: quiet time never comes, so the max delay forces flushes.
  const start = now;
  for (let i = 0; i < 20; i++) {
    push.update({ config: config() });
    advance(10);
  }
  const rel = flushes.map((f) => f - start);
  assert.deepEqual(rel, [80, 160], 'flushed at the max delay after the first pending change, twice');
  assert.deepEqual(latencies, [80, 80]);
  // The last change (at 190 ms) flushes one debounce later, before the max delay (240 ms) is due.
  advance(19);
  assert.equal(flushes.length, 2);
  advance(1);
  assert.deepEqual(flushes.map((f) => f - start), [80, 160, 220]);
  push.close();
});

test('push: an endpoint change recompiles only the groups whose scope holds that service', () => {
  const cache = new SnapshotCache();
  const push = new PushController({ cache, debounceMs: 10_000 });
  const a1 = workload('proxy:a-1', 'a', '10.0.0.1');
  const b1 = workload('proxy:b-1', 'b', '10.0.0.2');
  push.update({ config: config(), workloads: new Map([['proxy:a-1', a1], ['proxy:b-1', b1]]), trustBundlePem: 'PEM' });
  push.connect('to-a', scopedToA);
  push.connect('to-b', { ...scopedToA, nodeId: 'to-b', upstreams: ['default/b'] });
  push.flushNow();
  const aBefore = cache.getSnapshot('to-a')!;
  const bBefore = cache.getSnapshot('to-b')!;
  const b2 = workload('proxy:b-2', 'b', '10.0.0.3');
  push.update({ workloads: new Map([['proxy:a-1', a1], ['proxy:b-1', b1], ['proxy:b-2', b2]]) });
  push.flushNow();
  assert.equal(cache.getSnapshot('to-a'), aBefore, 'the group scoped to a kept its snapshot object');
  const bAfter = cache.getSnapshot('to-b')!;
  assert.notEqual(bAfter.resources[ENDPOINT_TYPE_URL]!.version, bBefore.resources[ENDPOINT_TYPE_URL]!.version);
  assert.equal(bAfter.resources[ROUTE_TYPE_URL], bBefore.resources[ROUTE_TYPE_URL], 'route pieces carried over');
  assert.deepEqual(push.stats.lastChanged, { CDS: 0, EDS: 1, LDS: 0, RDS: 0 });
  // a config change (new config object) recompiles everything and stays correct
  push.update({ config: config() });
  push.flushNow();
  assert.equal(cache.getSnapshot('to-b')!.resources[ENDPOINT_TYPE_URL]!.version, bAfter.resources[ENDPOINT_TYPE_URL]!.version, 'same content, same version');
  push.close();
});

test('push: a route edit (new config object) recompiles only what it touches, and equals a compilation from scratch', () => {
  const route = (w: number) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a}
spec:
  parentRefs: [{group: "", kind: Service, name: a}]
  rules:
    - backendRefs: [{name: a, port: 80, weight: ${w}}, {name: b, port: 80, weight: 1}]
`;
  const a1 = workload('proxy:a-1', 'a', '10.0.0.1');
  const b1 = workload('proxy:b-1', 'b', '10.0.0.2');
  const workloads = new Map([['proxy:a-1', a1], ['proxy:b-1', b1]]);
  const onlyB: ProxyDescriptor = { ...scopedToA, nodeId: 'to-b', upstreams: ['default/b'] };
  const cache = new SnapshotCache();
  const push = new PushController({ cache, debounceMs: 10_000 });
  push.update({ config: config(route(1)), workloads, trustBundlePem: 'PEM' });
  push.connect('to-a', scopedToA);
  push.connect('to-b', onlyB);
  push.flushNow();
  const bBefore = cache.getSnapshot('to-b')!;
  const aBefore = cache.getSnapshot('to-a')!;
  push.update({ config: config(route(5)) });
  push.flushNow();
  assert.equal(cache.getSnapshot('to-b'), bBefore, 'a proxy that cannot reach a keeps its snapshot');
  const aAfter = cache.getSnapshot('to-a')!;
  assert.notEqual(aAfter.resources[ROUTE_TYPE_URL]!.version, aBefore.resources[ROUTE_TYPE_URL]!.version);
  assert.equal(aAfter.resources[CLUSTER_TYPE_URL], aBefore.resources[CLUSTER_TYPE_URL], 'clusters unchanged, same object');
  assert.deepEqual(push.stats.lastChanged, { CDS: 0, EDS: 0, LDS: 0, RDS: 1 });
  // the same inputs compiled from scratch give the same versions
  const fresh = new SnapshotCache();
  const p2 = new PushController({ cache: fresh, debounceMs: 10_000 });
  p2.update({ config: config(route(5)), workloads, trustBundlePem: 'PEM' });
  p2.connect('to-a', scopedToA);
  p2.connect('to-b', onlyB);
  for (const key of ['to-a', 'to-b']) assert.deepEqual(versions(fresh, key), versions(cache, key), key);
  push.close();
  p2.close();
});

test('push: during the start-up warm-up connecting proxies get nothing; ending it (or its timeout) gives every proxy its snapshot', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const cache = new SnapshotCache();
  const push = new PushController({ cache, debounceMs: 10, warmupMs: 1000 });
  push.update({ config: config(), workloads: new Map([['proxy:a-1', workload('proxy:a-1', 'a', '10.0.0.1')]]), trustBundlePem: 'PEM' });
  push.connect('p1', scopedToA);
  t.mock.timers.tick(500);
  assert.equal(push.warmingUp, true);
  assert.equal(cache.getSnapshot('p1'), undefined, 'held back during the warm-up');
  assert.equal(push.stats.flushes, 0, 'debounced changes do not flush during the warm-up');
  push.connect('p2', { ...scopedToA, nodeId: 'p2' });
  t.mock.timers.tick(500);
  assert.equal(push.warmingUp, false, 'the warm-up times out');
  assert.ok(cache.getSnapshot('p1') && cache.getSnapshot('p2'), 'every connected proxy got its snapshot');
  // ended early by hand
  const cache2 = new SnapshotCache();
  const early = new PushController({ cache: cache2, warmupMs: 60_000 });
  early.update({ config: config(), trustBundlePem: 'PEM' });
  early.connect('p1', scopedToA);
  assert.equal(cache2.getSnapshot('p1'), undefined);
  early.endWarmup();
  assert.ok(cache2.getSnapshot('p1'));
  early.connect('p3', { ...scopedToA, nodeId: 'p3' });
  assert.ok(cache2.getSnapshot('p3'), 'after the warm-up a proxy gets its snapshot at once');
  push.close();
  early.close();
});
