// The CLI's usage errors exit 2 with a message (bad flag values, missing or conflicting flags), the
// insecure control plane listens on loopback only, `weft control` takes a plug-in CA, and
// `weft identity issue` leaves key.pem at 0600 even when it already existed with a wider mode.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, statSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startControlPlane } from '../../src/control/server.ts';
import { runWeft, WEFT_BIN, WEFT_ENV } from '../support/cli.ts';

const env = WEFT_ENV;
const work = mkdtempSync(join(tmpdir(), 'weft-cli-usage-'));
const config = join(work, 'config');
mkdirSync(config);
writeFileSync(join(config, 'mesh.yaml'), 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{name: http, port: 80}]}\n');
writeFileSync(join(work, 'proxy.yaml'), 'workload: {name: web}\nlisteners: {outbound: {address: 127.0.0.1, port: 0}, inbound: null, admin: null}\n');
writeFileSync(join(work, 'token'), 'x\n');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

const weft = (...args: string[]) => runWeft(args, { env });

const usage: Array<[string[], RegExp]> = [
  [['control', '--config', config, '--grace', 'abc'], /--grace.*invalid.*whole number/],
  [['control', '--config', config, '--xds-port', '70000'], /--xds-port.*port number/],
  [['control', '--config', config, '--admin-port', '-1'], /--admin-port/],
  [['control', '--config', config, '--warmup', '1.5'], /--warmup/],
  [['control', '--config', config, '--ca-cert', join(work, 'nope.pem')], /--ca-cert and --ca-key go together/],
  [['control', '--config', config, '--sign-workers', 'two'], /--sign-workers/],
  [['proxy', '--bootstrap', join(work, 'proxy.yaml'), '--control', '127.0.0.1:1'], /--control needs the workload token/],
  [['proxy', '--bootstrap', join(work, 'proxy.yaml'), '--control', '127.0.0.1:1', '--token', join(work, 'token')], /--control needs --ca FILE/],
  [['proxy', '--bootstrap', join(work, 'proxy.yaml'), '--control', '127.0.0.1:1', '--token', join(work, 'token'), '--ca', join(work, 'token'), '--drain-timeout', 'soon'], /--drain-timeout/],
  [['config', 'web-1', '--type', 'bogus'], /--type.*bogus.*(listeners|choices)/],
  [['status', '--output', 'yaml'], /--output.*yaml/],
  [['identity', 'serve', '--port', 'abc'], /--port.*port number/],
  [['identity', 'token', '--namespace', 'a', '--service-account', 'b', '--ttl', 'forever'], /--ttl.*not a duration/],
  [['identity', 'issue', '--id', 'spiffe://cluster.local/ns/a/sa/b', '--out', join(work, 'o'), '--key-type', 'dsa'], /--key-type.*dsa/],
];

for (const [args, message] of usage) {
  test(`usage error → exit 2: weft ${args.filter((a) => !a.startsWith(work)).join(' ')}`, async () => {
    const r = await weft(...args);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, message);
  });
}

test('weft control --help says where --insecure listens and lists the plug-in CA flags', async () => {
  const r = await weft('control', '--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout.replace(/\s+/g, ' '), /--insecure .*listens on 127\.0\.0\.1 unless --host/);
  assert.match(r.stdout.replace(/\s+/g, ' '), /127\.0\.0\.1 with --insecure/);
  for (const flag of ['--ca-cert', '--ca-key', '--ca-bundle', '--sign-workers']) assert.match(r.stdout, new RegExp(flag));
});

test('an insecure control plane without --host listens on loopback only', async (t) => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (!external) {
    t.skip('no non-loopback IPv4 address on this machine');
    return;
  }
  const cp = await startControlPlane({ configDir: config, insecure: true, xdsPort: 0, adminPort: false });
  try {
    const reach = (host: string) =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(cp.xdsPort, host);
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
    assert.equal(await reach('127.0.0.1'), true, 'reachable on loopback');
    assert.equal(await reach(external), false, `not reachable on ${external}`);
  } finally {
    await cp.close();
  }
});

test('weft identity issue leaves key.pem at 0600 even when it existed with a wider mode', async () => {
  const out = join(work, 'issued');
  mkdirSync(out);
  writeFileSync(join(out, 'key.pem'), 'old', { mode: 0o644 });
  assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o644);
  const r = await weft('identity', 'issue', '--state', join(work, 'state'), '--id', 'spiffe://cluster.local/ns/default/sa/tool', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);
});

test('weft control issues from a plug-in CA given with --ca-cert/--ca-key/--ca-bundle', async () => {
  const run = (...args: string[]) => new Promise<void>((resolve, reject) => execFile('openssl', args, { cwd: work }, (e) => (e ? reject(e) : resolve())));
  const p = (n: string) => join(work, n);
  await run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('root.key'));
  await run('req', '-x509', '-new', '-key', p('root.key'), '-subj', '/O=Corp/CN=Corp Root', '-days', '30', '-out', p('root.pem'), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('inter.key'));
  await run('req', '-new', '-key', p('inter.key'), '-subj', '/O=Corp/CN=Corp Mesh CA', '-out', p('inter.csr'));
  writeFileSync(p('ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  await run('x509', '-req', '-in', p('inter.csr'), '-CA', p('root.pem'), '-CAkey', p('root.key'), '-CAcreateserial', '-days', '10', '-extfile', p('ext.cnf'), '-out', p('inter.pem'));
  const child = spawn(process.execPath, [WEFT_BIN, 'control', '--config', config, '--host', '127.0.0.1', '--xds-port', '0', '--admin-port', '0', '--ca-cert', p('inter.pem'), '--ca-key', p('inter.key'), '--ca-bundle', p('root.pem'), '--sign-workers', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const first = await new Promise<any>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line)));
    child.once('exit', (code) => reject(new Error(`weft control exited ${code}: ${stderr}`)));
  });
  const status = (await (await fetch(`${first.admin}/identity/status`)).json()) as { mode: string; issuer: { subject: string } };
  assert.equal(status.mode, 'plugin');
  assert.match(status.issuer.subject, /Corp Mesh CA/);
  child.kill('SIGTERM');
});
