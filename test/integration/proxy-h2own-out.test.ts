// The outbound side of the HTTP/2 hop between proxies on weft's own codec (peerProtocol h2, the
// default): HTTP/1 requests bridged onto streams — chunked uploads with trailers both ways, 5 MiB
// bodies both ways with a slow client, HEAD/204/304, Expect: 100-continue, a peer that drains
// (GOAWAY) mid-load, a dead endpoint retried elsewhere — and the codec's client against node's
// http2 server (an h2c upstream), so interop with another implementation stays pinned.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { identitySpec, startProxy, startProxyPair } from '../support/proxies.ts';
import { makeTestPki } from '../support/pki.ts';
import { collect, startH2cServer } from '../support/servers.ts';
import { waitFor, sleep } from '../support/wait.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A client-side proxy whose service `blob` is an h2c app on `appPort` (no mesh peer: plain h2c upstream). */
async function blobClient(appPort: number) {
  const client = await startProxy({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', inbound: { mtlsMode: 'DISABLED', ports: [] } },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
    services: [{ name: 'blob', namespace: 'shop', ports: [{ port: 80, protocol: 'http2', cluster: 'blob' }] }],
    clusters: [{ name: 'blob', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: appPort }] }],
  });
  cleanups.push(() => client.close());
  return client;
}

/** The catalog side of a mesh pair: an inbound-only proxy over `appPorts` (HTTP/1), and web's identity for the client. */
async function catalogInbound(appPorts: number[]) {
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const serverIdentity = await pki.issue('shop/catalog');
  const clientIdentity = await pki.issue('shop/web');
  const server = await startProxy({
    workload: {
      name: 'catalog',
      namespace: 'shop',
      trustDomain: 'test.local',
      identity: identitySpec(serverIdentity),
      inbound: { mtlsMode: 'STRICT', ports: appPorts.map((port) => ({ port, protocol: 'http1' as const })) },
    },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
  });
  cleanups.push(() => server.close());
  return { server, serverIdentity, clientIdentity };
}

async function listenApp(handler: http.RequestListener): Promise<number> {
  const app = http.createServer(handler);
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    app.closeAllConnections();
    app.close();
  });
  return (app.address() as net.AddressInfo).port;
}

