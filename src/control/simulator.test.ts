import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProxy, buildMeshIndex } from './compiler/compile.ts';
import { loadFixture } from './compiler/fixtures.ts';
import { simulate, pickWeighted } from './simulator.ts';

const ROOT = new URL('../../test/fixtures/compiler/', import.meta.url).pathname;
const routing = loadFixture(ROOT + 'routing');
const index = buildMeshIndex(routing.snapshot);
const proxy = (id: string) => compileProxy(index, routing.proxies.find((p) => p.nodeId === id)!);
const web = proxy('web-1');

function hit(r: ReturnType<typeof simulate>) {
  assert.ok(r.matched, r.matched ? '' : r.reason);
  return r;
}

test('simulator: header match wins only when the path rules do not; canary goes to v2', () => {
  const r = hit(simulate(web, { authority: 'reviews', path: '/', headers: { 'X-Canary': 'true' } }));
  assert.equal(r.route, 'HTTPRoute/shop/reviews/rule0(canary-header)/match0');
  assert.deepEqual(r.clusters.map((c) => c.name), ['outbound|80||reviews-v2.shop']);
  const none = simulate(web, { authority: 'reviews.shop:80', path: '/' });
  assert.equal(none.matched, false);
  assert.match((none as { reason: string }).reason, /no route matching GET \/ \(404\)/);
});

test('simulator: weighted split with its policies in force', () => {
  const r = hit(simulate(web, { authority: 'reviews.shop.svc.cluster.local', path: '/api/items?x=1', method: 'POST' }));
  assert.deepEqual(r.clusters.map((c) => [c.name, c.weight]), [['outbound|80||reviews-v1.shop', 90], ['outbound|80||reviews-v2.shop', 10]]);
  assert.equal(r.timeoutMs, 2000);
  assert.equal(r.maxStreamDurationMs, 2000, 'gRPC clients read max_stream_duration');
  assert.deepEqual(r.retry, { retryOn: 'connect-failure,refused-stream,reset,retriable-status-codes,unavailable', numRetries: 2, perTryTimeoutMs: 500, statusCodes: [503] });
  assert.deepEqual(r.mirrors, [{ cluster: 'outbound|80||shadow.shop', percent: 10 }]);
  assert.deepEqual(r.requestHeadersToRemove, ['x-internal']);
  assert.deepEqual(r.requestHeadersToAdd, [{ key: 'x-route', value: 'split', append: false }, { key: 'x-trace', value: '1', append: true }]);
  const v1 = r.clusters[0]!;
  assert.equal(v1.lbPolicy, 'RING_HASH');
  assert.equal(v1.connectTimeoutMs, 250);
  assert.equal((v1.circuitBreakers!.max_requests as { value: number }).value, 200);
  assert.equal((v1.outlierDetection!.consecutive_5xx as { value: number }).value, 3);
  assert.deepEqual(v1.tlsPeers, ['spiffe://cluster.local/ns/shop/sa/reviews']);
  assert.equal(v1.endpoints, 1);
  assert.deepEqual(r.hashOn, [], 'hash policy belongs to routes whose parent uses RingHash (reviews does not)');
  // the split itself, deterministically
  const counts: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) {
    const c = pickWeighted(r.clusters, i / 1000)!;
    counts[c] = (counts[c] ?? 0) + 1;
  }
  assert.deepEqual(counts, { 'outbound|80||reviews-v1.shop': 900, 'outbound|80||reviews-v2.shop': 100 });
});

test('simulator: path-separated prefixes, exact + method, redirects and rewrites', () => {
  assert.equal(simulate(web, { authority: 'reviews', path: '/apiary' }).matched, false, '/api must not match /apiary');
  const exact = hit(simulate(web, { authority: 'reviews', path: '/health', method: 'GET' }));
  assert.equal(exact.route, 'HTTPRoute/shop/reviews/rule2(exact)/match0');
  assert.equal(simulate(web, { authority: 'reviews', path: '/health', method: 'DELETE' }).matched, false);
  const redirect = hit(simulate(web, { authority: 'reviews', path: '/old/thing' }));
  assert.equal(redirect.action, 'redirect');
  assert.deepEqual(redirect.redirect, { prefix_rewrite: '/new', response_code: 'MOVED_PERMANENTLY' });
  const rewrite = hit(simulate(web, { authority: 'reviews', path: '/v2/items?debug=1' }));
  assert.deepEqual(rewrite.rewrite, { host: 'items.internal', regex: '^/.*$', substitution: '/items' });
  assert.equal(simulate(web, { authority: 'reviews', path: '/v2/items?debug=0' }).matched, false, 'query param must match');
});

test('simulator: scoping — a service outside the proxy scope is not reachable', () => {
  const r = simulate(web, { authority: 'other.shop', path: '/' });
  assert.equal(r.matched, false);
  assert.match((r as { reason: string }).reason, /no virtual host/);
  assert.ok(!web.clusters.has('outbound|80||other.shop'));
  // reviews-v1/v2 and shadow are in scope because the reviews route sends to them
  assert.deepEqual(web.scope, ['shop/greeter', 'shop/reviews', 'shop/reviews-v1', 'shop/reviews-v2', 'shop/shadow']);
});

test('simulator: proxyless gRPC client resolves xds:/// listener names; GRPCRoute method match', () => {
  const g = proxy('grpc-client');
  const r = hit(simulate(g, { authority: 'greeter.shop:50051', path: '/helloworld.Greeter/SayHello' }));
  assert.equal(r.listener, 'greeter.shop:50051');
  assert.equal(r.routeConfig, 'outbound|50051|greeter.shop');
  assert.equal(r.clusters[0]!.lbPolicy, 'ROUND_ROBIN', 'gRPC clients get an LB policy they implement');
  assert.equal(r.clusters[0]!.tlsPeers, undefined, 'no transport socket for proxyless clients');
  const other = simulate(g, { authority: 'greeter', path: '/helloworld.Greeter/SayGoodbye' });
  assert.equal(other.matched, false);
  // prefix match for proxyless (gRPC has no path_separated_prefix)
  const api = hit(simulate(g, { authority: 'reviews.shop', path: '/api/x' }));
  assert.equal(api.clusters.length, 2);
});

test('simulator: Envoy gets one outbound route configuration; the weft sidecar one per service port — same answers', () => {
  const envoy = proxy('envoy-1');
  assert.deepEqual([...envoy.routes.keys()], ['outbound']);
  assert.deepEqual([...envoy.listeners.keys()].sort(), ['inbound', 'outbound']);
  assert.ok(web.routes.has('outbound|80|reviews.shop') && !web.routes.has('outbound'));
  for (const req of [
    { authority: 'reviews', path: '/api/x' },
    { authority: 'reviews.shop', path: '/', headers: { 'x-canary': 'true' } },
    { authority: 'greeter.shop:50051', path: '/helloworld.Greeter/SayHello' },
  ]) {
    const a = hit(simulate(envoy, req));
    const b = hit(simulate(web, req));
    assert.deepEqual([a.route, a.clusters], [b.route, b.clusters]);
  }
});

test('simulator: RingHash clusters hash on the configured header; inbound peers narrowed by AuthorizationPolicy', () => {
  const p = proxy('reviews-v1-a');
  assert.deepEqual(p.tls.allowedPeers, ['spiffe://cluster.local/ns/ops/*', 'spiffe://cluster.local/ns/shop/sa/web']);
  const r = hit(simulate(p, { authority: 'reviews-v1', path: '/' }));
  assert.deepEqual(r.hashOn, ['header:x-session']);
  assert.equal(r.timeoutMs, undefined);
});
