// Regression tests for the review of the proxy code around weft's own HTTP/2 codec (the shared
// connection between two proxies): slow readers must not stall other streams (H3), one client must
// not be able to kill the shared connection with resets or bad trailers (H2, L1), a retry must not
// lose request body bytes (H1), a burst onto a cold session must not fail (M2), and a black-holed
// peer connection must be noticed (M1). Real proxies on 127.0.0.1; no timing assertions.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type http from 'node:http';
import http2 from 'node:http2';
import { identitySpec, startProxy, startProxyPair } from '../support/proxies.ts';
import { startHeldRelay } from '../support/relay.ts';
import { makeTestPki } from '../support/pki.ts';
import { startHttpServer } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** One HTTP/1 request on a fresh connection (connection: close); resolves with the status line or '(closed)'. */
function oneRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let seen = '';
    s.on('data', (d: Buffer) => (seen += d.toString('latin1')));
    s.on('error', () => {});
    // A failure guard only: a stalled request fails the test instead of hanging it.
    const guard = setTimeout(() => {
      resolve('NO ANSWER within 20 s');
      s.destroy();
    }, 20_000);
    s.on('close', () => {
      clearTimeout(guard);
      resolve(seen.split('\r\n')[0] || '(closed)');
    });
    cleanups.push(() => s.destroy());
  });
}

/** Waits until `total()` stops changing for a few polls (the stalled transfers have filled every buffer). */
async function settled(total: () => number, what: string): Promise<void> {
  let last = -1;
  let stable = 0;
  await waitFor(() => {
    const now = total();
    stable = now === last ? stable + 1 : 0;
    last = now;
    return stable >= 5;
  }, { what, intervalMs: 100, timeoutMs: 30_000 });
}

test('H3: twenty clients that never read their 48 MiB downloads do not stall a healthy GET on the same peer connection', async () => {
  const size = 48 << 20;
  const piece = Buffer.alloc(64 << 10, 0x61);
  let started = 0;
  let cutOff = 0; // slow downloads that ended early (e.g. request timeout) — the healthy GET must not need that
  let accepted = 0; // bytes the app's sockets took (back-pressure stops it once every buffer is full)
  const app = await startHttpServer((req, res) => {
    if (req.url !== '/big') {
      res.writeHead(200, { 'content-length': '5' });
      res.end('small');
      return;
    }
    started++;
    res.on('close', () => {
      if (!res.writableFinished) cutOff++;
    });
    res.writeHead(200, { 'content-length': String(size) });
    let left = size;
    const pump = (): void => {
      while (left > 0) {
        left -= piece.length;
        const more = res.write(piece);
        if (more) accepted += piece.length;
        else {
          res.once('drain', () => {
            accepted += piece.length;
            pump();
          });
          return;
        }
      }
      res.end();
    };
    pump();
  });
  cleanups.push(() => app.close());
  // A request timeout longer than the test: the slow downloads are not cut off while it runs.
  const pair = await startProxyPair({ appPort: app.port, cluster: { requestTimeoutMs: 120_000 } });
  cleanups.push(() => pair.close());
  const slow = 20;
  for (let i = 0; i < slow; i++) {
    const s = net.connect(pair.outboundPort, '127.0.0.1', () => s.write('GET /big HTTP/1.1\r\nhost: catalog\r\n\r\n'));
    s.pause(); // never reads
    s.on('error', () => {});
    cleanups.push(() => s.destroy());
  }
  await waitFor(() => started === slow, 'the app to start every /big answer');
  await settled(() => accepted, 'the stalled downloads to fill every buffer');
  const status = await oneRequest(pair.outboundPort, 'GET /small HTTP/1.1\r\nhost: catalog\r\nconnection: close\r\n\r\n');
  assert.equal(status, 'HTTP/1.1 200 OK');
  assert.equal(cutOff, 0, 'answered while the slow readers still hold their streams (not after they timed out)');
});

