// Regression tests for the findings of the 25 Nov (session 4) review of the hot-path changes:
// F1 — an Upgrade that becomes a TCP tunnel (default h2 peer protocol) must not lose the client bytes
//      sent while the tunnel connects (takeOver left the socket flowing with no reader);
// F2 — idle h2c sessions from apps are closed after idleTimeoutMs on a proxy without an inbound
//      listener too (the own-codec idle sweep ran only when the inbound listener existed).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { startProxy, identitySpec } from '../support/proxies.ts';
import { makeTestPki } from '../support/pki.ts';
import { waitFor } from '../support/wait.ts';
import { startHeldRelay } from '../support/relay.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function listen(server: net.Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
}

test('F1: an Upgrade over the default h2 link keeps the client bytes sent while its tunnel connects', async () => {
  // The app answers 101 and echoes everything after the request head.
  const app = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    let upgraded = false;
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      if (upgraded) return void s.write(d);
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i === -1) return;
      upgraded = true;
      s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      if (buf.length > i + 4) s.write(buf.subarray(i + 4));
    });
  });
  const appPort = await listen(app);
  cleanups.push(() => app.close());
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const serverId = await pki.issue('shop/catalog');
  const clientId = await pki.issue('shop/web');
  const server = await startProxy({
    workload: { name: 'catalog', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(serverId), inbound: { mtlsMode: 'STRICT', ports: [{ port: appPort, protocol: 'http1' }] } },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
  });
  cleanups.push(() => server.close());
  // A relay in front of the peer's inbound port that connects only when told: the tunnel is "still connecting".
  const relay = await startHeldRelay(() => server.addresses.inbound!.port);
  cleanups.push(() => relay.close());
  const held = relay.waiting;
  const relayPort = relay.port;
  const client = await startProxy({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(clientId), inbound: { mtlsMode: 'STRICT', ports: [] } },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
    services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'catalog' }] }],
    clusters: [{ name: 'catalog', endpoints: [{ address: '127.0.0.1', port: appPort, proxyPort: relayPort, spiffeId: serverId.spiffeId }] }],
  });
  cleanups.push(() => client.close());
  const c = net.connect(client.addresses.outbound!.port, '127.0.0.1');
  c.on('error', () => {});
  cleanups.push(() => c.destroy());
  let seen = '';
  c.on('data', (d: Buffer) => (seen += d.toString('latin1')));
  await new Promise<void>((r) => c.once('connect', () => r()));
  c.write('GET /ws HTTP/1.1\r\nHost: catalog\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n[A]');
  // The proxy took the socket over and is connecting the tunnel (it waits at the relay).
  await waitFor(() => held.length > 0, 'the tunnel connecting to the peer');
  c.write('[B]');
  // Give the proxy time to read [B] while its tunnel still waits (the bug lost bytes read in this window).
  await new Promise((r) => setTimeout(r, 100));
  for (const open of held.splice(0)) open();
  await waitFor(() => seen.includes('[A]'), 'the 101 and the first echoed bytes');
  c.write('[C]');
  await waitFor(() => seen.includes('[C]'), 'bytes after the upgrade');
  assert.match(seen, /^HTTP\/1\.1 101 /);
  const echoed = seen.slice(seen.indexOf('\r\n\r\n') + 4);
  assert.equal(echoed, '[A][B][C]', 'every client byte reaches the app, in order');
});

test('F2: an idle h2c session from an app is closed after idleTimeoutMs on a proxy without an inbound listener', async () => {
  const app = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  });
  const appPort = await listen(app);
  cleanups.push(() => app.close());
  const p = await startProxy({
    workload: { name: 'web', namespace: 'shop' },
    listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: null },
    services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'catalog' }] }],
    clusters: [{ name: 'catalog', protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: appPort }] }],
    limits: { idleTimeoutMs: 500 },
  });
  cleanups.push(() => p.close());
  const session = http2.connect(`http://127.0.0.1:${p.addresses.outbound!.port}`);
  session.on('error', () => {});
  cleanups.push(() => session.destroy());
  let closedByProxy = false;
  session.on('goaway', () => (closedByProxy = true));
  session.on('close', () => (closedByProxy = true));
  const status = await new Promise<number>((resolve) => {
    const req = session.request({ ':path': '/', ':authority': 'catalog' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', () => resolve(-1));
    req.resume();
    req.end();
  });
  assert.equal(status, 200);
  await waitFor(() => closedByProxy, 'the proxy closing the idle h2c session', 10_000);
});
