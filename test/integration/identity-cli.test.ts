// `weft identity …` end to end: a served identity service, tokens and certificates from the state
// directory, status / rotate-root / recover through the admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkloadIdentityClient } from '../../src/identity/client.ts';
import { splitPem } from '../../src/identity/ca.ts';
import { main } from '../../src/cli/main.ts';

const WEFT = join(import.meta.dirname, '..', '..', 'bin', 'weft.js');
const env = { ...process.env, WEFT_FROM_SOURCE: '1', WEFT_LOG_LEVEL: 'error' };

/** Runs `weft …` in this process (fast); stdout/stderr captured, exit code returned like a child's. */
async function weft(...args: string[]): Promise<{ stdout: string }> {
  const out: string[] = [];
  const errOut: string[] = [];
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => (errOut.push(String(chunk)), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    await main(['node', 'weft', ...args]);
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
  const code = process.exitCode ?? 0;
  process.exitCode = before;
  if (code !== 0) throw Object.assign(new Error(`weft ${args.join(' ')} exited ${code}`), { code, stderr: errOut.join('') });
  return { stdout: out.join('') };
}

test('weft identity: serve, token, bundle, issue, status, rotate-root, recover', async () => {
  const state = mkdtempSync(join(tmpdir(), 'weft-cli-state-'));
  const serve = spawn(process.execPath, [WEFT, 'identity', 'serve', '--state', state, '--trust-domain', 'cli.test', '--port', '0', '--admin-port', '0', '--leaf-ttl', '1h', '--sign-workers', '1'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let client: WorkloadIdentityClient | undefined;
  try {
    const banner = await new Promise<string>((resolve, reject) => {
      let out = '';
      serve.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(out);
      });
      serve.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
    const m = /on (\S+) \(admin (\S+)\)/.exec(banner);
    assert.ok(m, banner);
    const [, target, adminUrl] = m;
    assert.equal(statSync(join(state, 'ca-state.json')).mode & 0o777, 0o600);

    const token = (await weft('identity', 'token', '--state', state, '--namespace', 'shop', '--service-account', 'cart', '--ttl', '1h')).stdout.trim();
    assert.match(token, /^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    const bundle = (await weft('identity', 'bundle', '--state', state)).stdout;
    assert.equal(splitPem(bundle).length, 1);

    // a workload enrols with the CLI's token and bundle
    client = new WorkloadIdentityClient({ target: target!, token, bootstrapBundle: bundle, syncBundle: false });
    const material = await client.start();
    assert.equal(material.spiffeId, 'spiffe://cli.test/ns/shop/sa/cart');

    const out = join(state, 'issued');
    await weft('identity', 'issue', '--state', state, '--id', 'spiffe://cli.test/ns/batch/sa/report', '--out', out, '--ttl', '2h');
    assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);
    const [leaf, ...inters] = splitPem(readFileSync(join(out, 'cert.pem'), 'utf8'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(out, 'leaf.pem'), leaf + '\n');
    writeFileSync(join(out, 'inter.pem'), inters.join('\n') + '\n');
    const v = spawnSync('openssl', ['verify', '-CAfile', join(out, 'bundle.pem'), '-untrusted', join(out, 'inter.pem'), join(out, 'leaf.pem')], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);

    const status = (await weft('identity', 'status', '--admin', adminUrl!)).stdout;
    assert.match(status, /trust domain\s+cli\.test \(built-in CA\)/);
    assert.match(status, /rotation\s+none in progress/);
    assert.match(status, /certificates\s+1 issued/);
    assert.match(status, /signing [\d.]+\/s, 0 queued, 1 worker thread$/m, 'serve --sign-workers 1 signs on one worker thread');
    const json = JSON.parse((await weft('identity', 'status', '--admin', adminUrl!, '--output', 'json')).stdout) as { roots: unknown[] };
    assert.equal(json.roots.length, 1);

    const rotated = (await weft('identity', 'rotate-root', '--admin', adminUrl!)).stdout;
    assert.match(rotated, /rotation\s+step [24]\/5 \(manual\)/);
    assert.match(rotated, /2 roots/);

    await assert.rejects(weft('identity', 'recover', '--admin', adminUrl!), (e: { stderr: string; code: number }) => e.code === 1 && /has not expired/.test(e.stderr));
    await assert.rejects(weft('identity', 'token', '--state', state, '--namespace', 'shop', '--service-account', 'cart', '--ttl', 'soon'), (e: { stderr: string }) => /not a duration/.test(e.stderr));
  } finally {
    client?.close();
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
});
