// `weft demo` (what `npm start` runs), end to end with real processes: the control plane, three
// `weft proxy --control` children, traffic in plaintext to the PERMISSIVE frontend and over mTLS to
// reviews. The JSON summary must show every request answered, the 90/10 split in its direction,
// every x-canary request on v2, all proxies in sync, and nothing on the proxies' stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runWeft } from '../support/cli.ts';

test('weft demo runs a working mesh and reports it', { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await runWeft(['demo', '--duration', '6', '--rps', '30', '--json', '--xds-port', '0', '--admin-port', '0'], { env: { ...process.env, WEFT_FROM_SOURCE: '1' }, timeoutMs: 110_000 });
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim().split('\n').at(-1)!);
  console.log(`demo: ${JSON.stringify({ ...summary, proxyLogs: summary.proxyLogs.length })}`);
  assert.ok(summary.requests >= 30, `only ${summary.requests} requests in 6 s at 30 rps`);
  assert.equal(summary.errors, 0, `failures: ${JSON.stringify(summary.failures)}`);
  assert.ok(summary.ok > 0 && summary.ok <= summary.requests);
  const v1 = summary.split.v1 ?? 0;
  const v2 = summary.split.v2 ?? 0;
  assert.ok(v1 > v2 && v2 > 0, `90/10 split seen as v1=${v1} v2=${v2}`);
  assert.deepEqual(Object.keys(summary.canary), ['v2'], 'x-canary: true always reaches v2');
  assert.equal(summary.proxies, '3/3 SYNCED');
  assert.deepEqual(summary.proxyLogs, [], 'the proxies wrote no warnings or errors');
});

test('weft demo --help names its options', async () => {
  const out = (await runWeft(['demo', '--help'])).stdout;
  for (const flag of ['--rps', '--duration', '--json', '--xds-port', '--admin-port']) assert.ok(out.includes(flag), `${flag} in --help`);
});
