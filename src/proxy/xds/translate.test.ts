import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packAny, unpackAny } from '../../xds/resources.ts';
import type { XdsResourceSet } from '../../xds/client.ts';
import { compileSnapshot } from '../runtime/snapshot.ts';
import type { ProxyConfigSpec } from '../runtime/spec.ts';
import { translateXds, XdsTranslateError } from './translate.ts';
import { NODE_META, nodeMetadataFor } from './node-metadata.ts';
// Test-only: the control plane's compiler produces the input (the proxy itself never imports it).
import { compileProxy, buildMeshIndex } from '../../control/compiler/compile.ts';
import { loadFixture } from '../../control/compiler/fixtures.ts';
import { META } from '../../control/node-metadata.ts';

const ROOT = new URL('../../../test/fixtures/compiler/', import.meta.url).pathname;

function resourceSet(nodeId: string): XdsResourceSet {
  const f = loadFixture(ROOT + 'routing');
  const c = compileProxy(buildMeshIndex(f.snapshot), f.proxies.find((p) => p.nodeId === nodeId)!);
  const decode = <T>(name: string, m: ReadonlyMap<string, object>) => new Map([...m].map(([k, v]) => [k, unpackAny<T>(packAny(name, v))]));
  return {
    listeners: decode('envoy.config.listener.v3.Listener', c.listeners) as any,
    routes: decode('envoy.config.route.v3.RouteConfiguration', c.routes) as any,
    clusters: decode('envoy.config.cluster.v3.Cluster', c.clusters) as any,
    endpoints: decode('envoy.config.endpoint.v3.ClusterLoadAssignment', c.endpoints) as any,
    versions: { LDS: '1', RDS: '2', CDS: '3', EDS: '4' },
  };
}

const base: ProxyConfigSpec = {
  workload: { name: 'web', namespace: 'shop', inbound: { mtlsMode: 'DISABLED', ports: [] } },
  listeners: { outbound: { port: 0 }, inbound: null, admin: null },
};

test('node metadata keys are the ones the control plane reads', () => {
  assert.deepEqual(NODE_META, META);
  const m = nodeMetadataFor({ service: 'web', namespace: 'shop', serviceAccount: 'web', ports: [{ port: 8080 }], inboundPort: 15006, upstreams: ['reviews'] });
  assert.equal(m.WEFT_KIND, 'sidecar');
  assert.deepEqual(m.WEFT_PORTS, [{ name: '', port: 8080 }]);
});

test('translate: services, routes and meshed clusters from xDS compile into a valid proxy snapshot', () => {
  const { spec, warnings } = translateXds(resourceSet('web-1'), base);
  const r = compileSnapshot(spec);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.equal(spec.version, '3.4.1.2');
  const reviews = spec.services!.find((s) => s.name === 'reviews')!;
  assert.equal(reviews.namespace, 'shop');
  const routes = reviews.ports[0]!.routes!;
  assert.deepEqual(routes.map((x) => x.name), [
    'HTTPRoute/shop/reviews/rule2(exact)/match0',
    'HTTPRoute/shop/reviews/rule1(split)/match0',
    'HTTPRoute/shop/reviews/rule3(old)/match0',
    'HTTPRoute/shop/reviews/rule0(canary-header)/match0',
  ]);
  // RequestRedirect (ReplacePrefixMatch /new, 301) becomes a redirect route without backends
  assert.deepEqual(routes[2], { name: 'HTTPRoute/shop/reviews/rule3(old)/match0', match: { pathPrefix: '/old' }, backends: [], redirect: { statusCode: 301, prefix: '/new' } });
  const split = routes[1]!;
  assert.deepEqual(split.match, { pathPrefix: '/api' });
  assert.deepEqual(split.backends, [{ cluster: 'outbound|80||reviews-v1.shop', weight: 90 }, { cluster: 'outbound|80||reviews-v2.shop', weight: 10 }]);
  assert.equal(split.timeoutMs, 2000);
  assert.deepEqual(split.requestHeaders, { set: { 'x-route': 'split' }, add: { 'x-trace': '1' }, remove: ['x-internal'] });
  assert.deepEqual(routes[0]!.match, { pathExact: '/health', method: 'GET' });
  assert.deepEqual(routes[3]!.match, { headers: [{ name: 'x-canary', exact: 'true' }] });
  // what the proxy cannot do is left out, and said so
  assert.ok(!warnings.some((w) => /redirect/.test(w)), 'redirects translate');
  assert.ok(warnings.some((w) => /rule4\(rewrite\).*URL rewrites are not supported by the weft proxy yet; route left out/.test(w)), warnings.join('\n'));
  assert.ok(!warnings.some((w) => /query/.test(w)), 'query matches translate');
  assert.ok(warnings.some((w) => /mirroring/.test(w)));
  const v1 = spec.clusters!.find((c) => c.name === 'outbound|80||reviews-v1.shop')!;
  assert.deepEqual(v1.endpoints, [{ address: '10.0.1.1', port: 8080, proxyPort: 15006, spiffeId: 'spiffe://cluster.local/ns/shop/sa/reviews', labels: {} }]);
  assert.equal(v1.peerProtocol, 'h2');
  assert.equal(v1.lb, 'ring-hash');
  assert.equal(v1.connectTimeoutMs, 250);
  assert.deepEqual(v1.pool, { maxConnections: 100, maxPending: 50 });
  const greeter = spec.clusters!.find((c) => c.name === 'outbound|50051||greeter.shop')!;
  assert.equal(greeter.peerProtocol, 'plain', 'a workload without a proxy is reached directly');
  assert.equal(greeter.protocol, 'grpc');
});

