import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Http1Pool } from './pool.ts';
import { Http1Server, type ExchangeHooks } from './server.ts';
import { http1Request, serializeRequestHead } from './client.ts';
import { respondError } from './forward.ts';
import { rawExchange } from './test-helpers.ts';

const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
});

async function echoUpstream(): Promise<number> {
  const srv = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      res.writeHead(201, { 'x-method': req.method!, 'x-host': req.headers.host!, 'x-te': String(req.headers['transfer-encoding']), trailer: 'x-len' });
      res.write(Buffer.concat(parts));
      res.addTrailers({ 'x-len': String(Buffer.concat(parts).length), 'x-req-t': req.trailers['x-t'] ?? '-' });
      res.end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return (srv.address() as net.AddressInfo).port;
}

test('http1Request streams a chunked body with trailers and decodes the chunked response with trailers', async () => {
  const port = await echoUpstream();
  const pool = new Http1Pool({ connect: () => net.connect(port, '127.0.0.1'), name: `app:${port}` });
  closers.push(() => pool.close());
  const result = await new Promise<{ status: number; headers: Array<[string, string]>; body: string; trailers: Array<[string, string]> }>((resolve, reject) => {
    let status = 0;
    let headers: Array<[string, string]> = [];
    let body = '';
    const req = http1Request(
      pool,
      { method: 'POST', path: '/echo?x=1', authority: 'app.shop', headers: [['content-type', 'text/plain'], [':path', '/ignored'], ['connection', 'close'], ['te', 'trailers']] },
      {
        onHead(head) {
          status = head.status;
          headers = head.headerList();
        },
        onData(chunk) {
          body += chunk.toString();
        },
        onEnd(trailers) {
          resolve({ status, headers, body, trailers });
        },
        onError: reject,
      },
    );
    req.write(Buffer.from('hello '));
    setTimeout(() => {
      req.write(Buffer.from('world'));
      req.end([['x-t', 'tv']]);
    }, 10);
  });
  assert.equal(result.status, 201);
  assert.equal(result.body, 'hello world');
  const h = new Map(result.headers);
  assert.equal(h.get('x-method'), 'POST');
  assert.equal(h.get('x-host'), 'app.shop');
  assert.equal(h.get('x-te'), 'chunked');
  assert.deepEqual(result.trailers, [
    ['x-len', '11'],
    ['x-req-t', 'tv'],
  ]);
  // The connection went back to the pool and is reused.
  const second = await new Promise<string>((resolve, reject) => {
    let body = '';
    const req = http1Request(pool, { method: 'PUT', path: '/2', authority: 'a', headers: [], bodyLength: 3 }, {
      onHead() {},
      onData: (c) => (body += c),
      onEnd: () => resolve(body),
      onError: reject,
    });
    req.write(Buffer.from('abc'));
    req.end();
  });
  assert.equal(second, 'abc');
  assert.equal(pool.connectionsOpened, 1);
});

test('serializeRequestHead refuses header injection', () => {
  assert.throws(() => serializeRequestHead({ method: 'GET', path: '/', authority: 'a', headers: [['x', 'a\r\nevil: 1']] }), TypeError);
  assert.throws(() => serializeRequestHead({ method: 'GET', path: '/a b', authority: 'a', headers: [] }), TypeError);
  assert.equal(serializeRequestHead({ method: 'GET', path: '/', authority: 'a', headers: [['X-A', '1']], bodyLength: 0 }).toString(), 'GET / HTTP/1.1\r\nhost: a\r\nX-A: 1\r\n\r\n');
});

