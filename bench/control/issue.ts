// Benchmark: CSR signatures per second by the identity service over gRPC/TLS with 50 concurrent
// clients (rate limit raised), and the time for 10,000 workloads to get their first certificate.
// The identity server runs in a child process (its own event loop); the CA state directory is made
// first and tokens are minted from it exactly as `weft identity token --state DIR` does. Key pairs,
// CSRs and tokens are PRE-GENERATED before timing (one per workload), so the clock measures the
// service: token check, CSR parse and signature check, key policy, leaf signing, gRPC and TLS.
// Baseline in the same run: the authority's certify() in-process, without gRPC (pure CA cost).
// Prints a table and one JSON line. Targets: >= 1,000 signatures/s; 10,000 first certificates < 20 s.
// Usage: node --import tsx bench/control/issue.ts [--clients 50] [--seconds 5] [--workloads 10000] [--sign-workers 1]
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { startIdentityServer } from '../../src/control/identity/harness.ts';
import { identityServerCredentials } from '../../src/control/identity/service.ts';
import { IdentityAuthority } from '../../src/control/identity/authority.ts';
import { FileCaStateStore } from '../../src/control/identity/state-store.ts';
import { WorkloadTokens } from '../../src/control/identity/tokens.ts';
import { createCsr } from '../../src/identity/ca.ts';
import { generateKeyPair } from '../../src/identity/keys.ts';
import { identityServiceClient, type CertifyResponseMsg } from '../../src/identity/proto.ts';
import { controlPlaneSpiffeId } from '../../src/identity/spiffe.ts';

const TD = 'bench.local';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

interface Request {
  csr_pem: string;
  credential: { workload_token: string };
}

type CertifyClient = grpc.Client & { Certify(req: Request, cb: (e: grpc.ServiceError | null, r?: CertifyResponseMsg) => void): void };

// ------------------------------------------------------------------ child: the identity server
if (process.argv.includes('--server')) {
  const stateDir = process.argv[process.argv.indexOf('--server') + 1]!;
  const signWorkers = arg('sign-workers', 0);
  const server = await startIdentityServer({ stateDir, trustDomain: TD, adminPort: false, autoTick: false, signRatePerSec: 1_000_000, signQueueMax: 1_000_000, signWorkers });
  if (process.argv.includes('--noop')) {
    // Baseline: the same TLS port and service, but Certify answers a canned response without signing.
    const canned = await server.authority.issueDirect(`spiffe://${TD}/ns/ns-0/sa/sa-0`);
    const noop = new grpc.Server();
    noop.addService(identityServiceClient().service, {
      Certify: (_call: unknown, cb: grpc.sendUnaryData<CertifyResponseMsg>) =>
        cb(null, { spiffe_id: canned.spiffeId, cert_chain_pem: canned.certChainPem, bundle: { version: '1', pem: canned.trustBundlePem, issuing_root_id: '' }, not_before_unix_ms: '0', not_after_unix_ms: '0', serial: '00' }),
      SyncTrustBundle: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
    });
    const port = await new Promise<number>((ok, fail) => noop.bindAsync('127.0.0.1:0', identityServerCredentials(server.authority), (e, p) => (e ? fail(e) : ok(p))));
    process.send!({ target: `127.0.0.1:${port}`, bundlePem: server.authority.bundle.current.pem });
  } else {
    process.send!({ target: server.target, bundlePem: server.authority.bundle.current.pem });
  }
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stats') process.send!({ cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000, issued: server.authority.status().certificatesIssued });
    if (m.cmd === 'stop') void server.close().then(() => process.exit(0));
  });
} else {
  await main();
}

function ask<T>(child: ChildProcess, cmd?: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    if (cmd) child.send({ cmd });
  });
}

async function makeWorkloads(n: number, tokens: WorkloadTokens, distinctAccounts: number): Promise<Request[]> {
  const out: Request[] = [];
  const tokenCache = new Map<number, string>();
  for (let i = 0; i < n; i++) {
    const sa = i % distinctAccounts;
    let token = tokenCache.get(sa);
    if (token === undefined) {
      token = (await tokens.issue({ trustDomain: TD, namespace: `ns-${sa % 100}`, serviceAccount: `sa-${sa}`, ttlMs: 3600_000 })).token;
      tokenCache.set(sa, token);
    }
    const key = generateKeyPair('ec-p256');
    out.push({ csr_pem: await createCsr(key.privateKeyPem, `spiffe://${TD}/ns/ns-${sa % 100}/sa/sa-${sa}`), credential: { workload_token: token } });
  }
  return out;
}