test('translate: the inbound listener gives the mTLS mode and the allowed peers', () => {
  const set = resourceSet('reviews-v1-a');
  const { spec } = translateXds(set, { ...base, workload: { name: 'reviews-v1', namespace: 'shop', inbound: { mtlsMode: 'STRICT', ports: [{ port: 8080 }] } } });
  assert.equal(spec.workload.inbound!.mtlsMode, 'STRICT');
  assert.deepEqual(spec.workload.inbound!.allowedPeers, ['spiffe://cluster.local/ns/ops/*', 'spiffe://cluster.local/ns/shop/sa/web']);
});

test('translate: a route naming a cluster that was not received is refused (the set is NACKed)', () => {
  const set = resourceSet('web-1');
  const clusters = new Map(set.clusters);
  clusters.delete('outbound|80||reviews-v2.shop');
  assert.throws(() => translateXds({ ...set, clusters }, base), (e: unknown) => e instanceof XdsTranslateError && /reviews-v2/.test((e as Error).message));
});

test('translate: query parameter matches (exact, regex, present) become route matches the proxy applies', () => {
  const set = resourceSet('web-1');
  const rc = structuredClone([...set.routes.values()].find((r: any) => r.virtual_hosts?.some((v: any) => v.domains?.includes('reviews'))) as any);
  const vh = rc.virtual_hosts.find((v: any) => v.domains.includes('reviews'));
  const exact = vh.routes.find((r: any) => r.name.includes('rule2(exact)'));
  exact.match.query_parameters = [
    { name: 'version', string_match: { exact: 'v2' } },
    { name: 'id', string_match: { safe_regex: { regex: '[0-9]+' } } },
    { name: 'debug', present_match: true },
  ];
  const routes = new Map(set.routes);
  routes.set(rc.name, rc);
  const { spec, warnings } = translateXds({ ...set, routes }, base);
  assert.ok(!warnings.some((w) => /query/.test(w)), warnings.join('\n'));
  const route = spec.services!.find((s) => s.name === 'reviews')!.ports[0]!.routes!.find((r) => r.name!.includes('rule2(exact)'))!;
  assert.deepEqual(route.match!.query, [{ name: 'version', exact: 'v2' }, { name: 'id', regex: '^(?:[0-9]+)$' }, { name: 'debug', present: true }]);
  const compiled = compileSnapshot(spec);
  assert.ok(compiled.ok, compiled.ok ? '' : compiled.error.message);
  const port = [...compiled.value.services.values()].find((s) => s.name === 'reviews')!.ports.values().next().value!;
  const hit = (path: string) => port.routes.find((r) => r.name === route.name)!.matches({ method: 'GET', path, header: () => undefined });
  assert.equal(hit('/health?version=v2&id=42&debug'), true);
  assert.equal(hit('/health?version=v2&id=4x2&debug'), false, 'regex anchored');
  assert.equal(hit('/health?version=v1&id=42&debug'), false);
  assert.equal(hit('/health?version=v2&id=42'), false, 'debug must be present');
  assert.equal(hit('/health?id=42&debug=&version=v%32'), true, 'order and percent-encoding do not matter');
  assert.equal(hit('/health'), false);
});
