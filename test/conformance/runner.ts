// The conformance runner library: selects tests, skips those needing features the SUT lacks, starts
// each test's echo backends, applies its manifests to the SUT, sends every case with the right client
// and judges it with the right comparator; then formats the per-test table and the JSON summary line.
import {
  loadConformanceTest,
  materializeCase,
  planBackends,
  prepareManifests,
  fillEndpointSlices,
  needsConformanceCertificate,
  type ConformanceCase,
  type ConformanceTest,
  type CorpusIndex,
  type GatewayTarget,
  type K8sObject,
  type MaterializedCase,
  type MeshTarget,
} from './corpus.ts';
import { startBackends, type RunningBackends } from './backends.ts';
import { echoSetHeaderValue, exchangeWebSocket, sendGrpc, sendHttp, type Address, type HttpProtocol, type WebSocketFrame } from './clients.ts';
import {
  backendFromPod,
  compareGatewayHttp,
  compareGrpc,
  compareMeshEcho,
  compareMirrored,
  compareMirrorPercentage,
  compareWebSocket,
  compareWeights,
  type Verdict,
} from './comparators.ts';
import { generateConformanceCertificate, type GeneratedCertificate } from './tls-cert.ts';
import type { AppliedConfig, SystemUnderTest } from './sut.ts';
import { parseEchoAdvanced } from '../support/echo-advanced.ts';
import { sharedTimer } from '../../src/core/coarse-timer.ts';
import { toError } from '../../src/core/errors.ts';

export type Outcome = 'passed' | 'failed' | 'skipped';

export interface CaseResult {
  id: string;
  name: string;
  status: Outcome;
  differences: string[];
  durationMs: number;
}

export interface TestResult {
  name: string;
  profile: 'gateway' | 'mesh';
  supportLevel: 'core' | 'extended';
  status: Outcome;
  /** Why the test was skipped or could not run. */
  reason?: string;
  missingFeatures: string[];
  cases: CaseResult[];
  durationMs: number;
}

export interface RunOptions {
  /** Check what upstream records but does not assert in mesh cases (path, redirect Location). */
  strictMesh?: boolean;
  /** Override `distribution.totalRequests` (tests use fewer to stay fast). */
  distributionRequests?: number;
  /** Cap `distribution.maxAttempts` (tests that expect a failure need only one attempt). */
  maxAttempts?: number;
  /** Override `repeat.count`. */
  repeatCount?: number;
  /** Per-request timeout (ms). */
  requestTimeoutMs?: number;
  /**
   * Check single-exchange cases the way upstream does for a converging cluster: until `consecutive`
   * passes in a row within `withinMs` (upstream: 3 within 30 s). Off by default: apply() must return a
   * live configuration.
   */
  eventually?: { consecutive: number; withinMs: number; intervalMs?: number };
  /** Apply these full base sets (loadBaseManifests) instead of each test's own baseManifests subset. */
  baseObjects?: { gateway: readonly K8sObject[]; mesh: readonly K8sObject[] };
  /** Progress lines (one per case). */
  log?: (line: string) => void;
}

export interface TestSelection {
  profile?: 'gateway' | 'mesh';
  names?: readonly string[];
  includeStatusOnly?: boolean;
}

/** Names of the index's tests matching the selection, in index order. */
export function selectTests(index: CorpusIndex, selection: TestSelection = {}): string[] {
  const wanted = selection.names && selection.names.length > 0 ? new Set(selection.names) : undefined;
  return index.tests
    .filter((t) => (selection.profile === undefined || t.profile === selection.profile) && (wanted === undefined || wanted.has(t.name)) && (selection.includeStatusOnly !== false || !t.statusOnly))
    .map((t) => t.name);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => sharedTimer.deadline(ms, resolve));
}

/** Runs `n` async jobs with at most `concurrency` in flight. */
async function pool<T>(n: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await job(i);
    }
  });
  await Promise.all(workers);
  return out;
}