/** A raw HTTP/1 client connection that records everything it reads (latin1). */
function rawClient(port: number): { socket: net.Socket; seen: () => string } {
  const socket = net.connect(port, '127.0.0.1');
  let seen = '';
  socket.on('data', (d: Buffer) => (seen += d.toString('latin1')));
  socket.on('error', () => {});
  cleanups.push(() => socket.destroy());
  return { socket, seen: () => seen };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('default peer protocol is h2 on the own codec: a chunked upload with trailers reaches the app, chunked response trailers reach the client', async () => {
  const appPort = await listenApp((req, res) => {
    void collect(req).then((body) => {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-echo-sum' });
      res.write(`got ${body.toString()} sum=${String(req.trailers['x-sum'])} te=${String(req.headers.te)}`);
      res.addTrailers({ 'x-echo-sum': String(req.trailers['x-sum']) });
      res.end();
    });
  });
  const pair = await startProxyPair({ appPort }); // no peerProtocol: the default
  cleanups.push(() => pair.close());
  assert.equal(pair.client.ctx.snapshot.clusters.get('catalog')!.peerProtocol, 'h2');
  const c = rawClient(pair.outboundPort);
  c.socket.write('POST /up HTTP/1.1\r\nhost: catalog\r\ntransfer-encoding: chunked\r\nte: trailers\r\ntrailer: x-sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 11\r\n\r\n');
  await waitFor(() => c.seen().includes('\r\n0\r\n') && c.seen().endsWith('\r\n\r\n'), 'the chunked response ended', 20_000);
  const text = c.seen();
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.match(text.toLowerCase(), /transfer-encoding: chunked/);
  assert.match(text, /got hello world sum=11 te=trailers/);
  assert.match(text.toLowerCase(), /\r\n0\r\nx-echo-sum: 11\r\n\r\n$/);
  assert.equal(pair.client.ctx.meshPool.size, 1, 'one pooled session to the peer');
});

test('5 MiB bodies both ways with a slow client: intact, with back-pressure, and the connection stays usable', async () => {
  const appPort = await listenApp((req, res) => {
    if (req.url === '/download') {
      // No Content-Length: the client gets it chunked.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const block = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < 5 * 1024 * 1024) {
          block.fill(sent / block.length);
          sent += block.length;
          if (!res.write(Buffer.from(block))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    // Echo the upload with its length declared.
    void collect(req).then((body) => {
      res.writeHead(200, { 'content-length': body.length, 'x-upload-sha': sha(body) });
      res.end(body);
    });
  });
  const pair = await startProxyPair({ appPort });
  cleanups.push(() => pair.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  const upload = Buffer.alloc(5 * 1024 * 1024);
  for (let i = 0; i < upload.length; i += 4096) upload.writeUInt32BE(i, i);
  /** Reads a response slowly: a pause after every 256 KiB. */
  const slowRead = (res: http.IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let sincePause = 0;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        sincePause += c.length;
        if (sincePause >= 256 * 1024) {
          sincePause = 0;
          res.pause();
          setTimeout(() => res.resume(), 20);
        }
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
  const up = await new Promise<{ status: number; sha: string; body: Buffer }>((resolve, reject) => {
    const req = http.request({ port: pair.outboundPort, host: '127.0.0.1', method: 'POST', path: '/upload', headers: { host: 'catalog', 'content-length': upload.length }, agent }, (res) => {
      slowRead(res).then((body) => resolve({ status: res.statusCode!, sha: String(res.headers['x-upload-sha']), body }), reject);
    });
    req.on('error', reject);
    req.end(upload);
  });
  assert.equal(up.status, 200);
  assert.equal(up.sha, sha(upload), 'the app received the upload intact');
  assert.equal(up.body.length, upload.length);
  assert.ok(up.body.equals(upload), 'the echoed 5 MiB came back intact');
  const down = await new Promise<{ status: number; te: string | undefined; body: Buffer }>((resolve, reject) => {
    http
      .get({ port: pair.outboundPort, host: '127.0.0.1', path: '/download', headers: { host: 'catalog' }, agent }, (res) => {
        slowRead(res).then((body) => resolve({ status: res.statusCode!, te: res.headers['transfer-encoding'], body }), reject);
      })
      .on('error', reject);
  });
  assert.equal(down.status, 200);
  assert.equal(down.te, 'chunked');
  assert.equal(down.body.length, 5 * 1024 * 1024);
  for (let i = 0; i < 80; i++) assert.equal(down.body[i * 64 * 1024], i & 0xff, `block ${i}`);
  assert.equal(pair.client.ctx.meshPool.size, 1);
});

test('HEAD, 204 and 304 cross the h2 hop without bodies, and the keep-alive connection stays usable', async () => {
  const appPort = await listenApp((req, res) => {
    req.resume();
    if (req.url === '/204') {
      res.writeHead(204, { 'x-kind': 'none' });
      res.end();
    } else if (req.url === '/304') {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
    } else {
      const body = 'x'.repeat(1000);
      res.writeHead(200, { 'content-length': body.length, 'x-kind': 'full' });
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  });
  const pair = await startProxyPair({ appPort });
  cleanups.push(() => pair.close());
  const c = rawClient(pair.outboundPort);
  c.socket.write('HEAD /doc HTTP/1.1\r\nhost: catalog\r\n\r\n');
  await waitFor(() => c.seen().includes('\r\n\r\n'), 'HEAD answered', 20_000);
  const headHead = c.seen().toLowerCase();
  assert.match(headHead, /^http\/1\.1 200/);
  assert.match(headHead, /content-length: 1000\r\n/);
  c.socket.write('GET /204 HTTP/1.1\r\nhost: catalog\r\n\r\n');
  await waitFor(() => c.seen().includes(' 204 '), '204 answered', 20_000);
  c.socket.write('GET /304 HTTP/1.1\r\nhost: catalog\r\nif-none-match: "v1"\r\n\r\n');
  await waitFor(() => c.seen().includes(' 304 '), '304 answered', 20_000);
  c.socket.write('GET /doc HTTP/1.1\r\nhost: catalog\r\n\r\n');
  await waitFor(() => c.seen().endsWith('x'.repeat(1000)), 'the GET after them answered with its body', 20_000);
  // Exactly four responses, and the only body is the last one's.
  const text = c.seen();
  assert.equal(text.split('HTTP/1.1 ').length - 1, 4, text);
  assert.equal(text.split('x'.repeat(1000)).length - 1, 1, 'HEAD, 204 and 304 carried no body');
  const head204 = text.slice(text.indexOf('HTTP/1.1 204'), text.indexOf('\r\n\r\n', text.indexOf('HTTP/1.1 204'))).toLowerCase();
  assert.doesNotMatch(head204, /content-length|transfer-encoding/, head204);
});

test('Expect: 100-continue: the client gets 100 before it sends the body, then the answer', async () => {
  const appPort = await listenApp((req, res) => {
    void collect(req).then((b) => {
      const text = `got ${b.toString()}`;
      res.writeHead(200, { 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  const pair = await startProxyPair({ appPort });
  cleanups.push(() => pair.close());
  const c = rawClient(pair.outboundPort);
  c.socket.write('POST /e HTTP/1.1\r\nhost: catalog\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n');
  await waitFor(() => c.seen().startsWith('HTTP/1.1 100 Continue\r\n\r\n'), '100 Continue before the body', 20_000);
  c.socket.write('hello');
  await waitFor(() => c.seen().endsWith('got hello'), 'the final answer', 20_000);
  assert.equal(c.seen().split('HTTP/1.1 100').length - 1, 1, 'one 100 Continue');
});

test('a peer that drains (GOAWAY) mid-load: no request fails — refused streams and new requests go to the other peer', async () => {
  const appPort = await listenApp((req, res) => {
    void collect(req).then(() => {
      const text = `ok ${req.url}`;
      res.writeHead(200, { 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  // Endpoints are keyed by address:port: the second peer reaches the same app through a port alias.
  const alias = net.createServer((s) => {
    const up = net.connect(appPort, '127.0.0.1');
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => alias.listen(0, '127.0.0.1', r));
  cleanups.push(() => alias.close());
  const aliasPort = (alias.address() as net.AddressInfo).port;
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const serverIdentity = await pki.issue('shop/catalog');
  const clientIdentity = await pki.issue('shop/web');
  const serverFor = (port: number) =>
    startProxy({
      workload: { name: 'catalog', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(serverIdentity), inbound: { mtlsMode: 'STRICT', ports: [{ port, protocol: 'http1' }] } },
      listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
    });
  const a = await serverFor(appPort);
  const b = await serverFor(aliasPort);
  cleanups.push(() => b.close());
  const client = await startProxy({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(clientIdentity), inbound: { mtlsMode: 'STRICT', ports: [] } },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
    services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'catalog' }] }],
    clusters: [
      {
        name: 'catalog',
        lb: 'round-robin',
        endpoints: [
          { address: '127.0.0.1', port: appPort, proxyPort: a.addresses.inbound!.port, spiffeId: serverIdentity.spiffeId },
          { address: '127.0.0.1', port: aliasPort, proxyPort: b.addresses.inbound!.port, spiffeId: serverIdentity.spiffeId },
        ],
      },
    ],
  });
  cleanups.push(() => client.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  cleanups.push(() => agent.destroy());
  const get = (i: number): Promise<number> =>
    new Promise((resolve) => {
      http
        .get({ port: client.addresses.outbound!.port, host: '127.0.0.1', path: `/r/${i}`, headers: { host: 'catalog' }, agent }, (res) => {
          void collect(res).then((body) => resolve(res.statusCode === 200 && body.toString() === `ok /r/${i}` ? 200 : res.statusCode!));
        })
        .on('error', () => resolve(-1));
    });
  const total = 600;
  let answered = 0;
  let drainStarted = false;
  const statuses: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      statuses[i] = await get(i);
      answered++;
      if (answered === 150 && !drainStarted) {
        drainStarted = true;
        void a.drain(5000).then(() => a.close());
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  assert.ok(drainStarted);
  const failed = statuses.map((s, i) => [i, s]).filter(([, s]) => s !== 200);
  assert.deepEqual(failed, [], 'every request answered 200 with its own body');
  assert.ok(b.ctx.metrics.connections.get({ listener: 'inbound' }) >= 1, 'the other peer took over');
});

test('connect failure (the peer resets right after accepting) → the request is retried on another endpoint', async () => {
  const appPort = await listenApp((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  let deadAccepts = 0;
  const dead = net.createServer((s) => {
    deadAccepts++;
    s.on('error', () => {});
    s.resetAndDestroy();
  });
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  cleanups.push(() => dead.close());
  const { server, serverIdentity, clientIdentity } = await catalogInbound([appPort]);
  const client = await startProxy({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(clientIdentity), inbound: { mtlsMode: 'STRICT', ports: [] } },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
    services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'catalog' }] }],
    clusters: [
      {
        name: 'catalog',
        lb: 'round-robin',
        endpoints: [
          // Never reached (the dst port only names the app on the peer); distinct from the live endpoint's key.
          { address: '127.0.0.1', port: 1, proxyPort: (dead.address() as net.AddressInfo).port, spiffeId: serverIdentity.spiffeId },
          { address: '127.0.0.1', port: appPort, proxyPort: server.addresses.inbound!.port, spiffeId: serverIdentity.spiffeId },
        ],
      },
    ],
  });
  cleanups.push(() => client.close());
  const c = rawClient(client.addresses.outbound!.port);
  for (let i = 1; i <= 6; i++) {
    c.socket.write(`GET /x${i} HTTP/1.1\r\nhost: catalog\r\n\r\n`);
    await waitFor(() => c.seen().split('\r\n\r\nok').length - 1 === i, `request ${i} answered`, 20_000);
  }
  assert.doesNotMatch(c.seen(), /weft-error/i);
  assert.ok(deadAccepts >= 1, 'the dead endpoint was tried');
});

test('interop: the own codec as a client of node http2 (h2c upstream) — streams, bodies, trailers', async () => {
  const app = await startH2cServer((stream, headers) => {
    void collect(stream).then((body) => {
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'x-path': String(headers[':path']) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-len': String(body.length) }));
      stream.end(body);
    });
  });
  cleanups.push(() => app.close());
  const client = await blobClient(app.port);
  const session = http2.connect(`http://127.0.0.1:${client.addresses.outbound!.port}`);
  cleanups.push(() => session.destroy());
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const sent = Buffer.alloc(1000 + i * 3000, i);
      const s = session.request({ ':method': 'POST', ':path': `/b/${i}`, ':authority': 'blob' });
      s.end(sent);
      let trailers: http2.IncomingHttpHeaders | undefined;
      s.on('trailers', (t) => (trailers = t));
      s.on('response', (h) => {
        void collect(s).then((body) => {
          try {
            assert.equal(h[':status'], 200);
            assert.equal(h['x-path'], `/b/${i}`);
            assert.ok(body.equals(sent), `body ${i}`);
            assert.equal(trailers?.['x-len'], String(sent.length));
            resolve();
          } catch (e) {
            reject(e as Error);
          }
        }, reject);
      });
      s.on('error', reject);
    });
  await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)));
  assert.equal(client.ctx.plainH2Pool.size, 1, 'one h2c session to the app');
  await sleep(0);
});

test('gRPC over the h2 hop: a client that cancels a streaming call resets it all the way to the app (RST_STREAM CANCEL)', async () => {
  let appStream: http2.ServerHttp2Stream | undefined;
  let appRstCode: number | undefined;
  const app = await startH2cServer((stream) => {
    appStream = stream;
    stream.on('close', () => (appRstCode = stream.rstCode));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    const msg = Buffer.from('hello');
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    stream.write(frame); // one message, then the call stays open
  });
  cleanups.push(() => app.close());
  const pair = await startProxyPair({ appPort: app.port, appProtocol: 'grpc', upstreamListener: true, servicePort: 9090 });
  cleanups.push(() => pair.close());
  const session = http2.connect(`http://127.0.0.1:${pair.upstreamPort!}`);
  cleanups.push(() => session.destroy());
  const call = session.request({ ':method': 'POST', ':path': '/echo.Echo/ServerStream', ':authority': 'catalog.shop:9090', 'content-type': 'application/grpc', te: 'trailers' });
  call.end(Buffer.from([0, 0, 0, 0, 0]));
  call.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    call.once('data', () => resolve());
    call.once('close', () => reject(new Error(`the call closed before its first message (rst ${call.rstCode})`)));
  });
  assert.ok(appStream !== undefined && !appStream.closed, 'the app holds the call open');
  call.close(http2.constants.NGHTTP2_CANCEL);
  await waitFor(() => appRstCode !== undefined, 'the app saw its stream reset', 20_000);
  assert.equal(appRstCode, http2.constants.NGHTTP2_CANCEL);
});

test('h2c client → plain HTTP/1 app: a response whose last bytes met a full downstream does not leave the pooled app connection paused', async () => {
  const big = Buffer.alloc(48 * 1024, 'b');
  const appPort = await listenApp((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': big.length });
    res.end(big);
  });
  const client = await startProxy({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', inbound: { mtlsMode: 'DISABLED', ports: [] } },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
    services: [{ name: 'blob', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'blob' }] }],
    clusters: [{ name: 'blob', protocol: 'http1', pool: { maxConnections: 1 }, endpoints: [{ address: '127.0.0.1', port: appPort }] }],
  });
  cleanups.push(() => client.close());
  const session = http2.connect(`http://127.0.0.1:${client.addresses.outbound!.port}`);
  cleanups.push(() => session.destroy());
  const get = (i: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':method': 'GET', ':path': `/b/${i}`, ':authority': 'blob' });
      s.on('response', () => void collect(s).then((b) => resolve(b.length), reject));
      s.on('error', reject);
    });
  // One app connection (maxConnections 1): each 48 KiB response fills the h2 downstream stream's
  // buffer on its last bytes; the next request reuses the connection and must be answered.
  for (let i = 0; i < 5; i++) assert.equal(await get(i), big.length, `response ${i}`);
});

test('HTTP/1 client → h2c app (plain cluster, protocol http2): bridged onto one own-codec session, bodies both ways', async () => {
  const app = await startH2cServer((stream, headers) => {
    void collect(stream).then((body) => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-method': String(headers[':method']) });
      stream.end(`${String(headers[':path'])} ${body.length}`);
    });
  });
  cleanups.push(() => app.close());
  const client = await blobClient(app.port);
  const c = rawClient(client.addresses.outbound!.port);
  c.socket.write('GET /one HTTP/1.1\r\nhost: blob\r\n\r\n');
  // No content-length from the app: chunked to the HTTP/1.1 client.
  await waitFor(() => c.seen().endsWith('\r\n/one 0\r\n0\r\n\r\n'), 'GET answered', 20_000);
  c.socket.write('POST /two HTTP/1.1\r\nhost: blob\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n');
  await waitFor(() => c.seen().endsWith('\r\n/two 7\r\n0\r\n\r\n'), 'chunked POST answered', 20_000);
  assert.match(c.seen().toLowerCase(), /x-method: post/);
  assert.equal(client.ctx.plainH2Pool.size, 1, 'one h2c session to the app');
});

