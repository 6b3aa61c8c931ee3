// The HTTP/2 hop between proxies (peerProtocol h2): many downstream connections and streams share one
// mTLS connection. Regression tests for the stall and the corrupted responses that HTTP/1 clients in
// another process saw (a request read while the previous response was ending left the client socket
// paused for good; a response DATA frame that node delivered before its 'response' event was written
// before the head) — the second shows only with the proxies in separate processes, so one test runs
// the outbound proxy as its own `weft proxy` process — plus h2c and gRPC concurrency over the same
// single connection.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { identitySpec, startProxy, startProxyPair, type ProxyPair } from '../support/proxies.ts';
import { makeTestPki } from '../support/pki.ts';
import { collect, startH2cServer } from '../support/servers.ts';
import { startGrpcEcho, EchoClient, type EchoClientInstance } from '../support/grpc-echo.ts';
import { expectedBody, type LoadResult } from '../support/http1-load-client.ts';
import { waitFor } from '../support/wait.ts';

const loadClient = fileURLToPath(new URL('../support/http1-load-client.ts', import.meta.url));
const weftBin = fileURLToPath(new URL('../../bin/weft.js', import.meta.url));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** mTLS connections the server-side proxy accepted, and h2 sessions the client-side proxy holds. */
function peerConnections(pair: ProxyPair): { accepted: number; pooled: number } {
  return { accepted: pair.server.ctx.metrics.connections.get({ listener: 'inbound' }), pooled: pair.client.ctx.meshPool.size };
}

/** Runs the HTTP/1 load client in a child process; a generous backstop turns a stall into a failure. */
function runLoadClient(port: number, connections: number, perConnection: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', loadClient, String(port), 'catalog', String(connections), String(perConnection)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const backstop = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('exit', (code, signal) => {
      clearTimeout(backstop);
      if (signal === 'SIGKILL') return reject(new Error(`the HTTP/1 clients stalled: not done after 90 s (${connections} connections × ${perConnection} requests)`));
      if (code !== 0) return reject(new Error(`load client exited with ${code}: ${err}`));
      resolve(JSON.parse(out) as LoadResult);
    });
  });
}

