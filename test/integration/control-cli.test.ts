// The whole path with real processes, as an operator runs it: `weft control --config --state`,
// `weft identity token` and `weft identity bundle` from the state directory, two `weft proxy
// --control` processes (certificates from the identity service with their token, config only over
// xDS), a request from one workload to the other over mTLS, then `weft status` and `weft config`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, namedApp, viaProxy } from '../support/mesh.ts';

const WEFT = join(import.meta.dirname, '..', '..', 'bin', 'weft.js');
const env = { ...process.env, WEFT_FROM_SOURCE: '1', WEFT_LOG_LEVEL: 'warn' };
const work = mkdtempSync(join(tmpdir(), 'weft-cli-cp-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

function weft(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [WEFT, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `weft …` and resolves with its first stdout line (parsed JSON). */
function start(...args: string[]): Promise<{ child: ChildProcess; first: any }> {
  const child = spawn(process.execPath, [WEFT, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => resolve({ child, first: JSON.parse(line) }));
    child.once('exit', (code) => reject(new Error(`weft ${args[0]} exited ${code}: ${stderr}`)));
  });
}

test('weft control + two weft proxy --control processes: mTLS traffic with xDS-only config; weft status and weft config', { timeout: 90_000 }, async () => {
  const config = join(work, 'config');
  const state = join(work, 'state');
  spawnSync('mkdir', ['-p', config]);
  writeFileSync(
    join(config, 'mesh.yaml'),
    `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: web}
spec: {ports: [{name: http, port: 80}]}
`,
  );
  const adminPort = await freePort();
  const cp = await start('control', '--config', config, '--state', state, '--host', '127.0.0.1', '--xds-port', '0', '--admin-port', String(adminPort));
  const control = `127.0.0.1:${cp.first.xds}`;
  const admin = `http://127.0.0.1:${adminPort}`;

  const bundle = weft('identity', 'bundle', '--state', state);
  assert.equal(bundle.code, 0, bundle.stderr);
  writeFileSync(join(work, 'ca.pem'), bundle.stdout);
  for (const sa of ['catalog', 'web']) {
    const t = weft('identity', 'token', '--state', state, '--namespace', 'default', '--service-account', sa);
    assert.equal(t.code, 0, t.stderr);
    writeFileSync(join(work, `${sa}.token`), t.stdout);
  }

  const app = await namedApp('catalog-app');
  after(() => app.close());
  const inbound = await freePort();
  writeFileSync(join(work, 'catalog.yaml'), `workload: {name: catalog, inbound: {ports: [{port: ${app.port}, protocol: http1}]}}\nlisteners: {outbound: null, inbound: {address: 127.0.0.1, port: ${inbound}}, admin: null}\n`);
  writeFileSync(join(work, 'web.yaml'), `workload: {name: web}\nlisteners: {outbound: {address: 127.0.0.1, port: 0}, inbound: null, admin: null}\n`);
  const catalog = await start('proxy', '--bootstrap', join(work, 'catalog.yaml'), '--control', control, '--token', join(work, 'catalog.token'), '--ca', join(work, 'ca.pem'), '--node-id', 'catalog-1');
  assert.equal(catalog.first.spiffeId, 'spiffe://cluster.local/ns/default/sa/catalog');
  const web = await start('proxy', '--bootstrap', join(work, 'web.yaml'), '--control', control, '--token', join(work, 'web.token'), '--ca', join(work, 'ca.pem'), '--node-id', 'web-1', '--upstreams', 'catalog');

  let res = await viaProxy(web.first.outbound, 'catalog', '/');
  for (let i = 0; i < 100 && res.body !== 'catalog-app'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    res = await viaProxy(web.first.outbound, 'catalog', '/');
  }
  assert.equal(res.status, 200);
  assert.equal(res.body, 'catalog-app');

  let status = weft('status', '--admin', admin);
  for (let i = 0; i < 50 && !/catalog-1.*SYNCED\n.*web-1.*SYNCED/s.test(status.stdout); i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = weft('status', '--admin', admin);
  }
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^NAME\s+KIND\s+WORKLOAD\s+MODE\s+CDS\s+EDS\s+LDS\s+RDS\s+STATUS/);
  assert.match(status.stdout, /catalog-1\s+sidecar\s+default\/catalog\s+delta\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED/);
  assert.match(status.stdout, /web-1\s+sidecar\s+-\s+delta(\s+SYNCED){5}/);

  const cfg = weft('config', 'web-1', '--admin', admin);
  assert.equal(cfg.code, 0, cfg.stderr);
  assert.deepEqual(JSON.parse(cfg.stdout).scope, ['default/catalog']);
  const sim = weft('config', 'web-1', '--admin', admin, '--authority', 'catalog', '--path', '/x');
  assert.equal(JSON.parse(sim.stdout).clusters[0].name, 'outbound|80||catalog.default');
  const missing = weft('config', 'nobody', '--admin', admin);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no connected proxy nobody/);
});
