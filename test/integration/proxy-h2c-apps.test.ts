// h2c from apps on the outbound listener, served by weft's own codec (protocols/h2-server.ts):
// requests and trailers cross, CONNECT is refused with 405 and a weft-error, and a draining proxy
// sends GOAWAY on an open h2c connection while the stream in flight still completes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { startH2cServer } from '../support/servers.ts';
import { startProxy } from '../support/proxies.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(): Promise<{ port: number; proxy: Awaited<ReturnType<typeof startProxy>>; release: () => void; slowArrived: Promise<void> }> {
  let release = (): void => {};
  const held = new Promise<void>((r) => (release = r));
  let arrived = (): void => {};
  const slowArrived = new Promise<void>((r) => (arrived = r));
  const app = await startH2cServer((stream, headers) => {
    const answer = (): void => {
      stream.respond({ ':status': 200, 'x-path': String(headers[':path']) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-done': 'yes' }));
      stream.end('ok');
    };
    if (headers[':path'] === '/slow') {
      arrived();
      void held.then(answer);
    }
    else answer();
  });
  cleanups.push(() => app.close());
  const proxy = await startProxy({
    workload: { name: 'web', namespace: 'shop' },
    listeners: { outbound: { port: 0 }, inbound: null, admin: null },
    services: [{ name: 'api', namespace: 'shop', ports: [{ port: 80, protocol: 'http2', cluster: 'api' }] }],
    clusters: [{ name: 'api', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: app.port }] }],
  });
  cleanups.push(() => proxy.close());
  return { port: proxy.addresses.outbound!.port, proxy, release, slowArrived };
}

function request(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = client.request(headers);
    let got: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let body = '';
    req.on('response', (h) => (got = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => resolve({ headers: got, trailers, body }));
    req.on('error', reject);
    req.end();
  });
}

test('h2c on the outbound listener: a request and its trailers cross; CONNECT gets 405 with a weft-error', async () => {
  const { port } = await setup();
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  cleanups.push(() => client.close());
  const ok = await request(client, { ':method': 'GET', ':path': '/a', ':authority': 'api.shop' });
  assert.equal(ok.headers[':status'], 200);
  assert.equal(ok.headers['x-path'], '/a');
  assert.equal(ok.body, 'ok');
  assert.equal(ok.trailers['x-done'], 'yes');
  const refused = await request(client, { ':method': 'CONNECT', ':authority': 'api.shop:80' });
  assert.equal(refused.headers[':status'], 405);
  assert.match(String(refused.headers['weft-error']), /^BAD_REQUEST; CONNECT is not supported/);
  // The connection is still usable after the refusal.
  const again = await request(client, { ':method': 'GET', ':path': '/b', ':authority': 'api.shop' });
  assert.equal(again.headers['x-path'], '/b');
});

test('drain: an open h2c connection gets GOAWAY, the stream in flight completes', async () => {
  const { port, proxy, release, slowArrived } = await setup();
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  cleanups.push(() => client.close());
  await request(client, { ':method': 'GET', ':path': '/warm', ':authority': 'api.shop' });
  const inFlight = request(client, { ':method': 'GET', ':path': '/slow', ':authority': 'api.shop' });
  const goaway = new Promise<number>((r) => client.once('goaway', (code: number) => r(code)));
  await slowArrived; // the stream is in flight at the app when the drain starts
  const drained = proxy.drain(10_000);
  assert.equal(await goaway, 0, 'GOAWAY(NO_ERROR)');
  release();
  const answer = await inFlight;
  assert.equal(answer.headers[':status'], 200);
  assert.equal(answer.trailers['x-done'], 'yes');
  await drained;
});
