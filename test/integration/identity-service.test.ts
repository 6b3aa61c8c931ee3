// The identity service over real gRPC/TLS on 127.0.0.1: enrolment, renewal, bundle sync, and every refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { startIdentityServer } from '../../src/control/identity/harness.ts';
import { WorkloadIdentityClient } from '../../src/identity/client.ts';
import { createCsr } from '../../src/identity/ca.ts';
import { generateKeyPair } from '../../src/identity/keys.ts';
import { identityServiceClient, type CertifyResponseMsg } from '../../src/identity/proto.ts';
import { controlPlaneSpiffeId } from '../../src/identity/spiffe.ts';
import { IdentityAuthority } from '../../src/control/identity/authority.ts';
import { MemoryCaStateStore } from '../../src/control/identity/state-store.ts';
import { makeTestPki } from '../support/pki.ts';
import { waitFor } from '../support/wait.ts';

const TD = 'mesh.test';

function rawClient(target: string, bundlePem: string) {
  const Ctor = identityServiceClient();
  const creds = grpc.credentials.createSsl(Buffer.from(bundlePem), null, null, {
    checkServerIdentity: (_h, cert) => ((cert.subjectaltname ?? '').includes(controlPlaneSpiffeId(TD)) ? undefined : new Error('wrong control plane')),
  });
  return new Ctor(target, creds) as unknown as grpc.Client & { Certify: (req: unknown, cb: (e: grpc.ServiceError | null, r?: CertifyResponseMsg) => void) => void };
}

function certify(client: ReturnType<typeof rawClient>, csrPem: string, token: string): Promise<CertifyResponseMsg> {
  return new Promise((ok, fail) => client.Certify({ csr_pem: csrPem, credential: { workload_token: token } }, (e, r) => (e ? fail(e) : ok(r!))));
}

test('a workload enrols with its token over TLS, renews, and follows the bundle stream', async () => {
  const server = await startIdentityServer({ trustDomain: TD, leafTtlMs: 3000, autoTick: false });
  const { token } = await server.authority.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
  const client = new WorkloadIdentityClient({ target: server.target, token, bootstrapBundle: server.authority.bundle.current.pem, backoffInitialMs: 50 });
  try {
    const m = await client.start();
    assert.equal(m.spiffeId, `spiffe://${TD}/ns/shop/sa/cart`);
    assert.ok(m.keyPem.includes('PRIVATE KEY'));
    assert.equal(m.trustBundlePem, server.authority.bundle.current.pem);
    assert.match(client.metrics(), /weft_identity_cert_expiry_seconds\{spiffe_id="spiffe:\/\/mesh.test\/ns\/shop\/sa\/cart"\} [0-9]/);
    // renewal at ~50% of 3 s: a new serial arrives without asking
    const renewed = await client.material.until((x) => x !== undefined && x.serial !== m.serial);
    assert.ok(renewed!.notAfter.getTime() > m.notAfter.getTime());
    // the bundle stream registered this workload and its ack
    await waitFor(() => server.authority.connectedWorkloads === 1);
    assert.equal(server.authority.status().certificatesIssued >= 2, true);
  } finally {
    client.close();
    await server.close();
  }
});

test('renewal is scheduled at 50% of the remaining lifetime with ±10% jitter', async () => {
  const server = await startIdentityServer({ trustDomain: TD, leafTtlMs: 3600_000, autoTick: false, adminPort: false });
  const { token } = await server.authority.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
  try {
    for (const [random, fraction] of [[0, 0.4], [0.5, 0.5], [1, 0.6]] as const) {
      const client = new WorkloadIdentityClient({ target: server.target, token, bootstrapBundle: server.authority.bundle.current.pem, random: () => random, syncBundle: false });
      const before = Date.now();
      const m = await client.start();
      const at = client.nextRenewalAt!.getTime();
      const expected = before + (m.notAfter.getTime() - before) * fraction;
      assert.ok(Math.abs(at - expected) < 5000, `random ${random}: renewal at ${((at - before) / 3600_000).toFixed(3)} of the hour, expected ${fraction}`);
      client.close();
    }
  } finally {
    await server.close();
  }
});

