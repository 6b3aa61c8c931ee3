import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { startForwardProxy, rawExchange } from './test-helpers.ts';
import { waitFor } from '../../../../test/support/wait.ts';

const openServers: Array<{ close(): void }> = [];
after(() => {
  for (const s of openServers) s.close();
});

async function upstream(handler: http.RequestListener): Promise<number> {
  const srv = http.createServer(handler);
  srv.keepAliveTimeout = 2000;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  openServers.push({ close: () => srv.close() });
  openServers.push({ close: () => srv.closeAllConnections() });
  return (srv.address() as net.AddressInfo).port;
}

function request(port: number, options: http.RequestOptions & { body?: string | Buffer | Readable }, agent?: http.Agent): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; trailers: NodeJS.Dict<string> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: agent ?? false, ...options }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), trailers: res.trailers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const body = options.body;
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

test('forwards methods, headers, bodies and strips hop-by-hop headers; keep-alive reuses one upstream connection', async () => {
  const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  const port = await upstream((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.setHeader('x-up', 'yes');
      res.setHeader('keep-alive', 'timeout=5');
      res.end(`${req.method} ${req.url} ${body}`);
    });
  });
  const proxy = await startForwardProxy(port, {
    forward: { requestHeaders: { set: [['x-forwarded-proto', 'http']], remove: ['x-secret'] }, responseHeaders: { add: [['x-via', 'weft']] } },
    extraHeaders: 'l5d-dst-canonical: catalog.shop.svc:80\r\n',
  });
  openServers.push(proxy);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const a = await request(proxy.port, { method: 'POST', path: '/a?x=1', headers: { 'x-secret': 's', 'x-forwarded-proto': 'https', 'x-keep': 'k', 'proxy-connection': 'keep-alive' }, body: 'hello' }, agent);
  assert.equal(a.status, 200);
  assert.equal(a.body.toString(), 'POST /a?x=1 hello');
  assert.equal(a.headers['x-up'], 'yes');
  assert.equal(a.headers['x-via'], 'weft');
  assert.equal(a.headers['keep-alive'], undefined);
  const b = await request(proxy.port, { method: 'GET', path: '/b', headers: { connection: 'keep-alive, x-hop', 'x-hop': '1' } }, agent);
  assert.equal(b.body.toString(), 'GET /b ');
  const c = await request(proxy.port, { method: 'HEAD', path: '/c' }, agent);
  assert.equal(c.status, 200);
  assert.equal(c.body.length, 0);
  agent.destroy();
  assert.equal(seen[0]!.headers['x-secret'], undefined);
  assert.equal(seen[0]!.headers['x-forwarded-proto'], 'http');
  assert.equal(seen[0]!.headers['x-keep'], 'k');
  assert.equal(seen[0]!.headers['proxy-connection'], undefined);
  assert.equal(seen[0]!.headers['l5d-dst-canonical'], 'catalog.shop.svc:80');
  assert.equal(seen[1]!.headers['x-hop'], undefined);
  assert.equal(proxy.pool.connectionsOpened, 1);
});

test('streams a chunked request with trailers and a chunked response with trailers', async () => {
  const port = await upstream((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      res.writeHead(200, { trailer: 'x-sum' });
      res.write('got:');
      res.write(Buffer.concat(parts));
      res.addTrailers({ 'x-sum': String(Buffer.concat(parts).length), 'x-req-trailer': req.trailers['x-t'] ?? '' });
      res.end();
    });
  });
  const proxy = await startForwardProxy(port);
  openServers.push(proxy);
  const r = await rawExchange(proxy.port, [
    'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
    '3\r\nabc\r\n',
    '4;ext=1\r\ndefg\r\n0\r\nX-T: tv\r\n\r\n',
  ], { gapMs: 10 });
  assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(r.data, /connection: close/i);
  assert.ok(r.data.includes('\r\n4\r\ngot:\r\n7\r\nabcdefg\r\n0\r\n'), r.data);
  assert.match(r.data, /x-sum: 7\r\n/i);
  assert.match(r.data, /x-req-trailer: tv\r\n/i);
  assert.equal(r.closed, true);
});