test('H3: twenty uploads to an app that never reads do not stall a healthy POST on the same peer connection', async () => {
  const uploads: http.IncomingMessage[] = [];
  const app = await startHttpServer(undefined, {
    streaming: (req, res) => {
      if (req.url === '/upload') {
        uploads.push(req);
        req.pause();
        return; // never reads, never answers
      }
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-length': '5' });
        res.end('small');
      });
    },
  });
  cleanups.push(() => app.close());
  const pair = await startProxyPair({ appPort: app.port });
  cleanups.push(() => pair.close());
  const n = 20;
  const chunk = Buffer.alloc(64 << 10, 0x61);
  const senders: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(pair.outboundPort, '127.0.0.1', () => {
      s.write(`POST /upload HTTP/1.1\r\nhost: catalog\r\ncontent-length: ${64 << 20}\r\n\r\n`);
      const pump = (): void => {
        while (s.write(chunk));
      };
      s.on('drain', pump);
      pump();
    });
    s.on('error', () => {});
    senders.push(s);
    cleanups.push(() => s.destroy());
  }
  await waitFor(() => uploads.length === n, 'every upload to reach the app');
  await settled(() => senders.reduce((t, s) => t + s.bytesWritten - s.writableLength, 0), 'the stalled uploads to fill every buffer');
  const status = await oneRequest(pair.outboundPort, 'POST /small HTTP/1.1\r\nhost: catalog\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello');
  assert.equal(status, 'HTTP/1.1 200 OK');
});

/** A raw HTTP/1 exchange on a fresh connection; resolves with everything read (latin1). */
function exchange(port: number, request: string): { socket: net.Socket; done: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
  let seen = '';
  socket.on('data', (d: Buffer) => (seen += d.toString('latin1')));
  socket.on('error', () => {});
  cleanups.push(() => socket.destroy());
  return { socket, done: new Promise((resolve) => socket.on('close', () => resolve(seen))) };
}

test('L1: request trailers with connection-specific fields are dropped, not forwarded (the peer would reset the stream)', async () => {
  const app = await startHttpServer();
  cleanups.push(() => app.close());
  const pair = await startProxyPair({ appPort: app.port });
  cleanups.push(() => pair.close());
  for (const trailer of ['keep-alive: timeout=5', 'upgrade: foo', 'proxy-connection: x', 'connection: x-secret\r\nx-secret: 1']) {
    const before = app.requests.length;
    const status = await oneRequest(pair.outboundPort, `POST /t HTTP/1.1\r\nhost: catalog\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\n${trailer}\r\n\r\n`);
    assert.equal(status, 'HTTP/1.1 200 OK', `trailer ${JSON.stringify(trailer)}`);
    assert.equal(app.requests.length, before + 1);
    const got = app.requests[before]!;
    assert.equal(got.body.toString(), 'hello');
    assert.equal(got.trailers['x-checksum'], 'abc', 'ordinary trailers still arrive');
    for (const name of ['keep-alive', 'upgrade', 'proxy-connection', 'connection', 'x-secret']) assert.equal(got.trailers[name], undefined, `${name} must not be forwarded`);
  }
});

test('H2: 210 requests with bad trailers and 250 clients that reset their requests do not fail an unrelated request in flight on the shared connection', async () => {
  const held: http.ServerResponse[] = [];
  let patientResponse: http.ServerResponse | null = null;
  let seen = 0;
  const app = await startHttpServer((req, res) => {
    seen++;
    if (req.url === '/slow') patientResponse = res;
    else if (req.url === '/hold') held.push(res);
    else {
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
    }
  });
  cleanups.push(() => app.close());
  const pair = await startProxyPair({ appPort: app.port });
  cleanups.push(() => pair.close());
  assert.equal(await oneRequest(pair.outboundPort, 'GET / HTTP/1.1\r\nhost: catalog\r\nconnection: close\r\n\r\n'), 'HTTP/1.1 200 OK');
  const patient = exchange(pair.outboundPort, 'GET /slow HTTP/1.1\r\nhost: catalog\r\nconnection: close\r\n\r\n');
  await waitFor(() => patientResponse !== null, 'the patient request to reach the app');
  // Clients that give up (TCP reset) once the app has their request: the bridge cancels the streams,
  // which the peer counts toward its rapid-reset budget (200 per 10 s by default).
  for (let i = 0; i < 250; i += 50) {
    const batch = Array.from({ length: 50 }, () => exchange(pair.outboundPort, 'GET /hold HTTP/1.1\r\nhost: catalog\r\nconnection: close\r\n\r\n'));
    const want = held.length + 50;
    await waitFor(() => held.length >= want, 'the app to hold the batch');
    for (const c of batch) c.socket.resetAndDestroy();
    await Promise.all(batch.map((c) => c.done));
  }
  // Malformed-for-HTTP/2 trailers (L1): each would be reset by the peer before it is answered.
  const bad = 'POST /t HTTP/1.1\r\nhost: catalog\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n1\r\nx\r\n0\r\nkeep-alive: 1\r\n\r\n';
  for (let i = 0; i < 210; i += 30) await Promise.all(Array.from({ length: 30 }, () => oneRequest(pair.outboundPort, bad)));
  assert.ok(seen > 250);
  const res = patientResponse! as http.ServerResponse;
  res.writeHead(200, { 'content-length': '7' });
  res.end('patient');
  const answer = await patient.done;
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/, answer.split('\r\n')[0]);
  assert.ok(answer.endsWith('patient'));
  assert.equal(await oneRequest(pair.outboundPort, 'GET / HTTP/1.1\r\nhost: catalog\r\nconnection: close\r\n\r\n'), 'HTTP/1.1 200 OK', 'the next request is served (on a new session)');
});