function certify(c: CertifyClient, req: Request): Promise<void> {
  return new Promise((resolve, reject) => c.Certify(req, (e) => (e ? reject(e) : resolve())));
}

async function main(): Promise<void> {
  const CLIENTS = arg('clients', 50);
  const SECONDS = arg('seconds', 5);
  const WORKLOADS = arg('workloads', 10_000);
  const SIGN_WORKERS = arg('sign-workers', 1);
  const stateDir = mkdtempSync(join(tmpdir(), 'weft-bench-ca-'));
  // Create the CA (as the control plane would on first start) and read the token key like the CLI does.
  await IdentityAuthority.open({ trustDomain: TD, store: new FileCaStateStore(stateDir) });
  const state = (await new FileCaStateStore(stateDir).load())!;
  const tokens = new WorkloadTokens(state.tokenKey);

  process.stdout.write(`pre-generating ${WORKLOADS} key pairs, CSRs and tokens (${WORKLOADS} distinct SPIFFE IDs)… `);
  const t0 = performance.now();
  const workloads = await makeWorkloads(WORKLOADS, tokens, WORKLOADS);
  process.stdout.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  // Baseline: certify() in-process, no gRPC/TLS, sequential.
  const local = await IdentityAuthority.open({ trustDomain: TD, store: new FileCaStateStore(stateDir), signRatePerSec: 1_000_000 });
  const bl = workloads.slice(0, 1000);
  const tb = performance.now();
  for (const w of bl) await local.certify({ csrPem: w.csr_pem, token: w.credential.workload_token });
  const baselinePerSec = bl.length / ((performance.now() - tb) / 1000);
  local.close();

  // Baseline: gRPC + TLS round trips against a Certify that does not sign (same port setup, same clients).
  const baseline = await sustained(stateDir, ['--noop'], workloads, CLIENTS, Math.min(SECONDS, 3));

  const profile = process.env.WEFT_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.WEFT_BENCH_CPU_PROF}`] : [];
  const child = fork(fileURLToPath(import.meta.url), ['--server', stateDir, '--sign-workers', String(SIGN_WORKERS)], { execArgv: ['--import', 'tsx', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const info = await ask<{ target: string; bundlePem: string }>(child);
  const Ctor = identityServiceClient();
  const creds = grpc.credentials.createSsl(Buffer.from(info.bundlePem), null, null, {
    checkServerIdentity: (_h, cert) => ((cert.subjectaltname ?? '').includes(controlPlaneSpiffeId(TD)) ? undefined : new Error('wrong control plane')),
  });
  // 50 clients = 50 separate channels (own TCP+TLS connection each), like 50 proxies.
  const clients = Array.from({ length: CLIENTS }, (_, i) => new Ctor(info.target, creds, { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'weft-identity', 'weft.bench.client': i }) as unknown as CertifyClient);
  await Promise.all(clients.map((c) => certify(c, workloads[0]!)));
  // Warm-up (JIT in the server and its signing workers): 1.5 s of traffic, not measured.
  const warmEnd = performance.now() + 1500;
  let w = 0;
  await Promise.all(clients.map(async (c) => {
    while (performance.now() < warmEnd) await certify(c, workloads[w++ % workloads.length]!).catch(() => {});
  }));

  // Phase 1: sustained signatures/s, 50 clients each with one request in flight.
  let done = 0;
  let failed = 0;
  let next = 0;
  const end = performance.now() + SECONDS * 1000;
  const cpu0 = await ask<{ cpuMs: number }>(child, 'stats');
  const clientCpu0 = process.cpuUsage();
  const t1 = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        const w = workloads[next++ % workloads.length]!;
        try {
          await certify(c, w);
          done++;
        } catch {
          failed++;
        }
      }
    }),
  );
  const sustainedSecs = (performance.now() - t1) / 1000;
  const clientCpu = process.cpuUsage(clientCpu0);
  const clientCpuPerCall = (clientCpu.user + clientCpu.system) / 1000 / Math.max(1, done + failed);
  const cpu1 = await ask<{ cpuMs: number }>(child, 'stats');
  const perSec = done / sustainedSecs;
  const serverCpuPerSig = (cpu1.cpuMs - cpu0.cpuMs) / done;

  // Phase 2: 10,000 workloads, each asks once for its first certificate, 50 at a time over 50 channels.
  let idx = 0;
  let firstFailed = 0;
  const t2 = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      for (;;) {
        const i = idx++;
        if (i >= workloads.length) return;
        try {
          await certify(c, workloads[i]!);
        } catch {
          firstFailed++;
        }
      }
    }),
  );
  const firstSecs = (performance.now() - t2) / 1000;

  for (const c of clients) c.close();
  child.send({ cmd: 'stop' });
  await new Promise((r) => child.once('exit', r));
  rmSync(stateDir, { recursive: true, force: true });

  const rows: Array<[string, string, string]> = [
    ['in-process certify() (baseline, no gRPC)', `${baselinePerSec.toFixed(0)} /s`, '1 caller, sequential'],
    [`gRPC round trip, no signing (baseline), ${CLIENTS} clients`, `${baseline.perSec.toFixed(0)} /s`, `CPU per call: server ${baseline.serverCpu.toFixed(2)} ms, clients ${baseline.clientCpu.toFixed(2)} ms`],
    [`gRPC Certify, ${CLIENTS} clients, ${SECONDS} s, ${SIGN_WORKERS} signing worker(s)`, `${perSec.toFixed(0)} /s`, `${done} ok, ${failed} failed; CPU per call: server ${serverCpuPerSig.toFixed(2)} ms, clients ${clientCpuPerCall.toFixed(2)} ms`],
    [`${WORKLOADS} workloads' first certificate`, `${firstSecs.toFixed(2)} s`, `${(WORKLOADS / firstSecs).toFixed(0)} /s, ${firstFailed} failed`],
  ];
  console.log(`\nidentity issuance — ${availableParallelism()} CPUs, load ${loadavg()[0]!.toFixed(2)}, node ${process.versions.node}`);
  console.log('| measurement | result | notes |\n|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  const firstTarget = WORKLOADS >= 10_000 ? (firstSecs < 20 ? 'met' : 'MISSED') : `not measured (ran ${WORKLOADS} workloads)`;
  console.log(`targets: >= 1000 signatures/s: ${perSec >= 1000 ? 'met' : 'MISSED'}; 10,000 first certificates < 20 s: ${firstTarget}`);
  console.log(
    JSON.stringify({
      bench: 'control/issue',
      clients: CLIENTS,
      signWorkers: SIGN_WORKERS,
      signaturesPerSec: Math.round(perSec),
      failed,
      serverCpuMsPerSignature: Number(serverCpuPerSig.toFixed(3)),
      clientCpuMsPerCall: Number(clientCpuPerCall.toFixed(3)),
      workloads: WORKLOADS,
      firstCertificatesSeconds: Number(firstSecs.toFixed(2)),
      firstFailed,
      baselineInProcessPerSec: Math.round(baselinePerSec),
      baselineGrpcNoopPerSec: Math.round(baseline.perSec),
      baselineGrpcNoopServerCpuMs: Number(baseline.serverCpu.toFixed(3)),
      csrs: 'pre-generated',
      cpus: availableParallelism(),
      load1: Number(loadavg()[0]!.toFixed(2)),
    }),
  );
}