interface CaseContext {
  applied: AppliedConfig;
  backends: RunningBackends;
  certificate: GeneratedCertificate | undefined;
  options: RunOptions;
}

function podIPOf(backends: RunningBackends, namespaceHint: string | undefined) {
  return (prefix: string): string | undefined => {
    const pod = backends.pods.find((p) => p.podNamePrefix === prefix && (namespaceHint === undefined || p.namespace === namespaceHint)) ?? backends.pods.find((p) => p.podNamePrefix === prefix);
    return pod?.podIP;
  };
}

function materialize(c: ConformanceCase, ctx: CaseContext, gateway?: Address): MaterializedCase {
  const ns = c.target.kind === 'mesh' ? c.target.client.namespace : undefined;
  return materializeCase(c, { podIP: podIPOf(ctx.backends, ns), ...(gateway ? { gateway: `${gateway.host}:${gateway.port}` } : {}) });
}

/** One gateway-http exchange: send, compare; returns the verdict and the answering pod. */
async function gatewayHttpOnce(m: MaterializedCase, address: Address, ctx: CaseContext, extraHeaders: Record<string, string> = {}): Promise<{ verdict: Verdict; pod: string | undefined; echoHeaders: Record<string, string[]> | undefined }> {
  const target = m.target as GatewayTarget;
  const protocol = (m.request.protocol ?? 'HTTP') as HttpProtocol;
  const host = m.request.host ?? '';
  const path = m.request.path ?? '/';
  try {
    const res = await sendHttp({
      address,
      protocol,
      method: m.request.method ?? 'GET',
      host,
      path,
      headers: { ...(m.request.headers ?? {}), ...extraHeaders },
      echoSetHeader: echoSetHeaderValue(m.backendSetResponseHeaders),
      followRedirects: m.request.followRedirects ?? true,
      ...(m.request.serverName ?? target.serverName ? { serverName: (m.request.serverName ?? target.serverName) as string } : {}),
      ...(ctx.certificate ? { ca: ctx.certificate.cert } : {}),
      ...(m.request.body !== undefined ? { body: m.request.body } : {}),
      timeoutMs: ctx.options.requestTimeoutMs ?? 10_000,
    });
    const hostHeader = host === '' ? `${address.host}:${address.port}` : host;
    const requestUrl = `${target.scheme ?? 'http'}://${hostHeader}${path}`;
    return { verdict: compareGatewayHttp(m.expected, res, requestUrl), pod: res.echo?.pod, echoHeaders: res.echo?.headers };
  } catch (error) {
    return { verdict: { pass: false, differences: [`request failed: ${toError(error).message}`] }, pod: undefined, echoHeaders: undefined };
  }
}

async function waitForCount(count: () => number, atLeast: number, maxMs: number): Promise<number> {
  const start = performance.now();
  let n = count();
  while (n < atLeast && performance.now() - start < maxMs) {
    await sleep(50);
    n = count();
  }
  return n;
}

/** Counts settle when two polls 200 ms apart agree (mirrors are fire-and-forget). */
async function settledCount(count: () => number, maxMs: number): Promise<number> {
  const start = performance.now();
  let prev = -1;
  let n = count();
  while (n !== prev && performance.now() - start < maxMs) {
    prev = n;
    await sleep(200);
    n = count();
  }
  return n;
}