test('H1: a retry after a refused stream keeps the request body bytes that arrive while it waits for a session (h2c client → Exchange path)', async () => {
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const idA = await pki.issue('shop/catalog-a');
  const idB = await pki.issue('shop/catalog');
  const idC = await pki.issue('shop/web');
  // A: a peer that refuses every stream unprocessed (RST_STREAM REFUSED_STREAM).
  const fakeA = http2.createSecureServer({ key: idA.keyPem, cert: idA.certChainPem, ca: pki.bundlePem, requestCert: true, ALPNProtocols: ['h2'] });
  let refusedByA = 0;
  fakeA.on('stream', (s) => {
    refusedByA++;
    s.on('error', () => {});
    s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  });
  fakeA.on('sessionError', () => {});
  await new Promise<void>((r) => fakeA.listen(0, '127.0.0.2', () => r()));
  cleanups.push(() => fakeA.close());
  const portA = (fakeA.address() as net.AddressInfo).port;
  // B: the real server-side proxy in front of an echo app, behind a relay that connects only when told.
  const app = await startHttpServer();
  cleanups.push(() => app.close());
  const server = await startProxy({
    workload: { name: 'catalog', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(idB), inbound: { mtlsMode: 'STRICT', ports: [{ port: app.port, protocol: 'http1' }] } },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: { port: 0 } },
  });
  cleanups.push(() => server.close());
  const relay = await startHeldRelay(() => server.addresses.inbound!.port);
  cleanups.push(() => relay.close());
  const waitingAtRelay = relay.waiting;
  const portB = relay.port;
  let checked = 0;
  // Round robin may start on either endpoint: a trial counts when A refused first.
  for (let trial = 0; trial < 6 && checked === 0; trial++) {
    const before = refusedByA;
    const connectsBefore = waitingAtRelay.length;
    const client = await startProxy({
      workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(idC), inbound: { mtlsMode: 'STRICT', ports: [] } },
      listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: { port: 0 } },
      services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http2', cluster: 'catalog' }] }],
      clusters: [
        {
          name: 'catalog',
          lb: 'round-robin',
          endpoints: [
            { address: '127.0.0.2', port: app.port, proxyPort: portA, spiffeId: idA.spiffeId },
            { address: '127.0.0.1', port: app.port, proxyPort: portB, spiffeId: idB.spiffeId },
          ],
        },
      ],
    });
    const h2 = http2.connect(`http://127.0.0.1:${client.addresses.outbound!.port}`);
    h2.on('error', () => {});
    const req = h2.request({ ':method': 'POST', ':path': '/up', ':authority': 'catalog' }, { endStream: false });
    const answer = new Promise<{ status: number; body: string }>((resolve) => {
      let status = 0;
      let body = '';
      req.on('response', (h) => (status = h[':status'] as number));
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => resolve({ status, body }));
      req.on('error', () => resolve({ status: -1, body }));
    });
    // Wait until the request went somewhere: A refused it, or B's connection waits at the relay.
    await waitFor(() => refusedByA > before || waitingAtRelay.length > connectsBefore, 'the first attempt');
    const aFirst = refusedByA > before;
    // Still connecting to B: these bytes arrive between the attempts.
    if (aFirst) await waitFor(() => waitingAtRelay.length > connectsBefore, 'the retry to connect to B');
    req.write('AAAA');
    await new Promise((r) => setImmediate(r));
    for (const open of waitingAtRelay.splice(0)) open();
    req.end('BBBB');
    const { status, body } = await answer;
    if (aFirst) {
      assert.equal(status, 200);
      assert.equal(JSON.parse(body).body, 'AAAABBBB', 'every body byte reaches the app');
      checked++;
    }
    h2.close();
    await client.close();
  }
  assert.equal(checked, 1, 'a trial where A refused first');
});

