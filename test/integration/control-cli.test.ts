// The whole path with real processes, as an operator runs it: `weft control --config --state`,
// `weft identity token` and `weft identity bundle` from the state directory, two `weft proxy
// --control` processes (certificates from the identity service with their token, config only over
// xDS), a request from one workload to the other over mTLS, then `weft status` and `weft config`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { namedApp, viaProxy } from '../support/mesh.ts';
import { eventually } from '../support/wait.ts';
import { servicesYaml } from '../support/control-plane.ts';
import { runWeft, WEFT_BIN, WEFT_ENV } from '../support/cli.ts';

const env = WEFT_ENV;
const work = mkdtempSync(join(tmpdir(), 'weft-cli-cp-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

const weft = (...args: string[]) => runWeft(args, { env });

/** Starts `weft …` and resolves with its first stdout line (parsed JSON). */
function start(...args: string[]): Promise<{ child: ChildProcess; first: any }> {
  const child = spawn(process.execPath, [WEFT_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  mkdirSync(config, { recursive: true });
  writeFileSync(
    join(config, 'mesh.yaml'),
    servicesYaml('catalog', 'web'),
  );
  const cp = await start('control', '--config', config, '--state', state, '--host', '127.0.0.1', '--xds-port', '0', '--admin-port', '0');
  const control = `127.0.0.1:${cp.first.xds}`;
  const admin: string = cp.first.admin;
  assert.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/, 'the CLI prints the bound admin URL');
  // With a second core, signing runs on a worker thread by default (the proxies below get their
  // certificates through it).
  const identityStatus = (await (await fetch(`${admin}/identity/status`)).json()) as { signWorkers: number };
  assert.equal(identityStatus.signWorkers, availableParallelism() >= 2 ? 1 : 0);

  const bundle = await weft('identity', 'bundle', '--state', state);
  assert.equal(bundle.code, 0, bundle.stderr);
  writeFileSync(join(work, 'ca.pem'), bundle.stdout);
  for (const sa of ['catalog', 'web']) {
    const t = await weft('identity', 'token', '--state', state, '--namespace', 'default', '--service-account', sa);
    assert.equal(t.code, 0, t.stderr);
    writeFileSync(join(work, `${sa}.token`), t.stdout);
  }

  const app = await namedApp('catalog-app');
  after(() => app.close());
  // inbound port 0: the proxy binds first and announces the port it got
  writeFileSync(join(work, 'catalog.yaml'), `workload: {name: catalog, inbound: {ports: [{port: ${app.port}, protocol: http1}]}}\nlisteners: {outbound: null, inbound: {address: 127.0.0.1, port: 0}, admin: null}\n`);
  writeFileSync(join(work, 'web.yaml'), `workload: {name: web}\nlisteners: {outbound: {address: 127.0.0.1, port: 0}, inbound: null, admin: null}\n`);
  const catalog = await start('proxy', '--bootstrap', join(work, 'catalog.yaml'), '--control', control, '--token', join(work, 'catalog.token'), '--ca', join(work, 'ca.pem'), '--node-id', 'catalog-1');
  assert.equal(catalog.first.spiffeId, 'spiffe://cluster.local/ns/default/sa/catalog');
  assert.ok(catalog.first.inbound > 0, 'the inbound listener got a port');
  const endpoints = await eventually(async () => {
    const eps = (await (await fetch(`${admin}/api/endpoints`)).json()) as any[];
    return eps.find((e: any) => e.id === 'proxy:catalog-1');
  }, 'catalog-1 registered');
  assert.equal(endpoints.proxyPort, catalog.first.inbound, 'the control plane was told the port the proxy really bound');
  const web = await start('proxy', '--bootstrap', join(work, 'web.yaml'), '--control', control, '--token', join(work, 'web.token'), '--ca', join(work, 'ca.pem'), '--node-id', 'web-1', '--upstreams', 'catalog');

  const res = await eventually(async () => {
    const r = await viaProxy(web.first.outbound, 'catalog', '/');
    return r.body === 'catalog-app' ? r : undefined;
  }, 'a request from web to reach catalog');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'catalog-app');

  const status = await eventually(async () => {
    const st = await weft('status', '--admin', admin);
    return /catalog-1.*SYNCED\n.*web-1.*SYNCED/s.test(st.stdout) ? st : undefined;
  }, 'weft status to show both proxies SYNCED', 30_000);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^NAME\s+KIND\s+WORKLOAD\s+MODE\s+CDS\s+EDS\s+LDS\s+RDS\s+STATUS/);
  assert.match(status.stdout, /catalog-1\s+sidecar\s+default\/catalog\s+delta\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED/);
  assert.match(status.stdout, /web-1\s+sidecar\s+-\s+delta(\s+SYNCED){5}/);

  const cfg = await weft('config', 'web-1', '--admin', admin);
  assert.equal(cfg.code, 0, cfg.stderr);
  assert.deepEqual(JSON.parse(cfg.stdout).scope, ['default/catalog']);
  const sim = await weft('config', 'web-1', '--admin', admin, '--authority', 'catalog', '--path', '/x');
  assert.equal(JSON.parse(sim.stdout).clusters[0].name, 'outbound|80||catalog.default');
  const missing = await weft('config', 'nobody', '--admin', admin);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no connected proxy nobody/);
});