/** The app behind the server proxy: answers what http1-load-client.ts expects. */
async function startLoadApp(): Promise<http.Server> {
  const app = http.createServer((req, res) => {
    void collect(req).then((body) => {
      const text = expectedBody(req.method!, req.url!, body.toString());
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  return app;
}

test('HTTP/1 clients in another process, 16 keep-alive connections: every request answered right, over one h2 mTLS connection', async () => {
  const app = await startLoadApp();
  const pair = await startProxyPair({ appPort: (app.address() as { port: number }).port, peerProtocol: 'h2' });
  try {
    const connections = 16;
    const perConnection = 250;
    const result = await runLoadClient(pair.outboundPort, connections, perConnection);
    assert.deepEqual(result, { ok: connections * perConnection, bad: 0, problems: [] });
    assert.deepEqual(peerConnections(pair), { accepted: 1, pooled: 1 });
  } finally {
    await pair.close();
    app.close();
  }
});

test('client, outbound proxy, inbound proxy and app in separate processes (as deployed): HTTP/1 over one h2 mTLS connection, no stall, no corrupted response', async () => {
  const app = await startLoadApp();
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const serverIdentity = await pki.issue('shop/catalog');
  const clientIdentity = await pki.issue('shop/web');
  const appPort = (app.address() as net.AddressInfo).port;
  const server = await startProxy({
    workload: { name: 'catalog', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(serverIdentity), inbound: { mtlsMode: 'STRICT', ports: [{ port: appPort, protocol: 'http1' }] } },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
  });
  const dir = mkdtempSync(join(tmpdir(), 'weft-h2-peer-'));
  const bootstrap = join(dir, 'outbound.json');
  writeFileSync(
    bootstrap,
    JSON.stringify({
      workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(clientIdentity), inbound: { mtlsMode: 'STRICT', ports: [] } },
      listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
      services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'catalog' }] }],
      clusters: [{ name: 'catalog', peerProtocol: 'h2', endpoints: [{ address: '127.0.0.1', port: appPort, proxyPort: server.addresses.inbound!.port, spiffeId: serverIdentity.spiffeId }] }],
    }),
    { mode: 0o600 },
  );
  const outbound = spawn(process.execPath, [weftBin, 'proxy', '--bootstrap', bootstrap], { env: { ...process.env, WEFT_FROM_SOURCE: '1', WEFT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(outbound);
  let stderr = '';
  outbound.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const firstLine = await new Promise<string>((resolve, reject) => {
      createInterface({ input: outbound.stdout! }).once('line', resolve);
      outbound.once('exit', (code) => reject(new Error(`weft proxy exited with ${code}: ${stderr}`)));
    });
    const { outbound: outboundPort } = JSON.parse(firstLine) as { outbound: number };
    const connections = 16;
    const perConnection = 250;
    const result = await runLoadClient(outboundPort, connections, perConnection);
    assert.deepEqual(result, { ok: connections * perConnection, bad: 0, problems: [] });
    assert.equal(server.ctx.metrics.connections.get({ listener: 'inbound' }), 1, 'one mTLS connection carried every request');
  } finally {
    outbound.kill('SIGKILL');
    await server.close();
    app.close();
  }
});

test('h2c: 200 concurrent streams from two client connections share one h2 mTLS connection, bodies intact', async () => {
  const app = await startH2cServer();
  const pair = await startProxyPair({ appPort: app.port, appProtocol: 'http2' });
  const sessions = [http2.connect(`http://127.0.0.1:${pair.outboundPort}`), http2.connect(`http://127.0.0.1:${pair.outboundPort}`)];
  try {
    const one = (i: number): Promise<void> => {
      const session = sessions[i % 2]!;
      const sent = `stream-${i}-`.repeat(1 + (i % 50) * 40);
      const stream = session.request({ ':method': 'POST', ':path': `/s/${i}`, ':authority': 'catalog' });
      stream.end(sent);
      return new Promise<void>((resolve, reject) => {
        stream.on('response', (h) => {
          void collect(stream).then((body) => {
            try {
              assert.equal(h[':status'], 200);
              assert.equal(body.toString(), sent, `body of stream ${i}`);
              resolve();
            } catch (e) {
              reject(e as Error);
            }
          }, reject);
        });
        stream.on('error', reject);
      });
    };
    await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
    assert.deepEqual(peerConnections(pair), { accepted: 1, pooled: 1 });
  } finally {
    for (const s of sessions) s.destroy();
    await pair.close();
    await app.close();
  }
});

test('gRPC: concurrent unary calls and bidi streams share one h2 mTLS connection, in order and intact', async () => {
  const app = await startGrpcEcho();
  const pair = await startProxyPair({ appPort: app.port, appProtocol: 'grpc', upstreamListener: true, servicePort: 9090 });
  const client = new EchoClient(`127.0.0.1:${pair.upstreamPort}`, grpc.credentials.createInsecure()) as EchoClientInstance;
  try {
    const unary = (i: number) =>
      new Promise<string>((resolve, reject) =>
        client.Unary!(Buffer.from(`unary-${i}`), (e: grpc.ServiceError | null, v: Buffer) => (e ? reject(e) : resolve(v.toString()))),
      );
    const bidi = (tag: string, n: number) =>
      new Promise<string[]>((resolve, reject) => {
        const call = client.Bidi!();
        const got: string[] = [];
        call.on('data', (b: Buffer) => got.push(b.toString()));
        call.on('end', () => resolve(got));
        call.on('error', reject);
        for (let i = 0; i < n; i++) call.write(Buffer.from(`${tag}-${i}`));
        call.end();
      });
    const [unaries, streams] = await Promise.all([
      Promise.all(Array.from({ length: 60 }, (_, i) => unary(i))),
      Promise.all([bidi('a', 40), bidi('b', 40), bidi('c', 40)]),
    ]);
    assert.deepEqual(unaries, Array.from({ length: 60 }, (_, i) => `unary-${i}`));
    for (const [k, tag] of ['a', 'b', 'c'].entries()) assert.deepEqual(streams[k], Array.from({ length: 40 }, (_, i) => `echo:${tag}-${i}`));
    assert.deepEqual(peerConnections(pair), { accepted: 1, pooled: 1 });
  } finally {
    client.close();
    await pair.close();
    await app.close();
  }
});


test('a keep-alive connection keeps working after a large request body on both peer protocols (backpressure on the last body chunk)', async () => {
  const app = http.createServer((req, res) => {
    void collect(req).then((b) => {
      const text = `got ${req.method} ${b.length}`;
      res.writeHead(200, { 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  after(() => app.close());
  for (const peerProtocol of ['h2', 'http1'] as const) {
    const pair = await startProxyPair({ appPort: (app.address() as net.AddressInfo).port, peerProtocol });
    const s = net.connect(pair.outboundPort, '127.0.0.1');
    let seen = '';
    s.on('data', (d: Buffer) => (seen += d.toString('latin1')));
    try {
      for (const size of [20_000, 300_000]) {
        s.write(`POST /up HTTP/1.1\r\nhost: catalog\r\ncontent-length: ${size}\r\n\r\n` + 'x'.repeat(size));
        await waitFor(() => seen.includes(`got POST ${size}`), `${peerProtocol}: the ${size}-byte upload answered`, 20_000);
        // The next request on the same connection must be read: before the fix the socket stayed
        // paused for the upload's backpressure, and this GET was never answered.
        s.write('GET /next HTTP/1.1\r\nhost: catalog\r\n\r\n');
        await waitFor(() => seen.split('got GET 0').length - 1 === (size === 20_000 ? 1 : 2), `${peerProtocol}: the GET after the ${size}-byte upload answered`, 20_000);
      }
    } finally {
      s.destroy();
      await pair.close();
    }
  }
});

test('a 304 bridged over the h2 peer hop reaches an HTTP/1 client without an invented Content-Length, and the connection stays usable', async () => {
  const app = http.createServer((req, res) => {
    req.resume();
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
    } else {
      res.writeHead(200, { etag: '"v1"', 'content-length': 5 });
      res.end('hello');
    }
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  after(() => app.close());
  const pair = await startProxyPair({ appPort: (app.address() as net.AddressInfo).port, peerProtocol: 'h2' });
  const s = net.connect(pair.outboundPort, '127.0.0.1');
  let seen = '';
  s.on('data', (d: Buffer) => (seen += d.toString('latin1')));
  try {
    s.write('GET /doc HTTP/1.1\r\nhost: catalog\r\nif-none-match: "v1"\r\n\r\n');
    await waitFor(() => seen.includes('\r\n\r\n'), 'the 304 head arrived', 20_000);
    const head304 = seen.slice(0, seen.indexOf('\r\n\r\n')).toLowerCase();
    assert.match(head304, /^http\/1\.1 304/);
    assert.doesNotMatch(head304, /content-length/, head304);
    s.write('GET /doc HTTP/1.1\r\nhost: catalog\r\n\r\n');
    await waitFor(() => seen.endsWith('hello'), 'the next request on the same connection answered with its body', 20_000);
  } finally {
    s.destroy();
    await pair.close();
  }
});
