// Failures explain themselves (status + `weft-error: CODE; reason`, HTTP and gRPC forms) and load
// balancing works against real servers: passive ejection of an endpoint that refuses connections,
// probe-back once it listens again, ring-hash affinity on a header, weighted round robin.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { startHttpServer, collect, closedPort } from '../support/servers.ts';
import { startProxy, startProxyPair, snapshotOf } from '../support/proxies.ts';
import { WeftProxy } from '../../src/proxy/proxy.ts';
import { Watch } from '../../src/core/watch.ts';
import { startGrpcEcho, EchoClient, type EchoClientInstance } from '../support/grpc-echo.ts';
import type { ClusterSpec, ProxyConfigSpec } from '../../src/proxy/runtime/spec.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function get(port: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false }, (res) => void collect(res).then((b) => resolve({ status: res.statusCode!, body: b.toString(), headers: res.headers }))).on('error', reject);
  });
}

function plainSpec(clusters: ClusterSpec[], extra: Partial<ProxyConfigSpec> = {}): ProxyConfigSpec {
  return {
    workload: { name: 'web', namespace: 'shop' },
    listeners: { outbound: { port: 0 }, inbound: null, admin: { port: 0 } },
    services: clusters.map((c) => ({ name: c.name, namespace: 'shop', ports: [{ port: 80, protocol: 'http1' as const, cluster: c.name }] })),
    clusters,
    ...extra,
  };
}

test('NO_ROUTE: unknown host → 404 with weft-error', async () => {
  const proxy = await startProxy(plainSpec([{ name: 'a', endpoints: [{ address: '127.0.0.1', port: 1 }] }]));
  cleanups.push(() => proxy.close());
  const r = await get(proxy.addresses.outbound!.port, 'nope.example');
  assert.equal(r.status, 404);
  assert.equal(r.headers['weft-error'], 'NO_ROUTE; no service matches host "nope.example"');
});

test('connection refused: passive ejection, then "no healthy endpoints … (1 of 1 ejected)", then probe-back', async () => {
  const port = await closedPort();
  const proxy = await startProxy(plainSpec([{ name: 'flaky', ejectBaseMs: 300, endpoints: [{ address: '127.0.0.1', port }] }]));
  cleanups.push(() => proxy.close());
  const out = proxy.addresses.outbound!.port;
  const first = await get(out, 'flaky');
  assert.equal(first.status, 502);
  assert.match(String(first.headers['weft-error']), /^CONNECT_REFUSED; /);
  const second = await get(out, 'flaky');
  assert.equal(second.status, 503);
  assert.equal(second.headers['weft-error'], 'NO_HEALTHY_ENDPOINT; no healthy endpoints for flaky (1 of 1 ejected)');
  // The endpoint comes back: after the backoff one probe goes through and restores it.
  const server = http.createServer((_q, r) => r.end('back'));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  await new Promise((r) => setTimeout(r, 400));
  const third = await get(out, 'flaky');
  assert.equal(third.status, 200);
  assert.equal(third.body, 'back');
  const dump = JSON.parse((await get(proxy.addresses.admin!.port, 'admin', '/config_dump')).body);
  assert.equal(dump.clusters[0].endpoints[0].ejected, false);
  assert.equal(dump.clusters[0].endpoints[0].ejections, 1);
  const metrics = (await get(proxy.addresses.admin!.port, 'admin', '/metrics')).body;
  assert.match(metrics, /weft_proxy_errors_total\{direction="outbound",code="NO_HEALTHY_ENDPOINT"\} 1/);
});

test('a refusing endpoint is skipped: requests go to the healthy one', async () => {
  const good = await startHttpServer((_q, r) => r.end('good'));
  cleanups.push(() => good.close());
  const bad = await closedPort();
  const proxy = await startProxy(plainSpec([{ name: 'mixed', lb: 'round-robin', endpoints: [{ address: '127.0.0.1', port: bad }, { address: '127.0.0.1', port: good.port }] }]));
  cleanups.push(() => proxy.close());
  const results: number[] = [];
  for (let i = 0; i < 10; i++) results.push((await get(proxy.addresses.outbound!.port, 'mixed')).status);
  // A refused connect is retried on the other endpoint (nothing was sent), and the bad one is ejected.
  assert.ok(results.every((s) => s === 200), results.join(','));
});