// 256 MiB each way by default (about a second); WEFT_TEST_BODY_MIB=1024 runs the full 1 GiB each way
// (about 12 s on the shared CI machine, passing with the same memory bound).
const bodyMib = Number(process.env.WEFT_TEST_BODY_MIB ?? 256);

test(`a ${bodyMib} MiB generated upload and a ${bodyMib} MiB download pass with bounded memory`, async () => {
  const size = bodyMib * 1024 * 1024;
  const port = await upstream((req, res) => {
    let n = 0;
    req.on('data', (d) => (n += d.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-length': String(n) });
      let left = n;
      const chunk = Buffer.alloc(65536, 7);
      const pump = () => {
        while (left > 0) {
          const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= c.length;
          if (!res.write(c)) return res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
  });
  const proxy = await startForwardProxy(port);
  openServers.push(proxy);
  let sent = 0;
  const chunk = Buffer.alloc(65536, 1);
  const body = new Readable({
    read() {
      if (sent >= size) return this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
  const rssBefore = process.memoryUsage.rss();
  let received = 0;
  let peak = 0;
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'PUT', path: '/big', agent: false }, (res) => {
      let n = 0;
      res.on('data', (d) => {
        received += d.length;
        if ((++n & 63) === 0) peak = Math.max(peak, process.memoryUsage.rss());
      });
      res.on('end', resolve);
    });
    req.on('error', reject);
    body.pipe(req);
  });
  assert.equal(received, size);
  assert.ok(peak - rssBefore < 96 * 1024 * 1024, `rss grew by ${((peak - rssBefore) / 1048576).toFixed(1)} MiB`);
});

test('upstream failures become typed errors with weft-error: refused, reset before response, timeout', async () => {
  // Refused: a port with nothing listening.
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as net.AddressInfo).port;
  dead.close();
  const p1 = await startForwardProxy(deadPort);
  openServers.push(p1);
  const r1 = await request(p1.port, { path: '/' });
  assert.equal(r1.status, 502);
  assert.match(String(r1.headers['weft-error']), /^UPSTREAM_CONNECT_REFUSED; connection refused by 127\.0\.0\.1:\d+$/);

  // Reset before response: the upstream reads the request then closes.
  const rude = net.createServer((s) => s.once('data', () => s.destroy()));
  await new Promise<void>((r) => rude.listen(0, '127.0.0.1', r));
  openServers.push(rude);
  const p2 = await startForwardProxy((rude.address() as net.AddressInfo).port);
  openServers.push(p2);
  const r2 = await request(p2.port, { path: '/' });
  assert.equal(r2.status, 502);
  assert.match(String(r2.headers['weft-error']), /^UPSTREAM_RESET_BEFORE_RESPONSE;/);

  // Timeout: the upstream never answers.
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  openServers.push({ close: () => silent.close() });
  const p3 = await startForwardProxy((silent.address() as net.AddressInfo).port, { forward: { requestTimeoutMs: 150 }, server: { headerTimeoutMs: 200, idleTimeoutMs: 200 } });
  openServers.push(p3);
  const started = Date.now();
  const r3 = await request(p3.port, { path: '/' });
  assert.equal(r3.status, 504);
  assert.match(String(r3.headers['weft-error']), /^UPSTREAM_RESPONSE_TIMEOUT;/);
  assert.ok(Date.now() - started < 1500);
});

test('reset after the response head resets the client connection', async () => {
  const half = net.createServer((s) =>
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
      setTimeout(() => s.destroy(), 20);
    }),
  );
  await new Promise<void>((r) => half.listen(0, '127.0.0.1', r));
  openServers.push(half);
  const p = await startForwardProxy((half.address() as net.AddressInfo).port);
  openServers.push(p);
  const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(r.data, /^HTTP\/1\.1 200 OK/);
  assert.ok(r.data.endsWith('partial'));
  assert.equal(r.closed, true);
});

