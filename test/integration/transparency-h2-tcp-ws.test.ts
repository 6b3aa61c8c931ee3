// Transparency of HTTP/2 (node http2 client, nghttp), opaque TCP (echo, server-speaks-first banner,
// half-close) and WebSocket (ws) through client proxy → mTLS → server proxy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WebSocketServer, WebSocket } from 'ws';
import { startH2cServer, startTcpServer, collect } from '../support/servers.ts';
import { startProxyPair, type ProxyPair } from '../support/proxies.ts';
import { makeTestPki } from '../support/pki.ts';

const run = promisify(execFile);
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});
const pkiPromise = makeTestPki({ trustDomain: 'test.local' });

async function pairFor(appPort: number, o: Partial<Parameters<typeof startProxyPair>[0]> = {}): Promise<ProxyPair> {
  const pair = await startProxyPair({ appPort, pki: await pkiPromise, ...o });
  cleanups.push(() => pair.close());
  return pair;
}

test('HTTP/2: headers, body, trailers both ways, and a large body under flow control', async () => {
  const app = await startH2cServer((stream, headers) => {
    const hash = createHash('sha256');
    let n = 0;
    stream.on('data', (c: Buffer) => {
      hash.update(c);
      n += c.length;
    });
    stream.on('end', () => {
      const reqTrailers = (stream as unknown as { weftTrailers?: http2.IncomingHttpHeaders }).weftTrailers ?? {};
      stream.respond({ ':status': 200, 'x-seen-method': String(headers[':method']), 'x-seen-custom': String(headers['x-custom']), 'x-seen-trailer': String(reqTrailers['x-req-trailer']) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sha256': hash.digest('hex'), 'x-bytes': String(n) }));
      // A response body larger than the default 64 KiB window.
      stream.end(Buffer.alloc(3 * 1024 * 1024, 7));
    });
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      (stream as unknown as { weftTrailers?: http2.IncomingHttpHeaders }).weftTrailers = t;
    });
  });
  cleanups.push(() => app.close());
  const pair = await pairFor(app.port, { appProtocol: 'http2' });
  const session = http2.connect(`http://127.0.0.1:${pair.outboundPort}`);
  cleanups.push(async () => void session.close());
  const upload = Buffer.alloc(5 * 1024 * 1024 + 13, 3);
  const req = session.request({ ':method': 'POST', ':path': '/up?z=1', ':authority': 'catalog.shop', 'x-custom': 'c1' }, { waitForTrailers: true });
  req.on('wantTrailers', () => req.sendTrailers({ 'x-req-trailer': 'rt' }));
  req.end(upload);
  const [headers, trailers, body] = await new Promise<[http2.IncomingHttpHeaders, http2.IncomingHttpHeaders, Buffer]>((resolve, reject) => {
    let h: http2.IncomingHttpHeaders = {};
    let t: http2.IncomingHttpHeaders = {};
    req.on('response', (x) => (h = x));
    req.on('trailers', (x) => (t = x));
    void collect(req).then((b) => resolve([h, t, b]), reject);
  });
  assert.equal(headers[':status'], 200);
  assert.equal(headers['x-seen-method'], 'POST');
  assert.equal(headers['x-seen-custom'], 'c1');
  assert.equal(headers['x-seen-trailer'], 'rt');
  assert.equal(trailers['x-bytes'], String(upload.length));
  assert.equal(trailers['x-sha256'], createHash('sha256').update(upload).digest('hex'));
  assert.equal(body.length, 3 * 1024 * 1024);
  assert.ok(body.every((b) => b === 7));

  // nghttp (Debian nghttp2-client) against the outbound port with prior knowledge.
  const out = await run('nghttp', ['-v', '-H', ':authority: catalog.shop', '-d', '/dev/null', `http://127.0.0.1:${pair.outboundPort}/nghttp`], { encoding: 'latin1', maxBuffer: 64 << 20, timeout: 10000 }).catch((e) => e);
  assert.match(String(out.stdout), /:status: 200/);
  assert.match(String(out.stdout), /x-seen-method: POST/);
  assert.match(String(out.stdout), /x-bytes: 0/);
});

test('TCP declared `tcp`: a server-speaks-first banner arrives at once, bytes echo, half-close propagates', async () => {
  const app = await startTcpServer({ banner: '220 smtp.example ESMTP ready\r\n' });
  cleanups.push(() => app.close());
  // A detection timeout far longer than any handshake on a slow machine: if either proxy sniffed
  // this port, the banner could only arrive after it (5 s).
  const pair = await pairFor(app.port, { appProtocol: 'tcp', serviceProtocol: 'tcp', upstreamListener: true, servicePort: 25, limits: { detectTimeoutMs: 5000 } });
  const t0 = performance.now();
  const socket = net.connect({ host: '127.0.0.1', port: pair.upstreamPort!, allowHalfOpen: true });
  const banner = await new Promise<string>((resolve) => socket.once('data', (b) => resolve(b.toString())));
  const bannerMs = performance.now() - t0;
  assert.equal(banner, '220 smtp.example ESMTP ready\r\n');
  assert.ok(bannerMs < 4000, `banner took ${bannerMs.toFixed(0)} ms (detection, 5 s here, must not run on tcp ports)`);
  const payload = Buffer.alloc(256 * 1024, 9);
  const echoed = collect(socket);
  socket.end(payload); // half-close: the echo server ends after echoing everything
  const got = await echoed;
  assert.equal(got.length, payload.length);
  assert.ok(got.equals(payload));
});

test('TCP on an undeclared (auto) port: a client that waits for the server falls back to TCP after the detect timeout', async () => {
  const app = await startTcpServer({ banner: 'HELLO\n' });
  cleanups.push(() => app.close());
  const pair = await pairFor(app.port, { appProtocol: 'tcp', serviceProtocol: 'auto', upstreamListener: true, servicePort: 4222, limits: { detectTimeoutMs: 100 } });
  const socket = net.connect({ host: '127.0.0.1', port: pair.upstreamPort! });
  const banner = await new Promise<string>((resolve) => socket.once('data', (b) => resolve(b.toString())));
  assert.equal(banner, 'HELLO\n');
  socket.write('ping');
  const echo = await new Promise<string>((resolve) => socket.once('data', (b) => resolve(b.toString())));
  assert.equal(echo, 'ping');
  socket.destroy();
});

for (const peerProtocol of ['http1', 'h2'] as const) {
  test(`WebSocket (ws) upgrade through the outbound port, peer protocol ${peerProtocol}: frames both ways in order`, async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    wss.on('connection', (ws, req) => {
      ws.send(`hello ${req.headers['x-who']}`);
      ws.on('message', (m, binary) => ws.send(m, { binary }));
    });
    cleanups.push(() => new Promise((r) => wss.close(() => r())));
    const port = (wss.address() as net.AddressInfo).port;
    const pair = await pairFor(port, { appProtocol: 'http1', peerProtocol });
    const ws = new WebSocket(`ws://127.0.0.1:${pair.outboundPort}/chat`, { headers: { host: 'catalog', 'x-who': 'web' } });
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (m) => {
        got.push(m.toString());
        if (got.length === 1) for (let i = 0; i < 10; i++) ws.send(`m${i}`);
        if (got.length === 11) resolve();
      });
      ws.on('error', reject);
    });
    ws.close();
    assert.deepEqual(got, ['hello web', ...Array.from({ length: 10 }, (_, i) => `m${i}`)]);
  });
}
