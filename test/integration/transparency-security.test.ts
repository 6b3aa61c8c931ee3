// The inbound port refuses whoever is not a mesh peer: `openssl s_client` without a mesh certificate,
// plaintext in STRICT mode, another trust domain, a peer outside allowedPeers; the outbound side
// refuses a server whose SPIFFE ID is not the expected one. PERMISSIVE accepts plaintext too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { startHttpServer, collect } from '../support/servers.ts';
import { startProxyPair, startProxy, identitySpec, type ProxyPair } from '../support/proxies.ts';
import { makeTestPki, makeForeignIdentity, type TestPki } from '../support/pki.ts';

let app: Awaited<ReturnType<typeof startHttpServer>>;
let pki: TestPki;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  app = await startHttpServer();
  pki = await makeTestPki({ trustDomain: 'test.local' });
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await app.close();
});

async function pair(o: Partial<Parameters<typeof startProxyPair>[0]> = {}): Promise<ProxyPair> {
  const p = await startProxyPair({ appPort: app.port, pki, ...o });
  cleanups.push(() => p.close());
  return p;
}

function get(port: number, host = 'catalog'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/sec', headers: { host }, agent: false }, (res) => {
        void collect(res).then((b) => resolve({ status: res.statusCode!, headers: res.headers, body: b.toString() }));
      })
      .on('error', reject);
  });
}

/** Sends plaintext HTTP straight to a port and returns whatever comes back before close. */
function rawPlaintext(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write("GET / HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n"));
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

test('openssl s_client without a mesh certificate is refused at the inbound port', async () => {
  const p = await pair();
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${p.inboundPort}`, '-tls1_3', '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.write('GET / HTTP/1.1\r\nHost: catalog\r\n\r\n');
    setTimeout(() => child.stdin.end(), 500);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    setTimeout(() => child.kill(), 5000).unref();
  });
  assert.doesNotMatch(out.stdout, /HTTP\/1\.1 200/);
  assert.match(out.stderr, /alert|certificate required|error/i);
  assert.equal(app.requests.filter((r) => r.path === '/' ).length, 0);
});

test('STRICT: plaintext HTTP to the inbound port gets no answer; PERMISSIVE: it reaches the app', async () => {
  const strict = await pair({ mtlsMode: 'STRICT' });
  assert.equal(await rawPlaintext(strict.inboundPort), '');
  const permissive = await pair({ mtlsMode: 'PERMISSIVE' });
  const reply = await rawPlaintext(permissive.inboundPort);
  assert.match(reply, /^HTTP\/1\.1 200/);
  // and mesh traffic still works on the same port
  const viaMesh = await get(permissive.outboundPort);
  assert.equal(viaMesh.status, 200);
});

test('a client from another trust domain is refused (its request fails with TLS_HANDSHAKE_FAILED)', async () => {
  const foreign = await makeForeignIdentity('shop/web', 'evil.example');
  const p = await pair({ clientIdentity: Object.freeze({ ...foreign, trustBundlePem: foreign.trustBundlePem + pki.bundlePem }) as typeof foreign });
  const res = await get(p.outboundPort);
  assert.equal(res.status, 502);
  assert.match(String(res.headers['weft-error']), /^(TLS_HANDSHAKE_FAILED|UPSTREAM_RESET);/);
});

test('allowedPeers: an mTLS peer with a valid but unlisted SPIFFE ID is refused', async () => {
  const p = await pair({ allowedPeers: ['spiffe://test.local/ns/shop/sa/checkout'] });
  const res = await get(p.outboundPort);
  assert.equal(res.status, 502);
  assert.ok(res.headers['weft-error']);
  const ok = await pair({ allowedPeers: ['spiffe://test.local/ns/shop/*'] });
  assert.equal((await get(ok.outboundPort)).status, 200);
});

test('outbound refuses a server whose SPIFFE ID is not the expected one: 502 PEER_IDENTITY_MISMATCH', async () => {
  const real = await pair();
  const client = await startProxy({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(real.clientIdentity) },
    listeners: { outbound: { port: 0 }, inbound: null, admin: null },
    services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: 80, protocol: 'http1', cluster: 'c' }] }],
    clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: app.port, proxyPort: real.inboundPort, spiffeId: 'spiffe://test.local/ns/shop/sa/payments' }] }],
  });
  cleanups.push(() => client.close());
  const res = await get(client.addresses.outbound!.port);
  assert.equal(res.status, 502);
  assert.match(String(res.headers['weft-error']), /^PEER_IDENTITY_MISMATCH; /);
  assert.match(String(res.headers['weft-error']), /payments/);
});

test('identity renewal: the inbound port presents the new certificate to new connections', async () => {
  const p = await pair();
  const serialOf = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: p.inboundPort, key: p.clientIdentity.keyPem, cert: p.clientIdentity.certChainPem, ca: pki.bundlePem, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }, () => {
        resolve(s.getPeerCertificate().serialNumber.toLowerCase());
        s.destroy();
      });
      s.on('error', reject);
    });
  assert.equal(await serialOf(), p.serverIdentity.serial);
  const renewed = await pki.issue('shop/catalog');
  p.server.ctx.identities.set(renewed);
  assert.equal(await serialOf(), renewed.serial);
  assert.notEqual(renewed.serial, p.serverIdentity.serial);
  // and mesh traffic keeps flowing with the renewed certificate
  assert.equal((await get(p.outboundPort)).status, 200);
});

test('a silent client at the inbound port is cut off after the handshake deadline', async () => {
  const p = await pair({ limits: { headerTimeoutMs: 300 } });
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const s = net.connect(p.inboundPort, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => resolve());
    setTimeout(() => s.destroy(), 5000).unref();
  });
  const ms = Date.now() - t0;
  assert.ok(ms >= 250 && ms < 2000, `closed after ${ms} ms`);
  // a real peer still gets through
  assert.equal((await get(p.outboundPort)).status, 200);
});