test('Expect: 100-continue is relayed, and pipelined requests are answered in order', async () => {
  const port = await upstream((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => res.end(`${req.url}:${body}`));
  });
  const p = await startForwardProxy(port);
  openServers.push(p);
  const r = await new Promise<{ status: number; body: string; sawContinue: boolean }>((resolve, reject) => {
    let sawContinue = false;
    const req = http.request({ host: '127.0.0.1', port: p.port, method: 'POST', path: '/e', headers: { expect: '100-continue', 'content-length': '2' }, agent: false });
    req.on('continue', () => {
      sawContinue = true;
      req.end('ok');
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, sawContinue }));
    });
    req.on('error', reject);
  });
  assert.deepEqual(r, { status: 200, body: '/e:ok', sawContinue: true });
  const pipelined = await rawExchange(p.port, 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  const bodies = [...pipelined.data.matchAll(/\r\n\r\n(\/\d:[a-z]*)/g)].map((m) => m[1]);
  assert.deepEqual(bodies, ['/1:', '/2:xyz', '/3:']);
  assert.equal(pipelined.closed, true);
});

test('HTTP/1.0 client gets a de-chunked, close-delimited response; absolute-form targets are rewritten', async () => {
  let seenUrl = '';
  let seenHost = '';
  const port = await upstream((req, res) => {
    seenUrl = req.url!;
    seenHost = req.headers.host!;
    res.write('part1-');
    res.end('part2');
  });
  const p = await startForwardProxy(port);
  openServers.push(p);
  const r = await rawExchange(p.port, 'GET http://catalog.shop:8080/items?q=1 HTTP/1.0\r\nHost: wrong\r\n\r\n');
  assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(!/transfer-encoding/i.test(r.data));
  assert.ok(r.data.endsWith('\r\n\r\npart1-part2'), r.data);
  assert.equal(r.closed, true);
  assert.equal(seenUrl, '/items?q=1');
  assert.equal(seenHost, 'catalog.shop:8080');
});

test('WebSocket-style Upgrade becomes a tunnel after 101', async () => {
  const srv = http.createServer();
  srv.on('upgrade', (req, socket, head) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(head);
    socket.on('data', (d) => socket.write(d));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  openServers.push({ close: () => srv.close() });
  openServers.push({ close: () => srv.closeAllConnections() });
  const p = await startForwardProxy((srv.address() as net.AddressInfo).port);
  openServers.push(p);
  const got = await new Promise<string>((resolve) => {
    const s = net.connect(p.port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => {
      data += d.toString();
      if (data.includes('ping2')) {
        s.destroy();
        resolve(data);
      }
    });
    s.write('GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nping1');
    setTimeout(() => s.write('ping2'), 30);
  });
  assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(got, /upgrade: echo/i);
  assert.ok(got.includes('ping1') && got.includes('ping2'));
});

test('regression: a connection handed to a waiting request on release is not aborted by the previous exchange', async () => {
  // /slow is held until released, so the order is fixed by signals, not by sleeps.
  let releaseSlow: (() => void) | undefined;
  const port = await upstream((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const reply = () => res.end(`${req.url}:${body}`);
      if (req.url === '/slow') releaseSlow = reply;
      else reply();
    });
  });
  const p = await startForwardProxy(port, { pool: { maxConnections: 1, maxPending: 10 } });
  openServers.push(p);
  const a = rawExchange(p.port, 'GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { timeoutMs: 20_000 });
  await waitFor(() => releaseSlow !== undefined, 'A to hold the only upstream connection');
  assert.equal(p.pool.size, 1);
  // B waits for the only connection, with half of its body sent; the rest comes after A's response.
  const b = net.connect(p.port, '127.0.0.1');
  const bChunks: Buffer[] = [];
  b.on('data', (d) => bChunks.push(d));
  const bClosed = new Promise<void>((resolve) => b.on('close', () => resolve()));
  b.on('error', () => {});
  b.write('POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n12345');
  await waitFor(() => p.pool.pendingCount === 1, 'B to wait in the pool');
  releaseSlow!();
  const ra = await a;
  assert.ok(ra.data.endsWith('/slow:'), ra.data);
  // The path under test: A's release handed the connection to B, whose body is still incomplete.
  await waitFor(() => p.pool.pendingCount === 0, 'the connection to be handed to B');
  assert.equal(p.pool.size, 1, 'B holds the same (only) connection');
  b.write('67890');
  await bClosed;
  const rb = Buffer.concat(bChunks).toString('latin1');
  assert.match(rb, /^HTTP\/1\.1 200 OK/, rb);
  assert.ok(rb.endsWith('/b:1234567890'), rb);
  assert.equal(p.pool.connectionsOpened, 1, 'B reused the connection A released');
});