test('the client keeps its certificate and retries with backoff while the control plane is away', async () => {
  const server = await startIdentityServer({ trustDomain: TD, leafTtlMs: 2000, autoTick: false, adminPort: false });
  const { token } = await server.authority.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
  const bundle = server.authority.bundle.current.pem;
  const client = new WorkloadIdentityClient({ target: server.target, token, bootstrapBundle: bundle, backoffInitialMs: 50, backoffMaxMs: 200, syncBundle: false });
  try {
    const m = await client.start();
    await server.close();
    // The renewal (at about half the 2 s lifetime) fails: wait for that signal, then check what stayed.
    await waitFor(() => client.lastError !== undefined && /weft_identity_renewal_failures_total [1-9]/.test(client.metrics()), 'a failed renewal');
    assert.equal(client.material.current, m, 'still serving with the current certificate');
    assert.ok(client.lastError, 'renewal failed and was recorded');
    assert.match(client.metrics(), /weft_identity_renewal_failures_total [1-9]/);
  } finally {
    client.close();
  }
});

test('refusals carry clear gRPC statuses and are counted', async () => {
  const server = await startIdentityServer({ trustDomain: TD, autoTick: false, adminPort: false });
  const a = server.authority;
  const raw = rawClient(server.target, a.bundle.current.pem);
  const id = `spiffe://${TD}/ns/shop/sa/cart`;
  const { token } = await a.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
  const key = generateKeyPair();
  try {
    const ok = await certify(raw, await createCsr(key.privateKeyPem, id), token);
    assert.equal(ok.spiffe_id, id);

    // 1. CSR asks for another identity than the token proves
    await assert.rejects(certify(raw, await createCsr(key.privateKeyPem, `spiffe://${TD}/ns/shop/sa/admin`), token), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /IDENTITY_ID_MISMATCH.*asks for .*sa\/admin/.test(e.details));
    // 2. expired token
    const expired = await a.issueToken({ namespace: 'shop', serviceAccount: 'cart', ttlMs: -1000 });
    await assert.rejects(certify(raw, await createCsr(key.privateKeyPem, id), expired.token), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /expired/.test(e.details));
    // 3. forged token: signed by another CA's token key
    const other = await IdentityAuthority.open({ trustDomain: TD, store: new MemoryCaStateStore() });
    const forged = await other.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
    await assert.rejects(certify(raw, await createCsr(key.privateKeyPem, id), forged.token), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /signature/.test(e.details));
    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await assert.rejects(certify(raw, await createCsr(key.privateKeyPem, id), tampered), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    await assert.rejects(certify(raw, await createCsr(key.privateKeyPem, id), ''), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    // 4. CSR with a bad signature
    const csr = await createCsr(key.privateKeyPem, id);
    const der = Buffer.from(csr.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 3] = der[der.length - 3]! ^ 0x55;
    const badPem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await assert.rejects(certify(raw, badPem, token), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /IDENTITY_CSR/.test(e.details));
    // 5. key outside policy: RSA-1024 (CSR built by openssl-free path: forge with node key + peculiar would refuse, so use a P-521 key)
    const p521 = generateKeyPairSync('ec', { namedCurve: 'secp521r1', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const weakCsr = await opensslCsr(p521.privateKey, id);
    await assert.rejects(certify(raw, weakCsr, token), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /IDENTITY_KEY_POLICY.*outside policy/.test(e.details));
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    await assert.rejects(certify(raw, await opensslCsr(rsa1024.privateKey, id), token), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /rsa 1024 bits/.test(e.details));
    // 6. foreign trust domain in the CSR
    await assert.rejects(certify(raw, await createCsr(key.privateKeyPem, 'spiffe://evil.example/ns/shop/sa/cart'), token), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /IDENTITY_TRUST_DOMAIN_MISMATCH/.test(e.details));
    // a token from another mesh (other trust domain) does not verify here either
    const foreignMesh = await IdentityAuthority.open({ trustDomain: 'evil.example', store: new MemoryCaStateStore() });
    const foreignToken = await foreignMesh.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
    await assert.rejects(certify(raw, await createCsr(key.privateKeyPem, 'spiffe://evil.example/ns/shop/sa/cart'), foreignToken.token), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);

    const s = a.status();
    assert.equal(s.certificatesIssued, 1);
    assert.equal(s.refusals.IDENTITY_ID_MISMATCH, 1);
    assert.equal(s.refusals.IDENTITY_TOKEN_EXPIRED, 1);
    assert.equal(s.refusals.IDENTITY_TOKEN_INVALID, 4);
    assert.equal(s.refusals.IDENTITY_KEY_POLICY, 2);
    assert.equal(s.refusals.IDENTITY_TRUST_DOMAIN_MISMATCH, 1);
    assert.ok((s.refusals.IDENTITY_CSR_SIGNATURE_INVALID ?? 0) + (s.refusals.IDENTITY_CSR_INVALID ?? 0) === 1);
    assert.match(a.metrics(), /weft_identity_refusals_total\{code="IDENTITY_ID_MISMATCH"\} 1/);
  } finally {
    raw.close();
    await server.close();
  }
});

test('the bundle stream refuses a bad token and counts a good one as a connected workload until it closes', async () => {
  const server = await startIdentityServer({ trustDomain: TD, autoTick: false, adminPort: false });
  const Ctor = identityServiceClient();
  const creds = grpc.credentials.createSsl(Buffer.from(server.authority.bundle.current.pem), null, null, {
    checkServerIdentity: () => undefined,
  });
  const client = new Ctor(server.target, creds) as unknown as grpc.Client & { SyncTrustBundle(): grpc.ClientDuplexStream<unknown, { version: string; pem: string; issuing_root_id: string }> };
  try {
    const bad = client.SyncTrustBundle();
    const refused = new Promise<grpc.ServiceError>((resolve) => bad.on('error', resolve));
    bad.write({ credential: { workload_token: 'not-a-token' }, version: '0' });
    const e = await refused;
    assert.equal(e.code, grpc.status.UNAUTHENTICATED);
    assert.equal(server.authority.connectedWorkloads, 0);

    const { token } = await server.authority.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
    const good = client.SyncTrustBundle();
    good.on('error', () => {});
    const first = new Promise<{ version: string; pem: string; issuing_root_id: string }>((resolve) => good.once('data', resolve));
    good.write({ credential: { workload_token: token }, version: '0' });
    const bundle = await first;
    assert.equal(Number(bundle.version), server.authority.bundle.current.version);
    assert.equal(bundle.pem, server.authority.bundle.current.pem);
    assert.equal(bundle.issuing_root_id, server.authority.status().issuer.rootId);
    assert.equal(server.authority.connectedWorkloads, 1);
    good.cancel();
    await waitFor(() => server.authority.connectedWorkloads === 0);
  } finally {
    client.close();
    await server.close();
  }
});

test('signing is rate limited with a bounded queue (RESOURCE_EXHAUSTED when full)', async () => {
  const server = await startIdentityServer({ trustDomain: TD, autoTick: false, adminPort: false, signRatePerSec: 5, signQueueMax: 3 });
  const raw = rawClient(server.target, server.authority.bundle.current.pem);
  const id = `spiffe://${TD}/ns/shop/sa/cart`;
  const { token } = await server.authority.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
  const csr = await createCsr(generateKeyPair().privateKeyPem, id);
  try {
    const started = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => certify(raw, csr, token)));
    const okCount = results.filter((r) => r.status === 'fulfilled').length;
    const exhausted = results.filter((r) => r.status === 'rejected' && (r.reason as grpc.ServiceError).code === grpc.status.RESOURCE_EXHAUSTED);
    // 5 from the bucket + 3 queued; the rest refused
    assert.equal(okCount, 8);
    assert.equal(exhausted.length, 4);
    assert.match((exhausted[0] as PromiseRejectedResult).reason.details, /signing queue is full/);
    assert.ok(performance.now() - started >= 400, 'queued requests waited for tokens');
    assert.equal(server.authority.status().refusals.IDENTITY_RATE_LIMITED, 4);
  } finally {
    raw.close();
    await server.close();
  }
});

test('the client refuses a control plane it cannot verify against its bootstrap bundle', async () => {
  const server = await startIdentityServer({ trustDomain: TD, autoTick: false, adminPort: false });
  const { token } = await server.authority.issueToken({ namespace: 'shop', serviceAccount: 'cart' });
  const wrong = await makeTestPki({ trustDomain: TD });
  const client = new WorkloadIdentityClient({ target: server.target, token, bootstrapBundle: wrong.bundlePem, backoffInitialMs: 20, backoffMaxMs: 50, syncBundle: false });
  try {
    const started = client.start();
    started.catch(() => {});
    await waitFor(() => client.lastError !== undefined, 'the refused attempt recorded');
    assert.equal(client.material.current, undefined);
    assert.ok(client.lastError);
    client.close();
    await assert.rejects(started);
  } finally {
    client.close();
    await server.close();
  }
});


async function opensslCsr(keyPem: string, uri: string): Promise<string> {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'weft-csr-'));
  writeFileSync(join(dir, 'key.pem'), keyPem, { mode: 0o600 });
  return execFileSync('openssl', ['req', '-new', '-key', join(dir, 'key.pem'), '-subj', '/', '-addext', `subjectAltName=URI:${uri}`], { encoding: 'utf8' });
}
