// The HTTP/1 engine's zero-copy forwarding and the outbound listener's per-connection lookups:
// a request head that needs no change goes upstream byte for byte as the client sent it (with the body
// bytes that came with it), a response head whose hop-by-hop lines are dropped in place reaches the client
// exactly as if it had been re-serialised, and a keep-alive connection follows snapshot changes and Host
// (outbound) or weft-dst-port (inbound) changes although the proxy remembers the previous request's service
// port, plan and pool.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startForwardProxy, rawExchange } from '../../src/proxy/protocols/http1/test-helpers.ts';
import { startHttpServer, collect } from '../support/servers.ts';
import { snapshotOf, identitySpec } from '../support/proxies.ts';
import { makeTestPki } from '../support/pki.ts';
import { WeftProxy } from '../../src/proxy/proxy.ts';
import { Watch } from '../../src/core/watch.ts';
import type { ClusterSpec, ProxyConfigSpec } from '../../src/proxy/runtime/spec.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/**
 * A raw upstream: records every byte it receives and answers each request (recognised by its empty
 * line; bodies here are announced with Content-Length and sent with the head) with the next scripted
 * response, written as the listed pieces (a gap between pieces splits the head across reads).
 */
async function rawUpstream(responses: Array<string | string[]>): Promise<{ port: number; received: () => string }> {
  let received = '';
  let next = 0;
  const server = net.createServer((socket) => {
    let pending = '';
    socket.on('data', async (d) => {
      received += d.toString('latin1');
      pending += d.toString('latin1');
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        const cl = /\r\ncontent-length: *(\d+)/i.exec(pending.slice(0, end));
        const total = end + 4 + (cl ? Number(cl[1]) : 0);
        if (pending.length < total) return;
        pending = pending.slice(total);
        const r = responses[next++ % responses.length]!;
        for (const piece of Array.isArray(r) ? r : [r]) {
          socket.write(Buffer.from(piece, 'latin1'));
          if (Array.isArray(r)) await new Promise((x) => setTimeout(x, 20));
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, received: () => received };
}

test('a request head that needs no change goes upstream byte for byte, with the body bytes sent with it', async () => {
  const up = await rawUpstream(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok']);
  const proxy = await startForwardProxy(up.port, { forward: { requestHeaders: { remove: ['weft-dst-port'] } } });
  cleanups.push(() => proxy.close());
  const get = 'GET /a?x=1 HTTP/1.1\r\nHost: Svc.Example\r\nX-MiXed-Case:  spaced value \r\nAccept: */*\r\n\r\n';
  const post = 'POST /p HTTP/1.1\r\nhost: svc\r\ncontent-length: 5\r\nx-b: 1\r\n\r\nhello';
  const r = await rawExchange(proxy.port, get + post, { timeoutMs: 500 });
  assert.equal(r.data, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  assert.equal(up.received(), get + post);
  // A head with a hop-by-hop field is re-serialised (the field dropped), its body still intact.
  const before = up.received().length;
  const hop = 'POST /q HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive, x-hop\r\nx-hop: 1\r\nContent-Length: 3\r\n\r\nabc';
  await rawExchange(proxy.port, hop, { timeoutMs: 300 });
  assert.equal(up.received().slice(before), 'POST /q HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\n\r\nabc');
});

test('response heads: hop-by-hop lines dropped in place give the same bytes as a re-serialised head, also split, 1.0 and keep-alive', async () => {
  const body = 'x'.repeat(700);
  const up = await rawUpstream([
    // Dropped lines at the start, in the middle and at the end of the fields; body in the same read.
    `HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nServer: s\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\nContent-Length: ${body.length}\r\nProxy-Connection: x\r\n\r\n${body}`,
    // Nothing to drop.
    'HTTP/1.1 201 Created\r\nX-B: 2\r\nContent-Length: 3\r\n\r\nabc',
    // The head split across two reads (the parser's own buffer holds it): re-serialised as before.
    ['HTTP/1.1 202 Accepted\r\nConnection: keep-alive\r\nX-C: ', '3\r\nContent-Length: 2\r\n\r\nhi'],
    // An HTTP/1.0 upstream: answered as HTTP/1.1.
    'HTTP/1.0 203 Non-Authoritative Information\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nz',
    // No body: the head alone.
    'HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=5\r\nX-D: 4\r\n\r\n',
  ]);
  const proxy = await startForwardProxy(up.port);
  cleanups.push(() => proxy.close());
  const req = 'GET / HTTP/1.1\r\nHost: svc\r\n\r\n';
  const r = await rawExchange(proxy.port, [req, req, req, req, req], { timeoutMs: 800, gapMs: 60 });
  assert.equal(
    r.data,
    `HTTP/1.1 200 OK\r\nServer: s\r\nX-A: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      'HTTP/1.1 201 Created\r\nX-B: 2\r\nContent-Length: 3\r\n\r\nabc' +
      'HTTP/1.1 202 Accepted\r\nX-C: 3\r\nContent-Length: 2\r\n\r\nhi' +
      'HTTP/1.1 203 Non-Authoritative Information\r\nContent-Length: 1\r\n\r\nz' +
      'HTTP/1.1 204 No Content\r\nX-D: 4\r\n\r\n',
  );
  // Response edits that add fields take the copying path and still drop the hop-by-hop lines.
  const edited = await startForwardProxy(up.port, { forward: { responseHeaders: { add: [['x-via', 'weft']] } } });
  cleanups.push(() => edited.close());
  const e = await rawExchange(edited.port, req, { timeoutMs: 300 });
  assert.equal(e.data, `HTTP/1.1 200 OK\r\nServer: s\r\nX-A: 1\r\nContent-Length: ${body.length}\r\nx-via: weft\r\n\r\n${body}`);
});

/** Services by name, each routed to the cluster `cluster` (default: its own name) with one endpoint; extra clusters too. */
function plainSpec(services: Array<{ name: string; port: number; cluster?: string }>, extra: Array<{ name: string; port: number }> = []): ProxyConfigSpec {
  const clusters: ClusterSpec[] = [...services.filter((s) => s.cluster === undefined), ...extra].map((s) => ({ name: s.name, endpoints: [{ address: '127.0.0.1', port: s.port }] }));
  return {
    workload: { name: 'web', namespace: 'shop' },
    listeners: { outbound: { port: 0 }, inbound: null, admin: null },
    services: services.map((s) => ({ name: s.name, namespace: 'shop', ports: [{ port: 80, protocol: 'http1' as const, cluster: s.cluster ?? s.name }] })),
    clusters,
  };
}

test('outbound: one keep-alive client connection follows Host changes and snapshot updates', async () => {
  const a = await startHttpServer((_q, r) => r.end('A'));
  const b = await startHttpServer((_q, r) => r.end('B'));
  const c = await startHttpServer((_q, r) => r.end('C'));
  cleanups.push(() => a.close(), () => b.close(), () => c.close());
  const watch = new Watch(snapshotOf(plainSpec([{ name: 'one', port: a.port }, { name: 'two', port: b.port }])));
  const proxy = await WeftProxy.start({ snapshot: watch });
  cleanups.push(() => proxy.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  const sockets = new Set<unknown>();
  const get = (host: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxy.addresses.outbound!.port, path: '/', headers: { host }, agent }, (res) => {
          sockets.add(res.socket);
          void collect(res).then((body) => resolve({ status: res.statusCode!, body: body.toString() }));
        })
        .on('error', reject);
    });
  assert.deepEqual(await get('one'), { status: 200, body: 'A' });
  assert.deepEqual(await get('one'), { status: 200, body: 'A' });
  assert.deepEqual(await get('two'), { status: 200, body: 'B' });
  assert.deepEqual(await get('one'), { status: 200, body: 'A' });
  // Same connection, new snapshot: service one now points at C, service two is gone.
  watch.set(snapshotOf(plainSpec([{ name: 'one', port: c.port }])));
  assert.deepEqual(await get('one'), { status: 200, body: 'C' });
  assert.equal((await get('two')).status, 404);
  assert.deepEqual(await get('one'), { status: 200, body: 'C' });
  // The service keeps its name but its port now routes to another cluster (the old one still exists).
  watch.set(snapshotOf(plainSpec([{ name: 'one', port: 0, cluster: 'two' }], [{ name: 'one', port: c.port }, { name: 'two', port: b.port }])));
  assert.deepEqual(await get('one'), { status: 200, body: 'B' });
  assert.equal(sockets.size, 1, 'every request went over one client connection');
});

test('outbound: on one keep-alive connection, a weighted split still spreads and path routes still choose', async () => {
  const a = await startHttpServer((_q, r) => r.end('A'));
  const b = await startHttpServer((_q, r) => r.end('B'));
  cleanups.push(() => a.close(), () => b.close());
  const spec: ProxyConfigSpec = {
    workload: { name: 'web', namespace: 'shop' },
    listeners: { outbound: { port: 0 }, inbound: null, admin: null },
    services: [
      {
        name: 'svc',
        namespace: 'shop',
        ports: [
          {
            port: 80,
            protocol: 'http1',
            routes: [
              { match: { pathPrefix: '/only-b' }, backends: [{ cluster: 'b' }] },
              { backends: [{ cluster: 'a', weight: 1 }, { cluster: 'b', weight: 1 }] },
            ],
          },
        ],
      },
    ],
    clusters: [
      { name: 'a', endpoints: [{ address: '127.0.0.1', port: a.port }] },
      { name: 'b', endpoints: [{ address: '127.0.0.1', port: b.port }] },
    ],
  };
  const proxy = await WeftProxy.start({ snapshot: snapshotOf(spec) });
  cleanups.push(() => proxy.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  const get = (path: string): Promise<string> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxy.addresses.outbound!.port, path, headers: { host: 'svc' }, agent }, (res) => void collect(res).then((body) => resolve(body.toString())))
        .on('error', reject);
    });
  const seen = new Map<string, number>();
  for (let i = 0; i < 60; i++) {
    const body = await get('/x');
    seen.set(body, (seen.get(body) ?? 0) + 1);
  }
  for (let i = 0; i < 3; i++) assert.equal(await get('/only-b/y'), 'B');
  assert.ok((seen.get('A') ?? 0) >= 10 && (seen.get('B') ?? 0) >= 10, `both weighted backends get traffic: ${JSON.stringify([...seen])}`);
});

test('inbound: one keep-alive connection follows weft-dst-port changes and snapshot updates', async () => {
  const a = await startHttpServer((_q, r) => r.end('A'));
  const b = await startHttpServer((_q, r) => r.end('B'));
  const c = await startHttpServer((_q, r) => r.end('C'));
  cleanups.push(() => a.close(), () => b.close(), () => c.close());
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const identity = identitySpec(await pki.issue('shop/catalog'));
  const spec = (ports: number[]): ProxyConfigSpec => ({
    workload: { name: 'catalog', namespace: 'shop', trustDomain: 'test.local', identity, inbound: { mtlsMode: 'PERMISSIVE', ports: ports.map((port) => ({ port, protocol: 'http1' as const })) } },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
  });
  const watch = new Watch(snapshotOf(spec([a.port, b.port])));
  const proxy = await WeftProxy.start({ snapshot: watch });
  cleanups.push(() => proxy.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  const sockets = new Set<unknown>();
  const get = (dstPort?: number): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { host: 'catalog' };
      if (dstPort !== undefined) headers['weft-dst-port'] = String(dstPort);
      http
        .get({ host: '127.0.0.1', port: proxy.addresses.inbound!.port, path: '/', headers, agent }, (res) => {
          sockets.add(res.socket);
          void collect(res).then((body) => resolve({ status: res.statusCode!, body: body.toString() }));
        })
        .on('error', reject);
    });
  assert.deepEqual(await get(a.port), { status: 200, body: 'A' });
  assert.deepEqual(await get(b.port), { status: 200, body: 'B' });
  assert.deepEqual(await get(b.port), { status: 200, body: 'B' });
  assert.deepEqual(await get(), { status: 200, body: 'A' });
  watch.set(snapshotOf(spec([c.port])));
  assert.equal((await get(b.port)).status, 403);
  assert.deepEqual(await get(c.port), { status: 200, body: 'C' });
  assert.deepEqual(await get(), { status: 200, body: 'C' });
  // C's pool is closed by a snapshot without C, and a new one made by the next snapshot with C again.
  watch.set(snapshotOf(spec([a.port])));
  watch.set(snapshotOf(spec([c.port])));
  assert.deepEqual(await get(c.port), { status: 200, body: 'C' });
  assert.equal(sockets.size, 1, 'every request went over one connection');
});

test('inbound: weft-dst-port is dropped in place; the app gets the rest of the head and the body byte for byte', async () => {
  const up = await rawUpstream(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok']);
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const identity = identitySpec(await pki.issue('shop/catalog'));
  const proxy = await WeftProxy.start({
    snapshot: snapshotOf({
      workload: { name: 'catalog', namespace: 'shop', trustDomain: 'test.local', identity, inbound: { mtlsMode: 'PERMISSIVE', ports: [{ port: up.port, protocol: 'http1' }] } },
      listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
    }),
  });
  cleanups.push(() => proxy.close());
  const first = `POST /x HTTP/1.1\r\nHost: catalog\r\nweft-dst-port: ${up.port}\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc`;
  const second = `GET /y HTTP/1.1\r\nWEFT-DST-PORT: ${up.port}\r\nHost: catalog\r\n\r\n`;
  const third = 'GET /z HTTP/1.1\r\nHost: catalog\r\nConnection: keep-alive\r\nweft-dst-port:' + ` ${up.port}\r\n\r\n`;
  const r = await rawExchange(proxy.addresses.inbound!.port, [first, second, third], { timeoutMs: 600, gapMs: 60 });
  assert.equal(r.data, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'.repeat(3));
  assert.equal(
    up.received(),
    'POST /x HTTP/1.1\r\nHost: catalog\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc' + 'GET /y HTTP/1.1\r\nHost: catalog\r\n\r\n' + 'GET /z HTTP/1.1\r\nHost: catalog\r\n\r\n',
  );
});
