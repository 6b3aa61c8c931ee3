import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { generateKeyPair } from '../../identity/keys.ts';
import { hasCode } from '../../core/errors.ts';
import { WorkloadTokens, TOKEN_AUDIENCE, TOKEN_ISSUER } from './tokens.ts';

const pair = generateKeyPair('ec-p256');
const key = { kid: 'k1', privateKeyPem: pair.privateKeyPem, publicKeyPem: pair.publicKeyPem };
const tokens = new WorkloadTokens(key);
const req = { trustDomain: 'td', namespace: 'ns', serviceAccount: 'sa' };

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

/** Hand-made token signed with `privateKeyPem` (to test claims the issuer would never produce). */
function craft(header: Record<string, unknown>, claims: Record<string, unknown>, privateKeyPem = pair.privateKeyPem): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const sig = sign('sha256', Buffer.from(input), { key: createPrivateKey(privateKeyPem), dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

const now = Math.floor(Date.now() / 1000);
const good = { iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub: 'spiffe://td/ns/ns/sa/sa', exp: now + 60, iat: now, jti: randomUUID() };

test('a token issued with jose verifies and proves its SPIFFE ID', async () => {
  const t = await tokens.issue(req);
  assert.equal(t.spiffeId, 'spiffe://td/ns/ns/sa/sa');
  assert.equal((await tokens.verify(t.token)).uri, 'spiffe://td/ns/ns/sa/sa');
  assert.equal((await tokens.verify(craft({ alg: 'ES256', kid: 'k1' }, good))).serviceAccount, 'sa');
});

test('forged, altered, expired or mis-addressed tokens are refused with the right code', async () => {
  const expect = async (token: string, code: string, why: RegExp) =>
    assert.rejects(tokens.verify(token), (e: unknown) => hasCode(e, code) && why.test((e as Error).message), token.slice(0, 40));
  const other = generateKeyPair('ec-p256');
  await expect(craft({ alg: 'ES256', kid: 'k1' }, good, other.privateKeyPem), 'IDENTITY_TOKEN_INVALID', /signature does not verify/);
  await expect(craft({ alg: 'ES256', kid: 'k2' }, good), 'IDENTITY_TOKEN_INVALID', /signature does not verify/);
  await expect(`${b64({ alg: 'none' })}.${b64(good)}.`, 'IDENTITY_TOKEN_INVALID', /ES256/);
  await expect(craft({ alg: 'HS256' }, good), 'IDENTITY_TOKEN_INVALID', /ES256/);
  const valid = await tokens.issue(req);
  const [h, , s] = valid.token.split('.');
  await expect(`${h}.${b64({ ...good, sub: 'spiffe://td/ns/ns/sa/admin' })}.${s}`, 'IDENTITY_TOKEN_INVALID', /signature/);
  await expect(craft({ alg: 'ES256' }, { ...good, exp: now - 1 }), 'IDENTITY_TOKEN_EXPIRED', /expired/);
  await expect(craft({ alg: 'ES256' }, { ...good, exp: undefined }), 'IDENTITY_TOKEN_INVALID', /no expiry/);
  await expect(craft({ alg: 'ES256' }, { ...good, nbf: now + 3600 }), 'IDENTITY_TOKEN_INVALID', /not valid yet/);
  await expect(craft({ alg: 'ES256' }, { ...good, aud: 'something-else' }), 'IDENTITY_TOKEN_INVALID', /issuer or audience/);
  await expect(craft({ alg: 'ES256' }, { ...good, iss: 'evil' }), 'IDENTITY_TOKEN_INVALID', /issuer or audience/);
  await expect(craft({ alg: 'ES256' }, { ...good, sub: 'spiffe://td/not-a-workload' }), 'IDENTITY_TOKEN_INVALID', /subject/);
  await expect('', 'IDENTITY_TOKEN_INVALID', /no workload token/);
  await expect('a.b', 'IDENTITY_TOKEN_INVALID', /compact/);
  await expect('x'.repeat(9000), 'IDENTITY_TOKEN_INVALID', /too long/);
  // a token with a future exp but checked at a later "now" is expired
  await assert.rejects(tokens.verify(valid.token, Date.now() + 400 * 24 * 3600_000), (e: unknown) => hasCode(e, 'IDENTITY_TOKEN_EXPIRED'));
});