async function runGatewayHttpCase(c: ConformanceCase, ctx: CaseContext): Promise<Verdict> {
  const target = c.target as GatewayTarget;
  const address = ctx.applied.gatewayAddress(target.gateway, target.port);
  const dist = c.distribution;
  const mirrors = c.expected.mirroredTo ?? [];
  if (dist !== undefined && mirrors.some((mt) => mt.percent !== null)) {
    // Percentage mirror: one request id per attempt, shared by every request of the attempt.
    const total = ctx.options.distributionRequests ?? dist.totalRequests;
    let last: Verdict = { pass: false, differences: ['no attempt ran'] };
    for (let attempt = 0; attempt < Math.min(dist.maxAttempts ?? 1, ctx.options.maxAttempts ?? Infinity); attempt++) {
      const m = materialize(c, ctx, address);
      const results = await pool(total, dist.concurrency ?? 10, () => gatewayHttpOnce(m, address, ctx));
      const bad = results.find((r) => !r.verdict.pass);
      if (bad) return { pass: false, differences: bad.verdict.differences };
      const uri = m.request.path ?? '/';
      const differences: string[] = [];
      for (const mt of mirrors) {
        const n = await settledCount(() => ctx.backends.countEchoed(mt.namespace, mt.name, uri), 3000);
        differences.push(...compareMirrorPercentage(n, total, mt.percent ?? 100, dist.toleranceStdDevs ?? 3).differences);
      }
      last = { pass: differences.length === 0, differences };
      if (last.pass) return last;
    }
    return last;
  }
  if (dist?.expectedWeights !== undefined) {
    const total = ctx.options.distributionRequests ?? dist.totalRequests;
    let last: Verdict = { pass: false, differences: ['no attempt ran'] };
    for (let attempt = 0; attempt < Math.min(dist.maxAttempts ?? 1, ctx.options.maxAttempts ?? Infinity); attempt++) {
      const counts = new Map<string, number>();
      const results = await pool(total, dist.concurrency ?? 10, async () => {
        const m = materialize(c, ctx, address);
        // Entropy as upstream: a random X-Jitter header on some requests (no random delays: they only slow the run).
        const jitter: Record<string, string> = Math.random() < 0.5 ? { 'X-Jitter': Math.random().toString(36).slice(2) } : {};
        return gatewayHttpOnce(m, address, ctx, jitter);
      });
      const bad = results.find((r) => !r.verdict.pass);
      if (bad) return { pass: false, differences: bad.verdict.differences };
      for (const r of results) if (r.pod) counts.set(backendFromPod(r.pod), (counts.get(backendFromPod(r.pod)) ?? 0) + 1);
      last = compareWeights(counts, dist.expectedWeights, dist.tolerance ?? 0.05);
      if (last.pass) return last;
    }
    return last;
  }
  if (c.repeat !== undefined) {
    const count = ctx.options.repeatCount ?? c.repeat.count;
    for (let i = 0; i < count; i++) {
      const r = await gatewayHttpOnce(materialize(c, ctx, address), address, ctx);
      if (!r.verdict.pass) return { pass: false, differences: [`repeat ${i + 1}/${count}: ${r.verdict.differences.join('; ')}`] };
      // The one repeat assertion in the corpus: exactly one Backend header, naming the answering pod's Deployment.
      const values = Object.entries(r.echoHeaders ?? {}).filter(([k]) => k.toLowerCase() === 'backend').flatMap(([, v]) => v);
      if (values.length !== 1) return { pass: false, differences: [`repeat ${i + 1}/${count}: expected exactly one Backend request header, got ${JSON.stringify(values)}`] };
      if (!(r.pod ?? '').startsWith(values[0] as string)) return { pass: false, differences: [`repeat ${i + 1}/${count}: Backend header ${values[0]} but pod ${r.pod ?? '?'} answered`] };
    }
    return { pass: true, differences: [] };
  }
  const m = materialize(c, ctx, address);
  const r = await gatewayHttpOnce(m, address, ctx);
  if (!r.verdict.pass || mirrors.length === 0) return r.verdict;
  const uri = m.request.path ?? '/';
  const counted = await Promise.all(mirrors.map(async (mt) => ({ ...mt, count: await waitForCount(() => ctx.backends.countEchoed(mt.namespace, mt.name, uri), 1, 2000) })));
  return compareMirrored(counted, uri);
}