test('malformed upstream responses become 502 UPSTREAM_BAD_RESPONSE (response smuggling is not relayed)', async () => {
  const bad = net.createServer((s) =>
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')),
  );
  await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
  openServers.push(bad);
  const p = await startForwardProxy((bad.address() as net.AddressInfo).port);
  openServers.push(p);
  const r = await request(p.port, { path: '/' });
  assert.equal(r.status, 502);
  assert.match(String(r.headers['weft-error']), /^UPSTREAM_BAD_RESPONSE; .*both Content-Length and Transfer-Encoding/);
});

test('drain while forwarding: the in-flight response carries Connection: close, then the connection closes', async () => {
  let release: (() => void) | undefined;
  const port = await upstream((_req, res) => {
    release = () => res.end('late');
  });
  const p = await startForwardProxy(port);
  openServers.push(p);
  const pending = rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', { timeoutMs: 20_000 });
  // In flight: the upstream holds the request (drain's deadline is only a backstop; it resolves when done).
  await waitFor(() => release !== undefined && p.server.connections.size === 1, 'the request to reach the upstream');
  const drained = p.server.drain(10_000);
  release!();
  const r = await pending;
  await drained;
  assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n[^]*late$/);
  assert.equal(r.closed, true);
});

test('204 and 304 carry no body even with Content-Length; HTTP/1.0 keep-alive clients keep their connection', async () => {
  const port = await upstream((req, res) => {
    if (req.url === '/204') {
      res.writeHead(204);
      res.end();
    } else if (req.url === '/304') {
      res.writeHead(304, { 'content-length': '100', etag: '"x"' });
      res.end();
    } else res.end('fine');
  });
  const p = await startForwardProxy(port);
  openServers.push(p);
  const r = await rawExchange(
    p.port,
    'GET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\nIf-None-Match: "x"\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  );
  const statuses = [...r.data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, ['204', '304', '200']);
  assert.ok(r.data.endsWith('fine'));
  const old = await rawExchange(p.port, 'GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /ok HTTP/1.0\r\n\r\n');
  assert.equal([...old.data.matchAll(/HTTP\/1\.1 200 OK/g)].length, 2);
  assert.match(old.data, /^HTTP\/1\.1 200 OK\r\n[^]*connection: keep-alive\r\n[^]*fineHTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n/);
  assert.equal(old.closed, true);
});

test('an upstream flooding 1xx responses is cut off with 502 UPSTREAM_BAD_RESPONSE', async () => {
  const flood = net.createServer((s) =>
    s.once('data', () => {
      s.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'.repeat(50));
    }),
  );
  await new Promise<void>((r) => flood.listen(0, '127.0.0.1', r));
  openServers.push(flood);
  const p = await startForwardProxy((flood.address() as net.AddressInfo).port);
  openServers.push(p);
  const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  const statuses = [...r.data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.equal(statuses.filter((s) => s === '103').length, 16);
  assert.equal(statuses.at(-1), '502');
  assert.match(r.data, /weft-error: UPSTREAM_BAD_RESPONSE; .*more than 16 informational/);
});

test('regression: after an idle gap longer than the request timeout, a new connection gets a fresh deadline (not a 504 at the first sweep)', async () => {
  const slow = http.createServer((_req, res) => setTimeout(() => res.end('late but in time'), 150));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  after(() => slow.close());
  const p = await startForwardProxy((slow.address() as net.AddressInfo).port, { forward: { requestTimeoutMs: 600 }, server: { sweepMs: 20 } });
  after(() => p.close());
  const ask = () => rawExchange(p.port, 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', { timeoutMs: 3000 });
  assert.match((await ask()).data, /^HTTP\/1\.1 200/);
  await waitFor(() => p.server.connections.size === 0, 'the first connection to leave (the sweep stops)');
  // Idle for longer than the request timeout: the engine's coarse clock does not advance meanwhile.
  await new Promise((r) => setTimeout(r, 900));
  const second = await ask();
  assert.match(second.data, /^HTTP\/1\.1 200/, second.data.split('\r\n')[0]);
  assert.match(second.data, /late but in time/);
});
