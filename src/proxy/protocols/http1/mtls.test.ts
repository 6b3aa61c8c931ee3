// The engine between two proxies over mTLS (SPIFFE identities from the test PKI): the pool's socket
// factory makes TLS 1.3 connections, the server side adopts verified TLS sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { makeTestPki, type TestIdentity } from '../../../../test/support/pki.ts';
import { clientTlsOptions, serverTlsOptions, verifyPeerSpiffeId } from '../../../identity/tls.ts';
import { Http1Server } from './server.ts';
import { Http1Pool } from './pool.ts';
import { compileForward, forward } from './forward.ts';

let app: http.Server;
let inboundTls: tls.Server;
let inbound: Http1Server;
let inboundPort = 0;
let web: TestIdentity;
let catalog: TestIdentity;
const seen: Array<{ url: string; body: string }> = [];
const closers: Array<() => void> = [];

before(async () => {
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  web = await pki.issue('shop/web');
  catalog = await pki.issue('shop/catalog');
  app = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ url: req.url!, body });
      res.end(`catalog got ${body.length} bytes`);
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  // Inbound side: terminate mTLS, check the client's SPIFFE ID, forward to the app on loopback.
  const appPool = new Http1Pool({ connect: () => net.connect(appPort, '127.0.0.1'), name: 'app' });
  const plan = compileForward();
  inbound = new Http1Server({ onRequest: (conn) => forward(conn, appPool, plan) });
  inboundTls = tls.createServer(serverTlsOptions(catalog), (socket) => {
    const peer = verifyPeerSpiffeId(socket, { ids: [web.spiffeId] });
    if (!peer.ok) {
      socket.destroy();
      return;
    }
    inbound.adopt(socket, undefined, { peer: peer.value.uri });
  });
  await new Promise<void>((r) => inboundTls.listen(0, '127.0.0.1', r));
  inboundPort = (inboundTls.address() as net.AddressInfo).port;
  closers.push(() => {
    inbound.close();
    inboundTls.close();
    appPool.close();
    app.closeAllConnections();
    app.close();
  });
});

after(() => {
  for (const c of closers) c();
});

function outboundProxy(expectedPeer: string, identity: TestIdentity): Promise<{ port: number; pool: Http1Pool }> {
  const pool = new Http1Pool({
    connect: () => tls.connect({ port: inboundPort, host: '127.0.0.1', ...clientTlsOptions(identity, { expectedPeer }) }),
    name: `catalog (${inboundPort})`,
  });
  const plan = compileForward({ requestHeaders: { set: [['l5d-dst-canonical', 'catalog.shop.svc.cluster.local:80']] } });
  const server = new Http1Server({ onRequest: (conn) => forward(conn, pool, plan) });
  closers.push(() => {
    server.close();
    pool.close();
  });
  return server.listen(0).then((a) => ({ port: a.port, pool }));
}

function post(port: number, body: string): Promise<{ status: number; body: string; weftError: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/items', agent: false }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: data, weftError: String(res.headers['weft-error'] ?? '') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('requests cross the mTLS hop between two engine proxies, reusing one TLS connection', async () => {
  const out = await outboundProxy(catalog.spiffeId, web);
  const payload = 'x'.repeat(100_000);
  for (let i = 0; i < 3; i++) {
    const r = await post(out.port, payload);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'catalog got 100000 bytes');
  }
  assert.equal(seen.at(-1)!.body.length, 100_000);
  assert.equal(out.pool.connectionsOpened, 1, 'one handshake for the whole keep-alive sequence');
});

test('a server with the wrong SPIFFE ID is refused before any request byte is sent', async () => {
  const before = seen.length;
  const out = await outboundProxy('spiffe://test.local/ns/shop/sa/payments', web);
  const r = await post(out.port, 'secret');
  assert.equal(r.status, 502);
  assert.match(r.weftError, /^UPSTREAM_IDENTITY_REJECTED; .*expected spiffe:\/\/test\.local\/ns\/shop\/sa\/payments/);
  assert.equal(seen.length, before);
});
