// The inbound listener's HTTP/2 (ALPN h2 over mTLS) on weft's own codec, driven by a third-party
// client: node's http2 with a mesh certificate, straight to the inbound port. Requests to an HTTP/1.1
// app (the direct bridge: head from the flat header list, bodies both ways with chunked framing and
// trailers) and to an h2c app (the Exchange path), the weft-dst-port check (FORBIDDEN_PORT), a peer
// outside allowedPeers, a stream reset by the peer aborting the app request, rapid reset, and drain
// with streams in flight.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { collect, startH2cServer } from '../support/servers.ts';
import { identitySpec, startProxy } from '../support/proxies.ts';
import { makeTestPki, type TestIdentity, type TestPki } from '../support/pki.ts';
import { eventually, waitFor } from '../support/wait.ts';
import type { WeftProxy } from '../../src/proxy/proxy.ts';
import type { ProxyConfigSpec } from '../../src/proxy/runtime/spec.ts';

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

interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  trailers: Record<string, string>;
}

/**
 * The HTTP/1.1 app: records what it received; `/echo` answers with the body (chunked, with a
 * trailer), `/hang` holds the response until `release()`, everything else answers "ok".
 */
async function startApp(): Promise<{ port: number; seen: SeenRequest[]; hanging: http.ServerResponse[]; aborted: number; connections: number; release(): void }> {
  const state = { port: 0, seen: [] as SeenRequest[], hanging: [] as http.ServerResponse[], aborted: 0, connections: 0, release() {} };
  const server = http.createServer((req, res) => {
    if (req.url === '/hang') {
      state.hanging.push(res);
      res.on('close', () => {
        if (!res.writableEnded) state.aborted++;
      });
      return;
    }
    void collect(req).then((body) => {
      state.seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: body.toString(), trailers: req.trailers as Record<string, string> });
      if (req.url === '/echo') {
        res.writeHead(201, { 'content-type': 'text/plain', 'x-app': 'yes', trailer: 'x-sum' });
        res.write(body.subarray(0, 3));
        res.write(body.subarray(3));
        res.addTrailers({ 'x-sum': String(body.length) });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2', connection: 'keep-alive' });
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', () => state.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  state.release = () => {
    for (const res of state.hanging.splice(0)) if (!res.writableEnded && !res.destroyed) res.end('late');
  };
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return state;
}

async function startInbound(ports: Array<{ port: number; protocol: 'http1' | 'http2' | 'grpc' }>, extra: { allowedPeers?: string[]; limits?: ProxyConfigSpec['limits'] } = {}): Promise<WeftProxy> {
  const proxy = await startProxy({
    workload: {
      name: 'catalog',
      namespace: 'shop',
      trustDomain: 'test.local',
      identity: identitySpec(serverIdentity),
      inbound: { mtlsMode: 'STRICT', ports, ...(extra.allowedPeers ? { allowedPeers: extra.allowedPeers } : {}) },
    },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
    ...(extra.limits ? { limits: extra.limits } : {}),
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** node's http2 client over mTLS with a mesh certificate (ALPN h2), straight to the inbound port. */
function connectMesh(port: number, identity: TestIdentity = clientIdentity): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () =>
      tls.connect({
        host: '127.0.0.1',
        port,
        key: identity.keyPem,
        cert: identity.certChainPem,
        ca: identity.trustBundlePem,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.3',
        // SPIFFE IDs are URI SANs, not host names: the chain is what this client checks.
        checkServerIdentity: () => undefined,
      }),
  });
  session.on('error', () => {});
  cleanups.push(() => {
    if (!session.destroyed) session.destroy();
  });
  return session;
}

/** Resolves with the code of the first GOAWAY the session receives; fails (instead of hanging) if none comes. */
function goawayOf(session: http2.ClientHttp2Session, what: string): Promise<number> {
  let code: number | undefined;
  session.once('goaway', (c) => (code = c));
  return eventually(() => (code === undefined ? undefined : { code }), `a GOAWAY: ${what}`).then((r) => r.code);
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
}

function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: { chunks: string[]; trailers?: Record<string, string> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined, waitForTrailers: body?.trailers !== undefined });
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on('trailers', (t) => (trailers = t));
    req.on('error', reject);
    let responded = false;
    req.on('close', () => {
      if (!responded) reject(new Error(`stream closed without a response (RST code ${req.rstCode})`));
    });
    if (body !== undefined) {
      if (body.trailers) req.on('wantTrailers', () => req.sendTrailers(body.trailers!));
      for (const c of body.chunks) req.write(c);
      req.end();
    }
    req.on('response', (h) => {
      responded = true;
      void collect(req).then((b) => resolve({ status: Number(h[':status']), headers: h, body: b.toString(), trailers }), reject);
    });
  });
}