test('M2: a burst of 40 requests onto a cold session of a peer that allows 4 streams opens more sessions instead of answering 502', async () => {
  const waiting: http.ServerResponse[] = [];
  const n = 40;
  const app = await startHttpServer((_req, res) => {
    waiting.push(res);
    // Answer only once every request is at the app: they must all be in flight at once.
    if (waiting.length === n) {
      for (const r of waiting) {
        r.writeHead(200, { 'content-length': '2' });
        r.end('ok');
      }
    }
  });
  cleanups.push(() => app.close());
  const pair = await startProxyPair({ appPort: app.port, limits: { maxConcurrentStreams: 4 } });
  cleanups.push(() => pair.close());
  const statuses = await Promise.all(Array.from({ length: n }, () => oneRequest(pair.outboundPort, 'GET /x HTTP/1.1\r\nhost: catalog\r\nconnection: close\r\n\r\n')));
  assert.deepEqual(statuses, Array.from({ length: n }, () => 'HTTP/1.1 200 OK'));
});

test('M1: a peer connection that goes silent (black-holed) is probed with a PING and replaced; requests are served again', async () => {
  const app = await startHttpServer();
  cleanups.push(() => app.close());
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const pair = await startProxyPair({ appPort: app.port, pki });
  cleanups.push(() => pair.close());
  // A TCP relay between the proxies that can black-hole its first connection (no FIN, no RST).
  let frozen = false;
  const conns: net.Socket[] = [];
  const relay = net.createServer((down) => {
    const up = net.connect(pair.inboundPort, '127.0.0.1');
    const first = conns.length === 0;
    conns.push(down, up);
    down.on('data', (d: Buffer) => {
      if (!(frozen && first)) up.write(d);
    });
    up.on('data', (d: Buffer) => {
      if (!(frozen && first)) down.write(d);
    });
    down.on('error', () => {});
    up.on('error', () => {});
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => {
    for (const c of conns) c.destroy();
    relay.close();
  });
  const relayPort = (relay.address() as net.AddressInfo).port;
  // Request timeout 1 s: a peer session that read nothing for that long (liveness = the request timeout, at most 10 s) is probed.
  const client = await startProxy({
    workload: { name: 'web2', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(pair.clientIdentity), inbound: { mtlsMode: 'STRICT', ports: [] } },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: { port: 0 } },
    services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'catalog' }] }],
    clusters: [{ name: 'catalog', requestTimeoutMs: 1000, endpoints: [{ address: '127.0.0.1', port: app.port, proxyPort: relayPort, spiffeId: pair.serverIdentity.spiffeId }] }],
  });
  cleanups.push(() => client.close());
  const port = client.addresses.outbound!.port;
  const get = (): Promise<string> => oneRequest(port, 'GET /x HTTP/1.1\r\nhost: catalog\r\nconnection: close\r\n\r\n');
  assert.equal(await get(), 'HTTP/1.1 200 OK');
  frozen = true; // the existing connection now drops everything, both ways
  // Requests on the dead connection time out (504) until the pool notices; then one is served.
  const seen: string[] = [];
  for (let i = 0; i < 60; i++) {
    const status = await get();
    seen.push(status);
    if (status === 'HTTP/1.1 200 OK') break;
  }
  assert.equal(seen.at(-1), 'HTTP/1.1 200 OK', `statuses after the connection went silent: ${seen.join(', ')}`);
  assert.ok(conns.length >= 4, 'a new connection to the peer was opened');
});