test('the bridged request head: hop-by-hop and Connection-listed fields dropped, te: trailers kept, route edits applied both ways, weft-dst-port from the app ignored', async () => {
  const appPort = await listenApp((req, res) => {
    req.resume();
    const text = JSON.stringify(req.headers);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-secret': 'hide', 'x-keep': 'yes' });
    res.end(text);
  });
  const { server, serverIdentity, clientIdentity } = await catalogInbound([appPort]);
  const client = await startProxy({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(clientIdentity), inbound: { mtlsMode: 'STRICT', ports: [] } },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
    services: [
      {
        name: 'catalog',
        namespace: 'shop',
        ports: [
          {
            port: 80,
            protocol: 'http1',
            routes: [
              {
                backends: [{ cluster: 'catalog', weight: 1 }],
                requestHeaders: { set: { 'x-set': 'one' }, add: { 'x-add': 'a' }, remove: ['x-drop'] },
                responseHeaders: { set: { 'x-res': 'r' }, remove: ['x-secret'] },
              },
            ],
          },
        ],
      },
    ],
    clusters: [{ name: 'catalog', endpoints: [{ address: '127.0.0.1', port: appPort, proxyPort: server.addresses.inbound!.port, spiffeId: serverIdentity.spiffeId }] }],
  });
  cleanups.push(() => client.close());
  const c = rawClient(client.addresses.outbound!.port);
  c.socket.write(
    'GET /h HTTP/1.1\r\nhost: catalog\r\nconnection: keep-alive, x-hop\r\nx-hop: 1\r\nkeep-alive: timeout=5\r\nproxy-connection: keep-alive\r\nte: trailers, deflate\r\nweft-dst-port: 1\r\nx-set: client\r\nx-drop: 1\r\nx-end: 2\r\ncookie: a=1\r\ncookie: b=2\r\n\r\n',
  );
  await waitFor(() => c.seen().includes('}'), 'answered', 20_000);
  const text = c.seen();
  const head = text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
  const got = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
  assert.equal(got['x-end'], '2');
  assert.equal(got.te, 'trailers', 'te: trailers kept, other codings dropped');
  for (const hop of ['x-hop', 'keep-alive', 'proxy-connection', 'x-drop']) assert.equal(got[hop], undefined, hop);
  assert.equal(got['x-set'], 'one', 'route set replaces the client value');
  assert.equal(got['x-add'], 'a');
  assert.equal(got.host, 'catalog', 'Host travels as :authority and is restored for the app');
  assert.equal(got.cookie, 'a=1; b=2');
  assert.equal(got['weft-dst-port'], undefined, 'the mesh-internal header does not reach the app');
  assert.match(head, /\r\nx-res: r/);
  assert.match(head, /\r\nx-keep: yes/);
  assert.doesNotMatch(head, /x-secret/);
});