test('node http2 client over mTLS → inbound (own codec) → HTTP/1.1 app: heads, bodies, trailers, cookies and many streams on one connection', async () => {
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }]);
  const session = connectMesh(proxy.addresses.inbound!.port);

  const get = await request(session, { ':method': 'GET', ':path': '/a?x=1', ':authority': 'catalog.shop:80', 'weft-dst-port': String(app.port), cookie: ['a=1', 'b=2'], 'x-custom': 'v' });
  assert.equal(get.status, 200);
  assert.equal(get.body, 'ok');
  assert.equal(get.headers.connection, undefined, 'hop-by-hop response headers are dropped');
  const seenGet = app.seen.at(-1)!;
  assert.equal(seenGet.method, 'GET');
  assert.equal(seenGet.url, '/a?x=1');
  assert.equal(seenGet.headers.host, 'catalog.shop:80', ':authority becomes Host');
  assert.equal(seenGet.headers.cookie, 'a=1; b=2', 'split cookies are joined for HTTP/1.1');
  assert.equal(seenGet.headers['x-custom'], 'v');
  assert.equal(seenGet.headers['weft-dst-port'], undefined, 'weft-dst-port is consumed by the inbound proxy');

  // A body of unknown length goes chunked, with the request trailers as chunked trailers; the
  // response's chunked body and trailer come back as DATA and a trailer HEADERS frame.
  const echo = await request(session, { ':method': 'POST', ':path': '/echo', ':authority': 'catalog', 'weft-dst-port': String(app.port), te: 'trailers' }, { chunks: ['hello ', 'mesh ', 'world'], trailers: { 'x-checksum': 'abc' } });
  assert.equal(echo.status, 201);
  assert.equal(echo.headers['x-app'], 'yes');
  assert.equal(echo.body, 'hello mesh world');
  assert.equal(echo.trailers?.['x-sum'], '16');
  const seenEcho = app.seen.at(-1)!;
  assert.equal(seenEcho.body, 'hello mesh world');
  assert.equal(seenEcho.headers['transfer-encoding'], 'chunked');
  assert.equal(seenEcho.trailers['x-checksum'], 'abc');

  // A declared length is kept.
  const sized = await request(session, { ':method': 'PUT', ':path': '/echo', ':authority': 'catalog', 'weft-dst-port': String(app.port), 'content-length': '7' }, { chunks: ['1234567'] });
  assert.equal(sized.body, '1234567');
  assert.equal(app.seen.at(-1)!.headers['content-length'], '7');
  assert.equal(app.seen.at(-1)!.headers['transfer-encoding'], undefined);

  // Larger uploads and downloads stream through with back-pressure on both sides; the app connection
  // is reused afterwards (regression: a pause set on the last response chunk — the client's 64 KiB
  // stream window spent — went back to the pool with the connection, and the next request on it hung).
  for (const size of [70_000, 3 * 1024 * 1024 + 17]) {
    const big = 'x'.repeat(size);
    const large = await request(session, { ':method': 'POST', ':path': '/echo', ':authority': 'catalog', 'weft-dst-port': String(app.port), 'content-length': String(size) }, { chunks: [big] });
    assert.equal(large.body.length, big.length);
    assert.equal(large.body, big);
    const after = await Promise.all(Array.from({ length: 10 }, () => request(session, { ':method': 'GET', ':path': '/after', ':authority': 'catalog', 'weft-dst-port': String(app.port) })));
    assert.deepEqual(new Set(after.map((a) => a.body)), new Set(['ok']));
  }

  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => request(session, { ':method': 'GET', ':path': `/n/${i}`, ':authority': 'catalog', 'weft-dst-port': String(app.port) })));
  assert.deepEqual(new Set(many.map((a) => `${a.status} ${a.body}`)), new Set(['200 ok']));
  assert.equal(proxy.ctx.metrics.connections.get({ listener: 'inbound' }), 1, 'all of it on one mTLS connection');
});

