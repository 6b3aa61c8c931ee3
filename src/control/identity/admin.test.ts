import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startIdentityServer } from './harness.ts';

const server = await startIdentityServer({ trustDomain: 'cluster.local', autoTick: false });
after(() => server.close());
const json = { 'content-type': 'application/json' };

test('identity admin: recover takes force only from the JSON body (the ?force=true query form is gone)', async () => {
  const rootBefore = server.authority.status().roots[0]!.id;
  const viaQuery = await fetch(`${server.adminUrl}/identity/recover?force=true`, { method: 'POST', headers: json, body: '{}' });
  assert.equal(viaQuery.status, 409, 'not forced: the root has not expired');
  assert.equal(((await viaQuery.json()) as { error: { code: string } }).error.code.startsWith('IDENTITY_'), true);
  assert.equal(server.authority.status().roots[0]!.id, rootBefore, 'the root was not replaced');
  const forced = await fetch(`${server.adminUrl}/identity/recover`, { method: 'POST', headers: json, body: JSON.stringify({ force: true }) });
  assert.equal(forced.status, 200);
  assert.notEqual(server.authority.status().roots[0]!.id, rootBefore, 'forced recovery issued a new root');
});

test('identity admin (standalone server): the same guards as the control plane admin API', async () => {
  const origin = await fetch(`${server.adminUrl}/identity/rotate-root`, { method: 'POST', headers: { ...json, origin: 'http://evil.example' }, body: '{}' });
  assert.equal(origin.status, 403);
  assert.equal(((await origin.json()) as { error: { code: string } }).error.code, 'ADMIN_ORIGIN_REFUSED');
  const form = await fetch(`${server.adminUrl}/identity/rotate-root`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'force=true' });
  assert.equal(form.status, 415);
  assert.equal(server.authority.status().rotation, null, 'no rotation was started');
  const status = await fetch(`${server.adminUrl}/identity/status`);
  assert.equal(status.status, 200);
});