test('an idle h2 session to a peer is closed by the pool sweep (cluster idleTimeoutMs), and the next request opens a new one', async () => {
  const appPort = await listenApp((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  const pair = await startProxyPair({ appPort, cluster: { idleTimeoutMs: 200 } });
  cleanups.push(() => pair.close());
  const c = rawClient(pair.outboundPort);
  c.socket.write('GET /1 HTTP/1.1\r\nhost: catalog\r\n\r\n');
  await waitFor(() => c.seen().endsWith('ok'), 'first answer', 20_000);
  assert.equal(pair.client.ctx.meshPool.size, 1);
  await waitFor(() => pair.client.ctx.meshPool.size === 0, 'the idle session left the pool', 20_000);
  c.socket.write('GET /2 HTTP/1.1\r\nhost: catalog\r\n\r\n');
  await waitFor(() => c.seen().split('ok').length - 1 === 2, 'second answer on a new session', 20_000);
  assert.equal(pair.server.ctx.metrics.connections.get({ listener: 'inbound' }), 2, 'a second mTLS connection was opened');
});

test('a snapshot update reaches a keep-alive client connection: its next request goes to the new endpoint (the per-connection h2 plan/target cache follows the snapshot)', async () => {
  const { snapshotOf } = await import('../support/proxies.ts');
  const appA = await listenApp((_req, res) => res.end('from A'));
  const appB = await listenApp((_req, res) => res.end('from B'));
  const { server, serverIdentity, clientIdentity } = await catalogInbound([appA, appB]);
  const clientSpec = (appPort: number): Parameters<typeof snapshotOf>[0] => ({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(clientIdentity), inbound: { mtlsMode: 'STRICT', ports: [] } },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
    services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'catalog' }] }],
    clusters: [{ name: 'catalog', endpoints: [{ address: '127.0.0.1', port: appPort, proxyPort: server.addresses.inbound!.port, spiffeId: serverIdentity.spiffeId }] }],
  });
  const client = await startProxy(clientSpec(appA));
  cleanups.push(() => client.close());
  const c = rawClient(client.addresses.outbound!.port);
  c.socket.write('GET /1 HTTP/1.1\r\nhost: catalog\r\n\r\n');
  await waitFor(() => c.seen().includes('from A'), 'the first answer (app A)', 20_000);
  client.ctx.snapshots.set(snapshotOf(clientSpec(appB)));
  c.socket.write('GET /2 HTTP/1.1\r\nhost: catalog\r\n\r\n');
  await waitFor(() => c.seen().includes('from B'), 'the second answer, on the same connection, from app B', 20_000);
  assert.equal(c.seen().match(/HTTP\/1\.1 200/g)?.length, 2);
});
