// `weft proxy --bootstrap FILE` as a real process: invalid files fail with file:line, the admin server
// answers /live /ready /metrics /config_dump /certs (no private key anywhere), and SIGTERM drains:
// new connections are refused, an in-flight request still completes, the process exits 0.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startHttpServer, collect } from '../support/servers.ts';
import { makeTestPki } from '../support/pki.ts';

const root = new URL('../..', import.meta.url).pathname;
const weft = join(root, 'bin', 'weft.js');
const dir = mkdtempSync(join(tmpdir(), 'weft-proxy-cli-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function runWeft(args: string[]): { child: ChildProcess; firstLine: Promise<string>; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [weft, ...args], { env: { ...process.env, WEFT_FROM_SOURCE: '1', WEFT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const rl = createInterface({ input: child.stdout! });
  const firstLine = new Promise<string>((resolve) => rl.once('line', resolve));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, firstLine, exit, stderr: () => err };
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => void collect(res).then((b) => resolve({ status: res.statusCode!, body: b.toString(), headers: res.headers }))).on('error', reject);
  });
}

test('an invalid bootstrap exits 1 and names file, line and field', async () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'workload:\n  name: web\n  inbound:\n    mtlsMode: DISABLED\n    ports: []\nclusters:\n  - name: c\n    lb: fastest\n    endpoints: []\n');
  const r = runWeft(['proxy', '--bootstrap', file]);
  assert.equal(await r.exit, 1);
  assert.match(r.stderr(), /bad\.yaml:8:\d+ clusters\[0\]\.lb: expected one of p2c-ewma \| round-robin \| ring-hash/);
});

test('admin endpoints, then SIGTERM drains in-flight requests and exits 0', async () => {
  let release: (() => void) | undefined;
  const app = await startHttpServer((req, res) => {
    if (req.url === '/slow') {
      release = () => res.end('slow-done');
      return;
    }
    res.end('fast');
  });
  const pki = await makeTestPki({ trustDomain: 'test.local' });
  const id = await pki.issue('shop/web');
  writeFileSync(join(dir, 'cert.pem'), id.certChainPem);
  writeFileSync(join(dir, 'key.pem'), id.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'bundle.pem'), pki.bundlePem);
  const file = join(dir, 'proxy.yaml');
  writeFileSync(
    file,
    `workload:
  name: web
  namespace: shop
  trustDomain: test.local
  identity: { certChainFile: cert.pem, keyFile: key.pem, trustBundleFile: bundle.pem }
  inbound: { mtlsMode: PERMISSIVE, ports: [{ port: ${app.port}, protocol: http1 }] }
listeners:
  outbound: { address: 127.0.0.1, port: 0 }
  inbound: { address: 127.0.0.1, port: 0 }
  admin: { address: 127.0.0.1, port: 0 }
services:
  - name: legacy
    ports: [{ port: 80, protocol: http1, cluster: legacy }]
clusters:
  - name: legacy
    endpoints: [{ address: 127.0.0.1, port: ${app.port} }]
drainTimeoutMs: 5000
`,
  );
  const r = runWeft(['proxy', '--bootstrap', file]);
  const listening = JSON.parse(await r.firstLine);
  assert.equal(listening.event, 'listening');
  const admin = listening.admin as number;
  assert.equal((await get(admin, '/live')).status, 200);
  assert.equal((await get(admin, '/ready')).status, 200);
  assert.equal((await get(listening.outbound, '/x', { host: 'legacy' })).body, 'fast');
  const metrics = await get(admin, '/metrics');
  assert.match(metrics.body, /weft_proxy_requests_total\{direction="outbound",status="200"\} 1/);
  assert.match(metrics.body, /weft_proxy_active_connections\{listener="outbound"\}/);
  const dump = await get(admin, '/config_dump');
  const parsed = JSON.parse(dump.body);
  assert.equal(parsed.clusters[0].name, 'legacy');
  assert.ok(!dump.body.includes('PRIVATE KEY'), 'no key material in /config_dump');
  const certs = JSON.parse((await get(admin, '/certs')).body);
  assert.equal(certs.identity.spiffeId, 'spiffe://test.local/ns/shop/sa/web');
  assert.ok(certs.identity.expiresInSeconds > 0);
  assert.ok(!JSON.stringify(certs).includes('PRIVATE KEY'));

  // An in-flight request survives SIGTERM; new connections are refused; exit 0.
  const slow = get(listening.outbound, '/slow', { host: 'legacy' });
  while (release === undefined) await new Promise((res) => setTimeout(res, 10));
  r.child.kill('SIGTERM');
  await new Promise((res) => setTimeout(res, 300));
  await assert.rejects(get(listening.outbound, '/y', { host: 'legacy' }), /ECONNREFUSED|ECONNRESET|socket hang up/);
  const ready = await get(admin, '/ready');
  assert.equal(ready.status, 503, 'not ready while draining');
  assert.match(ready.body, /draining/);
  release();
  const done = await slow;
  assert.equal(done.body, 'slow-done');
  assert.equal(done.headers.connection, 'close');
  assert.equal(await r.exit, 0);
  await app.close();
});