test('h2c app port: the Exchange path carries the request, the response and its trailers', async () => {
  const h2app = await startH2cServer((stream, headers) => {
    void collect(stream).then((body) => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-path': String(headers[':path']) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-done': 'yes' }));
      stream.end(`h2:${body.toString()}`);
    });
  });
  cleanups.push(() => h2app.close());
  const proxy = await startInbound([{ port: h2app.port, protocol: 'http2' }]);
  const session = connectMesh(proxy.addresses.inbound!.port);
  const a = await request(session, { ':method': 'POST', ':path': '/h2', ':authority': 'catalog', 'weft-dst-port': String(h2app.port) }, { chunks: ['ab', 'cd'] });
  assert.equal(a.status, 200);
  assert.equal(a.headers['x-path'], '/h2');
  assert.equal(a.body, 'h2:abcd');
  assert.equal(a.trailers?.['x-done'], 'yes');
});

test('a port the workload does not declare is refused with 403 FORBIDDEN_PORT', async () => {
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }]);
  const session = connectMesh(proxy.addresses.inbound!.port);
  const before = app.seen.length;
  const a = await request(session, { ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': '9' });
  assert.equal(a.status, 403);
  assert.match(String(a.headers['weft-error']), /^FORBIDDEN_PORT; port 9 is not a declared port/);
  const g = await request(session, { ':method': 'POST', ':path': '/', ':authority': 'catalog', 'weft-dst-port': '9', 'content-type': 'application/grpc' }, { chunks: ['\0\0\0\0\0'] });
  assert.equal(g.status, 200);
  assert.equal(g.headers['grpc-status'], '7', 'gRPC callers get PERMISSION_DENIED');
  assert.equal(app.seen.length, before, 'nothing reached the app');
  // The connection still serves allowed requests.
  assert.equal((await request(session, { ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': String(app.port) })).status, 200);
});

test('a peer outside allowedPeers is refused: no stream reaches the app', async () => {
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }], { allowedPeers: ['spiffe://test.local/ns/shop/sa/orders'] });
  const session = connectMesh(proxy.addresses.inbound!.port);
  await assert.rejects(request(session, { ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': String(app.port) }));
  assert.equal(app.seen.length, 0);
  const orders = await pki.issue('shop/orders');
  const allowed = connectMesh(proxy.addresses.inbound!.port, orders);
  assert.equal((await request(allowed, { ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': String(app.port) })).status, 200);
});

test('a stream reset by the peer aborts the app request; the connection keeps serving', async () => {
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }]);
  const session = connectMesh(proxy.addresses.inbound!.port);
  const req = session.request({ ':method': 'GET', ':path': '/hang', ':authority': 'catalog', 'weft-dst-port': String(app.port) });
  req.on('error', () => {});
  await waitFor(() => app.hanging.length === 1, 'the request reached the app');
  req.close(http2.constants.NGHTTP2_CANCEL);
  await waitFor(() => app.aborted === 1, 'the app request was aborted');
  await waitFor(() => proxy.ctx.inflight === 0, 'nothing left in flight');
  assert.equal((await request(session, { ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': String(app.port) })).body, 'ok');
});

test('rapid reset (HEADERS then RST_STREAM in a loop) gets GOAWAY(ENHANCE_YOUR_CALM); other connections keep working', async () => {
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }], { limits: { maxResetsPer10s: 100 } });
  const abuser = connectMesh(proxy.addresses.inbound!.port);
  const goaway = goawayOf(abuser, 'the abuser is sent away');
  await new Promise<void>((resolve) => abuser.once('connect', () => resolve()));
  for (let i = 0; i < 400 && !abuser.destroyed && !abuser.closed; i++) {
    try {
      const r = abuser.request({ ':method': 'GET', ':path': '/hang', ':authority': 'catalog', 'weft-dst-port': String(app.port) });
      r.on('error', () => {});
      r.close(http2.constants.NGHTTP2_CANCEL);
    } catch {
      break;
    }
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  assert.equal(await goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  await eventually(() => abuser.closed || abuser.destroyed, 'the abuser connection closed');
  app.release();
  const other = connectMesh(proxy.addresses.inbound!.port);
  assert.equal((await request(other, { ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': String(app.port) })).body, 'ok');
});

test('drain: GOAWAY to the peer, streams in flight finish, then the proxy closes', async () => {
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }]);
  const session = connectMesh(proxy.addresses.inbound!.port);
  const goaway = goawayOf(session, 'drain');
  const inFlight = Array.from({ length: 3 }, () => request(session, { ':method': 'GET', ':path': '/hang', ':authority': 'catalog', 'weft-dst-port': String(app.port) }));
  await waitFor(() => app.hanging.length === 3, 'three requests reached the app');
  let drained = false;
  const drain = proxy.drain(30_000).then(() => (drained = true));
  assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
  assert.equal(drained, false, 'drain waits for the streams in flight');
  app.release();
  const answers = await Promise.all(inFlight);
  assert.deepEqual(answers.map((a) => `${a.status} ${a.body}`), ['200 late', '200 late', '200 late']);
  await drain;
  await eventually(() => session.closed || session.destroyed, 'the drained connection closed');
});

test('a proxy pair serving HTTP/1 traffic over the mesh never loads node:http2 (it is loaded only for h2c from apps)', async () => {
  const { spawn } = await import('node:child_process');
  const script = `
    const http = await import('node:http');
    const { startProxyPair } = await import('./test/support/proxies.ts');
    const app = http.createServer((req, res) => res.end('ok'));
    await new Promise((r) => app.listen(0, '127.0.0.1', r));
    const pair = await startProxyPair({ appPort: app.address().port });
    const body = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: pair.outboundPort, path: '/', headers: { host: 'catalog' }, agent: false }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(res.statusCode + ' ' + b));
      }).on('error', reject);
    });
    const loaded = process.moduleLoadList.filter((m) => m.includes('http2'));
    console.log(JSON.stringify({ body, loaded }));
    await pair.close();
    app.close();
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../..', import.meta.url), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, err);
  const line = out.trim().split('\n').find((l) => l.startsWith('{"body"'));
  assert.ok(line, `no result line in ${out}`);
  assert.deepEqual(JSON.parse(line), { body: '200 ok', loaded: [] });
});

test('limits from the snapshot are advertised; idle sessions are closed by the sweep, busy ones are not', async () => {
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }], { limits: { idleTimeoutMs: 300, maxConcurrentStreams: 7, maxHeaderBytes: 8192 } });
  const busy = connectMesh(proxy.addresses.inbound!.port);
  let settings: http2.Settings | undefined;
  busy.once('remoteSettings', (s) => (settings = s));
  await waitFor(() => settings !== undefined, 'the inbound SETTINGS');
  assert.ok(settings);
  assert.equal(settings.maxConcurrentStreams, 7);
  assert.equal(settings.maxHeaderListSize, 8192);
  const hanging = request(busy, { ':method': 'GET', ':path': '/hang', ':authority': 'catalog', 'weft-dst-port': String(app.port) });
  await waitFor(() => app.hanging.length === 1, 'the request reached the app');
  const idle = connectMesh(proxy.addresses.inbound!.port);
  assert.equal((await request(idle, { ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': String(app.port) })).body, 'ok');
  const idleGoaway = goawayOf(idle, 'the idle session is closed');
  assert.equal(await idleGoaway, http2.constants.NGHTTP2_NO_ERROR);
  await eventually(() => idle.closed || idle.destroyed, 'the idle session closed');
  // The session with a stream in flight was idle just as long by the clock, but is still open.
  assert.equal(busy.closed || busy.destroyed, false);
  app.release();
  assert.equal((await hanging).body, 'late');
});

test('PERMISSIVE: plaintext h2c on the inbound port goes to node:http2 (loaded on demand) and reaches the app', async () => {
  const h2app = await startH2cServer();
  cleanups.push(() => h2app.close());
  const proxy = await startProxy({
    workload: { name: 'catalog', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(serverIdentity), inbound: { mtlsMode: 'PERMISSIVE', ports: [{ port: h2app.port, protocol: 'http2' }] } },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
  });
  cleanups.push(() => proxy.close());
  const plain = http2.connect(`http://127.0.0.1:${proxy.addresses.inbound!.port}`);
  plain.on('error', () => {});
  cleanups.push(() => {
    if (!plain.destroyed) plain.destroy();
  });
  const answers = await Promise.all([0, 1, 2].map((i) => request(plain, { ':method': 'POST', ':path': `/p${i}`, ':authority': 'catalog' }, { chunks: [`body${i}`] })));
  assert.deepEqual(answers.map((a) => `${a.status} ${a.headers['x-method']} ${a.body}`), ['200 POST body0', '200 POST body1', '200 POST body2']);
  // mTLS on the same port still goes to the own codec.
  const mesh = connectMesh(proxy.addresses.inbound!.port);
  assert.equal((await request(mesh, { ':method': 'POST', ':path': '/m', ':authority': 'catalog', 'weft-dst-port': String(h2app.port) }, { chunks: ['mtls'] })).body, 'mtls');
});

test('nghttp (nghttp2, C) over mTLS with a mesh certificate: many streams with bodies and trailers on one connection', async (t) => {
  const { execFile } = await import('node:child_process');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const found = await new Promise<boolean>((resolve) => execFile('nghttp', ['--version'], (e) => resolve(e === null)));
  if (!found) return t.skip('nghttp (Debian nghttp2-client) is not installed');
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }]);
  const dir = mkdtempSync(join(tmpdir(), 'weft-nghttp-'));
  writeFileSync(join(dir, 'cert.pem'), clientIdentity.certChainPem);
  writeFileSync(join(dir, 'key.pem'), clientIdentity.keyPem);
  writeFileSync(join(dir, 'body'), 'from nghttp');
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'nghttp',
      ['-v', '-m', '20', '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'), '-d', join(dir, 'body'), '--trailer', 'x-checksum: nghttp', '-H', `weft-dst-port: ${app.port}`, '-H', ':authority: catalog', `https://127.0.0.1:${proxy.addresses.inbound!.port}/echo`],
      { timeout: 30_000 },
      (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(out.code, 0, out.stderr);
  // -v prints every frame (the body bytes land between them): count the heads and trailers received.
  assert.equal((out.stdout.match(/recv \(stream_id=\d+\) :status: 201/g) ?? []).length, 20);
  assert.equal((out.stdout.match(/recv \(stream_id=\d+\) x-sum: 11/g) ?? []).length, 20, 'every response trailer arrived');
  const echoed = app.seen.filter((r) => r.url === '/echo');
  assert.equal(echoed.length, 20);
  for (const r of echoed) {
    assert.equal(r.body, 'from nghttp');
    assert.equal(r.trailers['x-checksum'], 'nghttp');
    assert.equal(r.headers.host, 'catalog');
  }
  assert.equal(proxy.ctx.metrics.connections.get({ listener: 'inbound' }), 1);
});

test('a response with a declared Content-Length ends its stream on its last DATA frame (no empty DATA frame after it); chunked ones end after the body', async () => {
  const app = await startApp();
  const proxy = await startInbound([{ port: app.port, protocol: 'http1' }]);
  const port = proxy.addresses.inbound!.port;
  const { connectH2 } = await import('../../src/proxy/protocols/h2/session.ts');
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    key: clientIdentity.keyPem,
    cert: clientIdentity.certChainPem,
    ca: clientIdentity.trustBundlePem,
    ALPNProtocols: ['h2'],
    minVersion: 'TLSv1.3',
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const session = connectH2(socket);
  cleanups.push(() => session.destroy());
  /** Each onData call as [bytes, endStream], and the status. */
  const exchange = (path: string, body?: string): Promise<{ status: number; calls: Array<[string, boolean]> }> =>
    new Promise((resolve, reject) => {
      const calls: Array<[string, boolean]> = [];
      let status = 0;
      const stream = session.request([':method', body === undefined ? 'GET' : 'POST', ':scheme', 'https', ':authority', 'catalog', ':path', path], body === undefined);
      stream.onHeaders = (headers, endStream) => {
        status = Number(headers[headers.indexOf(':status') + 1]);
        if (endStream) resolve({ status, calls });
      };
      stream.onData = (chunk, endStream) => {
        calls.push([chunk.toString(), endStream]);
        stream.consume(chunk.length);
        if (endStream) resolve({ status, calls });
      };
      stream.onTrailers = () => resolve({ status, calls });
      stream.onClose = (code) => reject(new Error(`stream closed before its end (code ${code})`));
      if (body !== undefined) stream.sendData(Buffer.from(body), true);
    });
  for (let i = 0; i < 3; i++) {
    const plain = await exchange('/');
    assert.equal(plain.status, 200);
    assert.deepEqual(plain.calls, [['ok', true]], 'the declared-length body and END_STREAM in one DATA frame');
  }
  // The stream's normal close is no reset: the app connection went back to the pool and served them all.
  assert.equal(app.connections, 1, 'one app connection for the sequential requests');
  const echoed = await exchange('/echo', 'hello world');
  assert.equal(echoed.status, 201);
  assert.equal(echoed.calls.map((c) => c[0]).join(''), 'hello world');
  assert.ok(echoed.calls.every((c) => !c[1]), 'a chunked body with trailers ends with the trailers');
});