async function runGrpcCase(c: ConformanceCase, ctx: CaseContext): Promise<Verdict> {
  const target = c.target as GatewayTarget;
  const address = ctx.applied.gatewayAddress(target.gateway, target.port);
  const once = async (extra: Record<string, string> = {}) => {
    const m = materialize(c, ctx, address);
    try {
      const res = await sendGrpc({ address, authority: m.request.authority ?? null, method: m.request.method ?? 'Echo', metadata: { ...(m.request.metadata ?? {}), ...extra }, timeoutMs: ctx.options.requestTimeoutMs ?? 10_000 });
      return { verdict: compareGrpc(m.expected, res), pod: res.assertions?.context?.pod };
    } catch (error) {
      return { verdict: { pass: false, differences: [`gRPC call failed: ${toError(error).message}`] }, pod: undefined };
    }
  };
  const dist = c.distribution;
  if (dist?.expectedWeights !== undefined) {
    const total = ctx.options.distributionRequests ?? dist.totalRequests;
    let last: Verdict = { pass: false, differences: ['no attempt ran'] };
    for (let attempt = 0; attempt < Math.min(dist.maxAttempts ?? 1, ctx.options.maxAttempts ?? Infinity); attempt++) {
      const results = await pool(total, dist.concurrency ?? 10, () => once(Math.random() < 0.5 ? { 'x-jitter': Math.random().toString(36).slice(2) } : {}));
      const bad = results.find((r) => !r.verdict.pass);
      if (bad) return bad.verdict;
      const counts = new Map<string, number>();
      for (const r of results) if (r.pod) counts.set(backendFromPod(r.pod), (counts.get(backendFromPod(r.pod)) ?? 0) + 1);
      last = compareWeights(counts, dist.expectedWeights, dist.tolerance ?? 0.05);
      if (last.pass) return last;
    }
    return last;
  }
  return (await once()).verdict;
}

async function runWebSocketCase(c: ConformanceCase, ctx: CaseContext): Promise<Verdict> {
  const target = c.target as GatewayTarget;
  const address = ctx.applied.gatewayAddress(target.gateway, target.port);
  const m = materialize(c, ctx, address);
  const frames = (m.expected.exchange ?? []).map((s) => s.send as WebSocketFrame);
  try {
    const received = await exchangeWebSocket(m.request.url ?? `ws://${address.host}:${address.port}/ws`, frames, { ...(m.request.origin ? { origin: m.request.origin } : {}), timeoutMs: ctx.options.requestTimeoutMs ?? 5000 });
    return compareWebSocket(m.expected, received);
  } catch (error) {
    return { pass: false, differences: [`websocket exchange failed: ${toError(error).message}`] };
  }
}

async function runMeshCase(c: ConformanceCase, ctx: CaseContext): Promise<Verdict> {
  const target = c.target as MeshTarget;
  const sender = ctx.applied.meshClient(target.client);
  const once = async () => {
    const m = materialize(c, ctx);
    try {
      const text = await sender({
        url: m.request.url ?? `http://${m.request.host ?? 'echo'}${m.request.path ?? '/'}`,
        method: m.request.method ?? 'GET',
        headers: m.request.headers ?? {},
        protocol: m.request.protocol === 'grpc' ? 'grpc' : 'http',
      });
      const parsed = parseEchoAdvanced(text);
      return { verdict: compareMeshEcho(m.expected, parsed, { strict: ctx.options.strictMesh === true, request: m.request }), pod: parsed.hostname };
    } catch (error) {
      return { verdict: { pass: false, differences: [`mesh request failed: ${toError(error).message}`] }, pod: undefined };
    }
  };
  const dist = c.distribution;
  if (dist?.expectedWeights !== undefined) {
    const total = ctx.options.distributionRequests ?? dist.totalRequests;
    let last: Verdict = { pass: false, differences: ['no attempt ran'] };
    for (let attempt = 0; attempt < Math.min(dist.maxAttempts ?? 1, ctx.options.maxAttempts ?? Infinity); attempt++) {
      const results = await pool(total, dist.concurrency ?? 10, once);
      const bad = results.find((r) => !r.verdict.pass);
      if (bad) return bad.verdict;
      const counts = new Map<string, number>();
      for (const r of results) if (r.pod) counts.set(backendFromPod(r.pod), (counts.get(backendFromPod(r.pod)) ?? 0) + 1);
      last = compareWeights(counts, dist.expectedWeights, dist.tolerance ?? 0.05);
      if (last.pass) return last;
    }
    return last;
  }
  return (await once()).verdict;
}

