// The inbound HTTP/2 bridge's response heads (inbound/h2.ts responseList): an HTTP/1.1 app's head
// becomes the stream's header list with hop-by-hop fields dropped (by the parser's field kinds, the
// names listed in Connection, http2-settings and proxy-authorization), names in lower case, values as
// sent. The bridge reuses the strings of the previous heads field by field when the bytes repeat, so
// this test sends heads whose fields change at the same positions (same length, other bytes; other
// names; other case; fewer and more fields) one after the other, and checks each arrives
// exactly as sent (the remembered strings are shared by every inbound session, whatever the app
// connection).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { collect } from '../support/servers.ts';
import { identitySpec, startProxy } from '../support/proxies.ts';
import { makeTestPki, type TestIdentity, type TestPki } from '../support/pki.ts';

let pki: TestPki;
let serverIdentity: TestIdentity;
let clientIdentity: TestIdentity;
const cleanups: Array<() => Promise<void> | void> = [];

before(async () => {
  pki = await makeTestPki({ trustDomain: 'test.local' });
  serverIdentity = await pki.issue('shop/catalog');
  clientIdentity = await pki.issue('shop/web');
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Raw response heads by request path (the app writes exactly these bytes). */
const HEADS: Record<string, string> = {
  '/1': 'HTTP/1.1 200 OK\r\nServer: app-1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nHTTP2-Settings: AAAA\r\nProxy-Authorization: Basic eA==\r\nContent-Type: text/plain\r\nX-Seq: 1\r\nContent-Length: 2\r\n\r\nok',
  // Same names and value lengths, other bytes.
  '/2': 'HTTP/1.1 200 OK\r\nServer: app-2\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secreT\r\nKeep-Alive: timeout=6\r\nHTTP2-Settings: AAAB\r\nProxy-Authorization: Basic eB==\r\nContent-Type: text/plaiN\r\nX-Seq: 2\r\nContent-Length: 2\r\n\r\nok',
  // Other names at the same positions, other case, a listed name that is now an ordinary field, chunked.
  '/3': 'HTTP/1.1 201 Created\r\nSERVER: app-1\r\nX-Hop: now-kept\r\nSet-Cookie: a=1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\ncontent-type: TEXT/PLAIN\r\nUpgrade: foo\r\nTE: trailers\r\nX-Seq: 3\r\n\r\n2\r\nok\r\n0\r\n\r\n',
  // Fewer fields.
  '/4': 'HTTP/1.1 404 Not Found\r\nX-Seq: 4\r\nContent-Length: 0\r\n\r\n',
  // More fields than before, repeated names.
  '/5': 'HTTP/1.1 200 OK\r\nServer: app-1\r\nX-A: 1\r\nX-A: 2\r\nX-B: \r\nProxy-Connection: keep-alive\r\nContent-Type: text/plain\r\nX-Seq: 5\r\nVary: a\r\nVary: b\r\nContent-Length: 2\r\n\r\nok',
};

/** What the h2 client must see for each path (besides :status). */
const EXPECTED: Record<string, { status: number; headers: Record<string, string | string[]> }> = {
  '/1': { status: 200, headers: { server: 'app-1', 'content-type': 'text/plain', 'x-seq': '1', 'content-length': '2' } },
  '/2': { status: 200, headers: { server: 'app-2', 'content-type': 'text/plaiN', 'x-seq': '2', 'content-length': '2' } },
  '/3': { status: 201, headers: { server: 'app-1', 'x-hop': 'now-kept', 'set-cookie': ['a=1'], 'content-type': 'TEXT/PLAIN', 'x-seq': '3' } },
  '/4': { status: 404, headers: { 'x-seq': '4', 'content-length': '0' } },
  '/5': { status: 200, headers: { server: 'app-1', 'x-a': '1, 2', 'x-b': '', 'content-type': 'text/plain', 'x-seq': '5', vary: 'a, b', 'content-length': '2' } },
};
const DROPPED = ['connection', 'keep-alive', 'http2-settings', 'proxy-authorization', 'transfer-encoding', 'upgrade', 'te', 'proxy-connection'];

/** An HTTP/1.1 app on raw sockets answering each GET with HEADS[path]; counts its connections. */
async function startRawApp(): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    let pending = '';
    socket.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const path = head.split(' ')[1]!;
        socket.write(HEADS[path] ?? 'HTTP/1.1 500 Unknown\r\nContent-Length: 0\r\n\r\n');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

function connectMesh(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () =>
      tls.connect({
        host: '127.0.0.1',
        port,
        key: clientIdentity.keyPem,
        cert: clientIdentity.certChainPem,
        ca: clientIdentity.trustBundlePem,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.3',
        checkServerIdentity: () => undefined,
      }),
  });
  session.on('error', () => {});
  cleanups.push(() => {
    if (!session.destroyed) session.destroy();
  });
  return session;
}

function get(session: http2.ClientHttp2Session, path: string, appPort: number): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'GET', ':path': path, ':authority': 'catalog.shop', 'weft-dst-port': String(appPort) });
    req.on('error', reject);
    req.on('response', (headers) => void collect(req).then((b) => resolve({ headers, body: b.toString() }), reject));
  });
}

test('inbound h2 → HTTP/1.1 app: response heads that change field by field arrive exactly, hop-by-hop fields dropped', async () => {
  const app = await startRawApp();
  const proxy = await startProxy({
    workload: {
      name: 'catalog',
      namespace: 'shop',
      trustDomain: 'test.local',
      identity: identitySpec(serverIdentity),
      inbound: { mtlsMode: 'STRICT', ports: [{ port: app.port, protocol: 'http1' }] },
    },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
  });
  cleanups.push(() => proxy.close());
  const session = connectMesh(proxy.addresses.inbound!.port);
  // Sequential, so every head is parsed right after the previous one on the same app connection.
  const order = ['/1', '/2', '/1', '/3', '/4', '/5', '/1', '/3', '/2'];
  for (const path of order) {
    const { headers, body } = await get(session, path, app.port);
    const want = EXPECTED[path]!;
    assert.equal(headers[':status'], want.status, `${path} status`);
    for (const [name, value] of Object.entries(want.headers)) assert.deepEqual(headers[name], value, `${path} ${name}`);
    for (const name of DROPPED) assert.equal(headers[name], undefined, `${path}: ${name} is hop-by-hop`);
    if (path !== '/3') assert.equal(headers['x-hop'], undefined, `${path}: x-hop is listed in Connection`);
    const names = Object.keys(headers).filter((n) => !n.startsWith(':') && n !== 'date');
    assert.deepEqual(names.sort(), Object.keys(want.headers).sort(), `${path}: no other fields`);
    assert.equal(body, path === '/4' ? '' : 'ok');
  }
  assert.ok(app.connections() <= 2, 'keep-alive app connections served the heads');
});
