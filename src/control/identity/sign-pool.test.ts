import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr, createIntermediate, createRootCa } from '../../identity/ca.ts';
import { generateKeyPair } from '../../identity/keys.ts';
import { hasCode } from '../../core/errors.ts';
import { SignPool } from './sign-pool.ts';
import type { SignRequest } from './csr-check.ts';

const TD = 'test.local';
const ID = `spiffe://${TD}/ns/shop/sa/cart`;
const root = await createRootCa({ trustDomain: TD });
const issuer = await createIntermediate(root, { trustDomain: TD });
const request = async (): Promise<SignRequest> => ({ csrPem: await createCsr(generateKeyPair().privateKeyPem, ID), expectedId: ID, trustDomain: TD, keyPolicy: ['ec-p256'], ttlMs: 3_600_000, now: Date.now() });

test('sign pool: a worker thread signs a leaf that chains to the issuer', async () => {
  const pool = new SignPool(1);
  try {
    const leaf = await pool.sign(issuer, await request());
    assert.equal(leaf.spiffeId, ID);
    assert.ok(new X509Certificate(leaf.certPem).verify(new X509Certificate(issuer.certPem).publicKey));
    assert.ok(leaf.chainPem.endsWith(issuer.chainPem), 'the pool appends the issuer chain');
    assert.equal(pool.size, 1);
  } finally {
    await pool.close();
  }
});

test('sign pool: a worker that dies fails only its request, leaves the pool, and signing goes on without it', async () => {
  // A worker that crashes on its first signing request.
  const file = join(mkdtempSync(join(tmpdir(), 'weft-sign-pool-')), 'crashing-worker.mjs');
  writeFileSync(file, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', (m) => { if (m.type === 'sign') throw new Error('worker crashed on purpose'); });\n");
  const pool = new SignPool(1, { workerFile: file });
  try {
    await assert.rejects(pool.sign(issuer, await request()), (e: unknown) => hasCode(e, 'IDENTITY_CA_UNAVAILABLE') && /worker crashed on purpose/.test((e as Error).message));
    assert.equal(pool.size, 0, 'the dead worker left the pool');
    const leaf = await pool.sign(issuer, await request());
    assert.equal(leaf.spiffeId, ID, 'signed on the calling thread');
    assert.ok(new X509Certificate(leaf.certPem).verify(new X509Certificate(issuer.certPem).publicKey));
  } finally {
    await pool.close();
  }
});