/** Sustained calls/s against a fresh server child (used for the no-signing baseline). */
async function sustained(stateDir: string, flags: string[], workloads: Request[], clientsN: number, seconds: number): Promise<{ perSec: number; serverCpu: number; clientCpu: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--server', stateDir, ...flags], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const info = await ask<{ target: string; bundlePem: string }>(child);
  const creds = grpc.credentials.createSsl(Buffer.from(info.bundlePem), null, null, {
    checkServerIdentity: (_h, cert) => ((cert.subjectaltname ?? '').includes(controlPlaneSpiffeId(TD)) ? undefined : new Error('wrong control plane')),
  });
  const Ctor = identityServiceClient();
  const clients = Array.from({ length: clientsN }, (_, i) => new Ctor(info.target, creds, { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'weft-identity', 'weft.bench.client': i }) as unknown as CertifyClient);
  await Promise.all(clients.map((c) => certify(c, workloads[0]!)));
  // The same 1.5 s warm-up as the signing phase, so both are measured with a warm JIT.
  const warmEnd = performance.now() + 1500;
  await Promise.all(clients.map(async (c) => {
    while (performance.now() < warmEnd) await certify(c, workloads[0]!).catch(() => {});
  }));
  let done = 0;
  let next = 0;
  const cpu0 = await ask<{ cpuMs: number }>(child, 'stats');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        await certify(c, workloads[next++ % workloads.length]!).catch(() => {});
        done++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cc = process.cpuUsage(c0);
  const cpu1 = await ask<{ cpuMs: number }>(child, 'stats');
  for (const c of clients) c.close();
  child.send({ cmd: 'stop' });
  await new Promise((r) => child.once('exit', r));
  return { perSec: done / secs, serverCpu: (cpu1.cpuMs - cpu0.cpuMs) / done, clientCpu: (cc.user + cc.system) / 1000 / done };
}
