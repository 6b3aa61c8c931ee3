// Transparency of HTTP/1.1 through client proxy → mTLS → server proxy, with both hops between proxies
// (multiplexed h2, and pooled HTTP/1.1 on the engine's fast path): what the app receives is what the
// client sent (method, path, end-to-end headers, body, trailers) and vice versa.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startHttpServer, collect } from '../support/servers.ts';
import { startProxyPair, type ProxyPair } from '../support/proxies.ts';

const run = promisify(execFile);
for (const peerProtocol of ['h2', 'http1'] as const) {
describe(`between proxies: ${peerProtocol}`, () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let app: Awaited<ReturnType<typeof startHttpServer>>;
  let pair: ProxyPair;

  type Res = { status: number; headers: http.IncomingHttpHeaders; body: Buffer; trailers: NodeJS.Dict<string>; socketPort: number };
  function request(options: http.RequestOptions, body?: (req: http.ClientRequest) => void): Promise<Res> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: pair.outboundPort, agent, ...options }, (res) => {
        const socketPort = res.socket.localPort!;
        void collect(res).then((b) => resolve({ status: res.statusCode!, headers: res.headers, body: b, trailers: res.trailers, socketPort }));
      });
      req.on('error', reject);
      if (body) body(req);
      else req.end();
    });
  }

  before(async () => {
    app = await startHttpServer((req, res, body) => {
      const url = req.url!;
      if (url === '/204') return void res.writeHead(204, { 'x-kind': 'no-content' }).end();
      if (url === '/304') return void res.writeHead(304, { etag: '"v1"' }).end();
      if (url.startsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
        res.write('part1-');
        res.write('part2-');
        res.addTrailers({ 'x-checksum': 'abc123' });
        return void res.end('part3');
      }
      if (url === '/head') {
        res.writeHead(200, { 'content-length': '1234', 'x-head': 'yes' });
        return void res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1234));
      }
      const text = JSON.stringify({ method: req.method, path: req.url, headers: req.headers, body: body.toString(), trailers: req.trailers });
      res.writeHead(201, { 'content-type': 'application/json', 'x-multi': ['a', 'b'], 'set-cookie': ['s=1', 't=2'] });
      res.end(text);
    });
    pair = await startProxyPair({ appPort: app.port, peerProtocol });
  });

  after(async () => {
    agent.destroy();
    await pair.close();
    await app.close();
  });

  test('method, path, query, end-to-end headers and body arrive unchanged; hop-by-hop headers do not', async () => {
    const res = await request(
      { method: 'PUT', path: '/a/b?x=1&y=%20z', headers: { host: 'catalog', 'x-custom': 'v1', 'x-dup': ['1', '2'], 'content-type': 'text/plain', 'keep-alive': 'timeout=9', 'proxy-connection': 'x', 'weft-dst-port': '1' } },
      (req) => req.end('hello body'),
    );
    assert.equal(res.status, 201);
    const seen = JSON.parse(res.body.toString());
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.path, '/a/b?x=1&y=%20z');
    assert.equal(seen.body, 'hello body');
    assert.equal(seen.headers['x-custom'], 'v1');
    assert.equal(seen.headers['x-dup'], '1, 2');
    assert.equal(seen.headers['content-type'], 'text/plain');
    assert.equal(seen.headers.host, 'catalog');
    assert.equal(seen.headers['proxy-connection'], undefined);
    assert.equal(seen.headers['weft-dst-port'], undefined, 'the mesh-internal header never reaches the app, and a spoofed one does not steer the peer');
    assert.deepEqual(res.headers['set-cookie'], ['s=1', 't=2']);
    assert.equal(res.headers['x-multi'], 'a, b');
  });

  test('keep-alive: several requests reuse one client connection', async () => {
    const a = await request({ path: '/k1', headers: { host: 'catalog.shop' } });
    const b = await request({ path: '/k2', headers: { host: 'catalog.shop.svc.cluster.local:80' } });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.equal(a.socketPort, b.socketPort);
  });

  test('chunked request body with trailers, and chunked response with trailers', async () => {
    const res = await request({ method: 'POST', path: '/echo', headers: { host: 'catalog', 'transfer-encoding': 'chunked', te: 'trailers', trailer: 'x-req-sum' } }, (req) => {
      req.write('c1-');
      req.write('c2');
      req.addTrailers({ 'x-req-sum': 'q9' });
      req.end();
    });
    const seen = JSON.parse(res.body.toString());
    assert.equal(seen.body, 'c1-c2');
    assert.equal(seen.trailers['x-req-sum'], 'q9');
    const chunked = await request({ path: '/chunked', headers: { host: 'catalog', te: 'trailers' } });
    assert.equal(chunked.body.toString(), 'part1-part2-part3');
    assert.equal(chunked.trailers['x-checksum'], 'abc123');
  });

  test('HEAD, 204 and 304 carry no body', async () => {
    const head = await request({ method: 'HEAD', path: '/head', headers: { host: 'catalog' } });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '1234');
    assert.equal(head.headers['x-head'], 'yes');
    assert.equal(head.body.length, 0);
    const nc = await request({ path: '/204', headers: { host: 'catalog' } });
    assert.equal(nc.status, 204);
    assert.equal(nc.headers['x-kind'], 'no-content');
    assert.equal(nc.body.length, 0);
    const nm = await request({ path: '/304', headers: { host: 'catalog', 'if-none-match': '"v1"' } });
    assert.equal(nm.status, 304);
    assert.equal(nm.headers.etag, '"v1"');
    // The connection is still usable afterwards (no stray body bytes).
    const after = await request({ path: '/after', headers: { host: 'catalog' } });
    assert.equal(after.status, 201);
  });

  test('Expect: 100-continue gets a 100 and the body goes through', async () => {
    const res = await new Promise<Res & { continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request({ host: '127.0.0.1', port: pair.outboundPort, method: 'POST', path: '/upload', headers: { host: 'catalog', expect: '100-continue', 'content-length': 4 } }, (r) => {
        void collect(r).then((b) => resolve({ status: r.statusCode!, headers: r.headers, body: b, trailers: r.trailers, socketPort: 0, continued }));
      });
      req.on('continue', () => {
        continued = true;
        req.end('data');
      });
      req.on('error', reject);
    });
    assert.ok(res.continued);
    assert.equal(JSON.parse(res.body.toString()).body, 'data');
  });

  test('absolute-form request target (HTTP_PROXY style) routes by its authority', async () => {
    const res = await request({ path: 'http://catalog.shop/proxy-style?q=1', headers: { host: 'ignored.example' } });
    assert.equal(res.status, 201);
    assert.equal(JSON.parse(res.body.toString()).path, '/proxy-style?q=1');
  });

  test('curl over HTTP/1.1 and with --http2-prior-knowledge to the outbound port', async () => {
    const h1 = await run('curl', ['-s', '-D', '-', '-H', 'Host: catalog', '-H', 'X-Curl: yes', '--data-binary', 'curl-body', `http://127.0.0.1:${pair.outboundPort}/curl1`]);
    assert.match(h1.stdout, /^HTTP\/1\.1 201/);
    const body1 = JSON.parse(h1.stdout.slice(h1.stdout.indexOf('\r\n\r\n') + 4));
    assert.equal(body1.body, 'curl-body');
    assert.equal(body1.headers['x-curl'], 'yes');
    const h2 = await run('curl', ['-s', '-D', '-', '--http2-prior-knowledge', '-H', 'X-Curl: h2', '-X', 'PATCH', '--data-binary', 'h2-body', `http://catalog.shop/curl2`, '--connect-to', `catalog.shop:80:127.0.0.1:${pair.outboundPort}`]);
    assert.match(h2.stdout, /^HTTP\/2 201/);
    const body2 = JSON.parse(h2.stdout.slice(h2.stdout.indexOf('\r\n\r\n') + 4));
    assert.equal(body2.method, 'PATCH');
    assert.equal(body2.body, 'h2-body');
    assert.equal(body2.headers['x-curl'], 'h2');
    assert.equal(body2.headers.host, 'catalog.shop');
  });
});
}