/**
 * Upstream's eventual consistency for single-exchange cases: repeat until the case passes `consecutive`
 * times in a row, or `withinMs` has passed (then the last verdict stands). Distribution, repeat and
 * mirror cases already run many requests and are checked once.
 */
async function runCase(test: ConformanceTest, c: ConformanceCase, ctx: CaseContext): Promise<Verdict> {
  const eventually = ctx.options.eventually;
  if (eventually === undefined || c.distribution !== undefined || c.repeat !== undefined || (c.expected.mirroredTo ?? []).length > 0) return runCaseOnce(test, c, ctx);
  const started = performance.now();
  let streak = 0;
  for (;;) {
    const verdict = await runCaseOnce(test, c, ctx);
    streak = verdict.pass ? streak + 1 : 0;
    if (streak >= eventually.consecutive || performance.now() - started >= eventually.withinMs) return verdict;
    await sleep(eventually.intervalMs ?? 100);
  }
}

function runCaseOnce(test: ConformanceTest, c: ConformanceCase, ctx: CaseContext): Promise<Verdict> {
  if (c.target.kind === 'mesh') return runMeshCase(c, ctx);
  switch (test.comparator) {
    case 'grpc':
      return runGrpcCase(c, ctx);
    case 'websocket-echo':
      return runWebSocketCase(c, ctx);
    default:
      return runGatewayHttpCase(c, ctx);
  }
}

/** Features the test needs that the SUT does not declare. */
export function missingFeatures(test: Pick<ConformanceTest, 'features'>, sut: Pick<SystemUnderTest, 'supportedFeatures'>): string[] {
  return test.features.filter((f) => !sut.supportedFeatures.has(f));
}

/** Runs one test against a started SUT. Never throws: setup failures become a failed test with a reason. */
export async function runConformanceTest(test: ConformanceTest, sut: SystemUnderTest, options: RunOptions = {}): Promise<TestResult> {
  const started = performance.now();
  const base = { name: test.name, profile: test.profile, supportLevel: test.supportLevel };
  const skipAll = (reason: string, missing: string[] = []): TestResult => ({
    ...base,
    status: 'skipped',
    reason,
    missingFeatures: missing,
    cases: test.cases.map((c) => ({ id: c.id, name: c.name, status: 'skipped', differences: [], durationMs: 0 })),
    durationMs: 0,
  });
  if (test.statusOnly === true || test.cases.length === 0) return skipAll('status-only: sends no traffic');
  const missing = missingFeatures(test, sut);
  if (missing.length > 0) return skipAll(`SUT lacks features: ${missing.join(', ')}`, missing);

  let backends: RunningBackends | undefined;
  let applied: AppliedConfig | undefined;
  const cases: CaseResult[] = [];
  try {
    const baseObjects = options.baseObjects?.[test.profile];
    const certificate = needsConformanceCertificate({ ...test, baseManifests: [...(baseObjects ?? test.baseManifests)] }) ? await generateConformanceCertificate() : undefined;
    backends = await startBackends(planBackends(test), test.backends, certificate);
    const manifests = fillEndpointSlices(
      prepareManifests(test, { gatewayClassName: sut.gatewayClassName, ...(certificate ? { certificate } : {}), ...(baseObjects ? { baseObjects } : {}) }),
      backends,
    );
    applied = await sut.apply(manifests, backends);
    const ctx: CaseContext = { applied, backends, certificate, options };
    for (const c of test.cases) {
      const t0 = performance.now();
      let verdict: Verdict;
      try {
        for (const action of c.preActions ?? []) await sut.deletePre(action);
        verdict = await runCase(test, c, ctx);
      } catch (error) {
        verdict = { pass: false, differences: [`case could not run: ${toError(error).message}`] };
      }
      const result: CaseResult = { id: c.id, name: c.name, status: verdict.pass ? 'passed' : 'failed', differences: verdict.differences, durationMs: Math.round(performance.now() - t0) };
      cases.push(result);
      options.log?.(`${result.status === 'passed' ? 'PASS' : 'FAIL'} ${c.id} ${c.name}${verdict.pass ? '' : `\n       ${verdict.differences.join('\n       ')}`}`);
    }
  } catch (error) {
    const reason = `setup failed: ${toError(error).message}`;
    for (const c of test.cases.slice(cases.length)) cases.push({ id: c.id, name: c.name, status: 'failed', differences: [reason], durationMs: 0 });
    return { ...base, status: 'failed', reason, missingFeatures: [], cases, durationMs: Math.round(performance.now() - started) };
  } finally {
    await applied?.remove().catch(() => undefined);
    await backends?.close().catch(() => undefined);
  }
  const failed = cases.some((c) => c.status === 'failed');
  return { ...base, status: failed ? 'failed' : 'passed', missingFeatures: [], cases, durationMs: Math.round(performance.now() - started) };
}