test('ring hash: the same x-session-id always reaches the same endpoint; round robin spreads by weight', async () => {
  const servers = await Promise.all([0, 1, 2].map((i) => startHttpServer((_q, r) => r.end(`s${i}`))));
  for (const s of servers) cleanups.push(() => s.close());
  const eps = servers.map((s, i) => ({ address: '127.0.0.1', port: s.port, weight: i === 0 ? 2 : 1 }));
  const proxy = await startProxy(plainSpec([
    { name: 'sticky', lb: 'ring-hash', hashHeader: 'x-session-id', endpoints: eps },
    { name: 'rr', lb: 'round-robin', endpoints: eps },
  ]));
  cleanups.push(() => proxy.close());
  const out = proxy.addresses.outbound!.port;
  const seen = new Map<string, Set<string>>();
  for (let round = 0; round < 3; round++) {
    for (let u = 0; u < 12; u++) {
      const r = await get(out, 'sticky', '/', { 'x-session-id': `user-${u}` });
      if (!seen.has(`user-${u}`)) seen.set(`user-${u}`, new Set());
      seen.get(`user-${u}`)!.add(r.body);
    }
  }
  for (const [, bodies] of seen) assert.equal(bodies.size, 1);
  assert.ok(new Set([...seen.values()].map((s) => [...s][0])).size >= 2, 'keys spread over endpoints');
  const counts = new Map<string, number>();
  for (let i = 0; i < 40; i++) {
    const b = (await get(out, 'rr')).body;
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  assert.equal(counts.get('s0'), 20);
  assert.equal(counts.get('s1'), 10);
  assert.equal(counts.get('s2'), 10);
});

test('REQUEST_TIMEOUT: 504 over HTTP/1, DEADLINE_EXCEEDED with weft-error over gRPC', async () => {
  const slow = await startHttpServer((_q, r) => setTimeout(() => r.end('late'), 2000));
  cleanups.push(() => slow.close());
  const proxy = await startProxy(plainSpec([{ name: 'slow', requestTimeoutMs: 200, endpoints: [{ address: '127.0.0.1', port: slow.port }] }]));
  cleanups.push(() => proxy.close());
  const r = await get(proxy.addresses.outbound!.port, 'slow');
  assert.equal(r.status, 504);
  assert.match(String(r.headers['weft-error']), /^REQUEST_TIMEOUT; /);

  const app = await startGrpcEcho();
  cleanups.push(() => app.close());
  const pair = await startProxyPair({ appPort: app.port, appProtocol: 'grpc', upstreamListener: true, servicePort: 9090, cluster: { requestTimeoutMs: 200 } });
  cleanups.push(() => pair.close());
  const client = new EchoClient(`127.0.0.1:${pair.upstreamPort}`, grpc.credentials.createInsecure()) as EchoClientInstance;
  cleanups.push(() => client.close());
  const res = await new Promise<{ err: grpc.ServiceError | null; md?: grpc.Metadata }>((resolve) => {
    let md: grpc.Metadata | undefined;
    const call = client.Slow!(Buffer.from('2000'), (err: grpc.ServiceError | null) => setImmediate(() => resolve({ err, md })));
    call.on('status', (s: grpc.StatusObject) => (md = s.metadata));
  });
  assert.equal(res.err?.code, grpc.status.DEADLINE_EXCEEDED);
  assert.match(String(res.md?.get('weft-error')[0]), /^REQUEST_TIMEOUT; /);

  // gRPC to a dead app: UNAVAILABLE with the reason from the server-side proxy.
  await app.close();
  const dead = await new Promise<grpc.ServiceError | null>((resolve) => client.Unary!(Buffer.from('x'), (e: grpc.ServiceError | null) => resolve(e)));
  assert.equal(dead?.code, grpc.status.UNAVAILABLE);
});

test('opaque TCP to a refusing app: the client connection is reset, not left hanging', async () => {
  const port = await closedPort();
  const pair = await startProxyPair({ appPort: port, appProtocol: 'tcp', serviceProtocol: 'tcp', upstreamListener: true, servicePort: 5432 });
  cleanups.push(() => pair.close());
  const closed = await new Promise<string>((resolve) => {
    const s = net.connect(pair.upstreamPort!, '127.0.0.1');
    s.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
    s.on('close', () => resolve('closed'));
  });
  assert.ok(['ECONNRESET', 'closed'].includes(closed));
});

test('a new snapshot applies live: routes and endpoints change, pools of removed endpoints close', async () => {
  const a = await startHttpServer((_q, r) => r.end('A'));
  const b = await startHttpServer((_q, r) => r.end('B'));
  cleanups.push(() => a.close(), () => b.close());
  const spec = (port: number) => plainSpec([{ name: 'svc', endpoints: [{ address: '127.0.0.1', port }] }]);
  const watch = new Watch(snapshotOf(spec(a.port)));
  const proxy = await WeftProxy.start({ snapshot: watch });
  cleanups.push(() => proxy.close());
  const out = proxy.addresses.outbound!.port;
  assert.equal((await get(out, 'svc')).body, 'A');
  assert.equal(proxy.ctx.h1Pools.size, 1);
  watch.set(snapshotOf(spec(b.port)));
  assert.equal((await get(out, 'svc')).body, 'B');
  assert.equal(proxy.ctx.h1Pools.size, 1, 'the pool of the removed endpoint was closed');
  watch.set(snapshotOf({ ...spec(b.port), services: [] }));
  assert.equal((await get(out, 'svc')).status, 404);
});

test('CONNECT_TIMEOUT: a peer that accepts TCP but never finishes TLS → 504 within the connect timeout, both peer protocols', async () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); silent.close(() => r()); }));
  const silentPort = (silent.address() as net.AddressInfo).port;
  const pki = await (await import('../support/pki.ts')).makeTestPki({ trustDomain: 'test.local' });
  const id = await pki.issue('shop/web');
  for (const peerProtocol of ['http1', 'h2'] as const) {
    const proxy = await startProxy({
      workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: { certChainPem: id.certChainPem, keyPem: id.keyPem, trustBundlePem: id.trustBundlePem } },
      listeners: { outbound: { port: 0 }, inbound: null, admin: null },
      services: [{ name: 'stuck', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'stuck' }] }],
      clusters: [{ name: 'stuck', peerProtocol, connectTimeoutMs: 300, endpoints: [{ address: '127.0.0.1', port: 8080, proxyPort: silentPort, spiffeId: 'spiffe://test.local/ns/shop/sa/stuck' }] }],
    });
    cleanups.push(() => proxy.close());
    const t0 = Date.now();
    const r = await get(proxy.addresses.outbound!.port, 'stuck');
    const ms = Date.now() - t0;
    assert.equal(r.status, 504, peerProtocol);
    assert.match(String(r.headers['weft-error']), /^CONNECT_TIMEOUT; /, peerProtocol);
    assert.ok(ms >= 250 && ms < 2000, `${peerProtocol}: answered after ${ms} ms`);
  }
});

test('drain: an open TCP tunnel keeps working until the drain deadline, then closes', async () => {
  const echo = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => echo.close(() => r())));
  const port = (echo.address() as net.AddressInfo).port;
  const pair = await startProxyPair({ appPort: port, appProtocol: 'tcp', serviceProtocol: 'tcp', upstreamListener: true, servicePort: 7000 });
  cleanups.push(() => pair.close());
  const s = net.connect(pair.upstreamPort!, '127.0.0.1');
  s.on('error', () => {});
  const roundTrip = (msg: string) => new Promise<string>((resolve) => {
    s.once('data', (d) => resolve(d.toString()));
    s.write(msg);
  });
  assert.equal(await roundTrip('before'), 'before');
  const t0 = Date.now();
  const drained = pair.client.drain(600);
  assert.equal(await roundTrip('during'), 'during', 'the tunnel still carries bytes while draining');
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  await drained;
  await closed;
  const ms = Date.now() - t0;
  assert.ok(ms >= 500 && ms < 3000, `drain ended after ${ms} ms`);
});