test('server message mode: decoded request body and trailers in, writeHead/writeBody/endResponse out', async () => {
  const server = new Http1Server({
    onRequest(conn, head) {
      if (head.target === '/error') {
        respondError(conn, { status: 503, code: 'NO_HEALTHY_ENDPOINT', reason: 'no healthy endpoints for catalog.shop (3 ejected)' });
        return;
      }
      let body = '';
      const hooks: ExchangeHooks = {
        raw: false,
        onRequestBytes() {},
        onBodyData(buf, s, e) {
          body += buf.toString('latin1', s, e);
        },
        onTrailers(t) {
          body += ` trailers=${JSON.stringify(t)}`;
        },
        onRequestEnd() {
          conn.writeHead(200, [['x-got', String(body.length)], ['connection', 'x-evil'], ['x-bad', 'a\nb']]);
          conn.writeBody(Buffer.from(body));
          conn.endResponse([['grpc-status', '0']]);
        },
        onClientGone() {},
        onClientDrain() {},
        onTimeout() {},
      };
      conn.attach(hooks);
    },
  });
  const addr = await server.listen(0);
  closers.push(() => server.close());
  const r = await rawExchange(addr.port, 'POST /m HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET /error HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(r.data, /^HTTP\/1\.1 200 OK\r\nx-got: 26\r\ntransfer-encoding: chunked\r\n\r\n1a\r\nabc trailers=\[\["x-t","1"\]\]\r\n0\r\ngrpc-status: 0\r\n\r\n/);
  assert.ok(!r.data.includes('x-evil') && !r.data.includes('x-bad'));
  assert.match(r.data, /HTTP\/1\.1 503 Service Unavailable\r\n[^]*weft-error: NO_HEALTHY_ENDPOINT; no healthy endpoints for catalog\.shop \(3 ejected\)\r\n/);
  assert.equal(r.closed, true);
});

test('drain: idle connections close at once, busy ones finish with Connection: close', async () => {
  const box: { release?: () => void } = {};
  const server = new Http1Server({
    onRequest(conn) {
      box.release = () => conn.respond(200, [['x', '1']], Buffer.from('done'));
    },
  });
  const addr = await server.listen(0);
  closers.push(() => server.close());
  const idle = net.connect(addr.port, '127.0.0.1');
  const idleClosed = new Promise<void>((r) => idle.on('close', () => r()));
  await new Promise((r) => idle.once('connect', r));
  const busy = rawExchange(addr.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', { timeoutMs: 20_000 });
  while (box.release === undefined || server.connections.size < 2) await new Promise((r) => setTimeout(r, 5));
  const drained = server.drain(10_000);
  await idleClosed;
  box.release();
  const r = await busy;
  await drained;
  assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n[^]*done$/);
  assert.equal(r.closed, true);
  assert.equal(server.connections.size, 0);
});

test('message mode answers Expect: 100-continue itself when the body is read', async () => {
  const server = new Http1Server({
    onRequest(conn) {
      let body = '';
      conn.attach({
        raw: false,
        onRequestBytes() {},
        onBodyData: (b, s, e) => (body += b.toString('latin1', s, e)),
        onTrailers() {},
        onRequestEnd: () => conn.respond(200, [], Buffer.from(`got ${body}`)),
        onClientGone() {},
        onClientDrain() {},
        onTimeout() {},
      });
    },
  });
  const addr = await server.listen(0);
  closers.push(() => server.close());
  const r = await new Promise<{ sawContinue: boolean; body: string }>((resolve, reject) => {
    let sawContinue = false;
    const req = http.request({ host: '127.0.0.1', port: addr.port, method: 'PUT', path: '/', headers: { expect: '100-continue', 'content-length': '4' }, agent: false });
    req.on('continue', () => {
      sawContinue = true;
      req.end('data');
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ sawContinue, body }));
    });
    req.on('error', reject);
  });
  assert.deepEqual(r, { sawContinue: true, body: 'got data' });
});

test('a handler that throws costs one request (500 PROXY_INTERNAL_ERROR), not the process', async () => {
  const seen: unknown[] = [];
  const server = new Http1Server({
    onRequest() {
      throw new Error('bug in routing');
    },
    onInternalError: (_conn, e) => seen.push(e),
  });
  const addr = await server.listen(0);
  closers.push(() => server.close());
  const r = await rawExchange(addr.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(r.data, /^HTTP\/1\.1 500 Internal Server Error\r\n[^]*weft-error: PROXY_INTERNAL_ERROR; /);
  assert.equal(r.closed, true);
  assert.equal((seen[0] as Error).message, 'bug in routing');
});