export interface RunSummary {
  sut: string;
  tests: { passed: number; failed: number; skipped: number };
  cases: { passed: number; failed: number; skipped: number };
  results: TestResult[];
  durationMs: number;
}

/** Starts the SUT, runs the named tests in order, stops the SUT. */
export async function runConformance(sut: SystemUnderTest, names: readonly string[], index: CorpusIndex, options: RunOptions = {}): Promise<RunSummary> {
  const started = performance.now();
  const results: TestResult[] = [];
  await sut.start();
  try {
    for (const name of names) results.push(await runConformanceTest(loadConformanceTest(name, index), sut, options));
  } finally {
    await sut.stop();
  }
  return summarize(sut.name, results, Math.round(performance.now() - started));
}

export function summarize(sut: string, results: TestResult[], durationMs: number): RunSummary {
  const count = (xs: Array<{ status: Outcome }>, s: Outcome) => xs.filter((x) => x.status === s).length;
  const allCases = results.flatMap((r) => r.cases);
  return {
    sut,
    tests: { passed: count(results, 'passed'), failed: count(results, 'failed'), skipped: count(results, 'skipped') },
    cases: { passed: count(allCases, 'passed'), failed: count(allCases, 'failed'), skipped: count(allCases, 'skipped') },
    results,
    durationMs,
  };
}

/** The per-test table: name, profile, support, result, cases passed/failed/skipped, note. */
export function formatTable(summary: RunSummary): string {
  const rows = summary.results.map((r) => {
    const c = (s: Outcome) => r.cases.filter((x) => x.status === s).length;
    return [r.name, r.profile, r.supportLevel, r.status.toUpperCase(), String(c('passed')), String(c('failed')), String(c('skipped')), r.reason ?? ''];
  });
  const header = ['test', 'profile', 'support', 'result', 'pass', 'fail', 'skip', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w)))];
  for (const row of rows) out.push(line(row));
  out.push(
    `${summary.sut}: tests ${summary.tests.passed} passed, ${summary.tests.failed} failed, ${summary.tests.skipped} skipped; cases ${summary.cases.passed} passed, ${summary.cases.failed} failed, ${summary.cases.skipped} skipped (${(summary.durationMs / 1000).toFixed(1)} s)`,
  );
  return out.join('\n');
}

/** The machine-readable summary line (no per-case detail). */
export function summaryJson(summary: RunSummary): string {
  return JSON.stringify({
    kind: 'gateway-api-conformance',
    sut: summary.sut,
    tests: summary.tests,
    cases: summary.cases,
    durationMs: summary.durationMs,
    failed: summary.results.filter((r) => r.status === 'failed').map((r) => r.name),
    skipped: summary.results.filter((r) => r.status === 'skipped').map((r) => ({ name: r.name, missingFeatures: r.missingFeatures, reason: r.reason })),
  });
}
