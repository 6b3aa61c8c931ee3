// The e2e benchmark (issue 4): on loopback, one run measures a 1 KiB GET through
//   direct            client → nginx upstream
//   weft-mtls         client → weft outbound → mTLS (the proxy's default peer protocol: h2 on weft's own
//                     codec, every request multiplexed on one connection) → weft inbound → upstream
//   weft-mtls-h1      the same with pooled HTTP/1.1 between the proxies (peerProtocol http1)
//   haproxy-mtls(-h1) the same two mTLS hops with HAProxy (nbthread 1 each; h2 / HTTP/1.1 between the hops)
//   weft-hop, haproxy-hop, nginx-hop   one plain HTTP/1.1 hop, for orientation
// and reports max throughput (wrk at 16 and 64 connections, h2load for HTTP/2), latency at a fixed
// 1,000 rps over 16 connections (open-loop client), proxy RSS idle/peak and proxy CPU µs per request,
// then the issue's targets with pass/fail, a table, and one JSON line.
//
// Usage: npm run bench -- e2e/mesh-path [--quick] [--seconds N] [--only a,b] [--profile DIR]
import { cpus, loadavg } from 'node:os';
import { mkdirSync } from 'node:fs';
import { startUpstream, startHaproxyMesh, startHaproxyHop, startNginxHop, type Endpoint, type MtlsPair } from '../lib/servers.ts';
import { makeBenchPki } from '../lib/certs.ts';
import { startWeftMesh, startWeftHop, weftProxyAvailable, weftLaunchMode, weftSourceCommit, WEFT_SERVICE } from '../lib/weft.ts';
import { measurePath, type PathResult, type MeasureOptions } from '../lib/measure.ts';
import { printTable, printJsonLine, judge, targetRows, type Cell, type Target } from '../lib/report.ts';
import { summariseProfileDir } from '../lib/cpu-profile.ts';
import { round } from '../lib/stats.ts';
import { killAll } from '../lib/processes.ts';
import { parseE2eOptions, log } from '../lib/options.ts';

const { quick, seconds, only, profileDir } = parseE2eOptions();

const options: MeasureOptions = {
  seconds,
  connections: [16, 64],
  fixedRate: { rate: 1000, connections: 16, seconds: quick ? 2 : 4 },
  h2: { connections: 16, streams: 10 },
  warmupSeconds: 1,
  log,
};

interface PathPlan {
  key: string;
  label: string;
  hops: number;
  authority?: string;
  start: () => Promise<Endpoint>;
}

async function main(): Promise<void> {
  const weft = weftProxyAvailable();
  if (!weft) log('weft proxy not found (src/proxy/proxy.ts): weft paths are skipped');
  else log(`weft proxies start through: ${weftLaunchMode()}`);
  const upstream = await startUpstream();
  const pki = await makeBenchPki();
  const pair: MtlsPair = { pki, client: await pki.issue('client'), server: await pki.issue('server') };
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });

  const plans: PathPlan[] = [
    { key: 'direct', label: 'direct (client → nginx upstream)', hops: 0, start: async () => ({ procs: [], port: upstream.port, h2Port: upstream.h2Port, stop: async () => {} }) },
    ...(weft
      ? [
          { key: 'weft-mtls', label: 'weft → mTLS (default peer protocol) → weft', hops: 2, authority: WEFT_SERVICE, start: () => startWeftMesh(upstream.port, pair, { cpuProfDir: profileDir }) },
          { key: 'weft-mtls-h1', label: 'weft → mTLS h1 → weft', hops: 2, authority: WEFT_SERVICE, start: () => startWeftMesh(upstream.port, pair, { cpuProfDir: profileDir, link: 'http1', tag: 'h1' }) },
        ]
      : []),
    { key: 'haproxy-mtls', label: 'HAProxy → mTLS h2 → HAProxy', hops: 2, start: () => startHaproxyMesh(upstream.port, pair, 'h2') },
    { key: 'haproxy-mtls-h1', label: 'HAProxy → mTLS h1 → HAProxy', hops: 2, start: () => startHaproxyMesh(upstream.port, pair, 'http/1.1') },
    ...(weft ? [{ key: 'weft-hop', label: 'weft, one plain hop', hops: 1, authority: WEFT_SERVICE, start: () => startWeftHop(upstream.port, { cpuProfDir: profileDir }) }] : []),
    { key: 'haproxy-hop', label: 'HAProxy, one plain hop', hops: 1, start: () => startHaproxyHop(upstream.port) },
    { key: 'nginx-hop', label: 'nginx, one plain hop (h1 only)', hops: 1, start: () => startNginxHop(upstream.port) },
  ];

  const results = new Map<string, PathResult>();
  for (const plan of plans) {
    if (only !== undefined && !only.has(plan.key) && plan.key !== 'direct') continue;
    log(`${plan.key}: starting`);
    let ep: Endpoint | undefined;
    try {
      ep = await plan.start();
      const r = await measurePath({ key: plan.key, label: plan.label, port: ep.port, h2Port: ep.h2Port, authority: plan.authority, procs: ep.procs, hops: plan.hops }, options);
      results.set(plan.key, r);
    } catch (e) {
      log(`${plan.key}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await ep?.stop();
    }
  }
  await upstream.stop();

  report(results);
}

/** Latency added over direct, ms. */
function added(r: PathResult | undefined, d: PathResult | undefined, p: 'p50' | 'p99'): number | undefined {
  if (r?.fixedRate === undefined || d?.fixedRate === undefined) return undefined;
  // A run that did not complete every scheduled request has no honest percentile.
  if (r.fixedRate.completed < r.fixedRate.scheduled || d.fixedRate.completed < d.fixedRate.scheduled) return undefined;
  const v = (r.fixedRate.latencyUs[p] - d.fixedRate.latencyUs[p]) / 1000;
  return Number.isFinite(v) ? v : undefined;
}

const rpsAt = (r: PathResult | undefined, c: number): number | undefined => r?.throughput.find((t) => t.connections === c)?.rps;
const cpuAt = (r: PathResult | undefined, c: number): number | undefined => r?.throughput.find((t) => t.connections === c)?.cpuUsPerRequest;
const mb = (b: number | undefined): number | undefined => (b === undefined ? undefined : b / (1024 * 1024));
const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
/**
 * Ratio of added latencies. When HAProxy's addition is under 10 µs (or negative: the direct run
 * was noisier than the proxied one) the ratio means nothing, and is reported as not measured.
 */
const addedRatio = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined || b < 0.01 ? undefined : a / b);

function report(results: Map<string, PathResult>): void {
  const direct = results.get('direct');
  const rows: Cell[][] = [];
  for (const r of results.values()) {
    const c64 = cpuAt(r, 64);
    rows.push([r.key, rpsAt(r, 16), rpsAt(r, 64), r.h2?.rps, r.throughput.reduce((n, t) => n + t.errors, 0) + (r.h2?.errors ?? 0), c64, c64 !== undefined && r.hops > 0 ? c64 / r.hops : undefined, r.throughput.find((t) => t.connections === 64)?.cpuCores, r.backgroundCores]);
  }
  printTable(`max throughput (wrk, HTTP/1.1 keep-alive, 1 KiB; h2load 16 conn × 10 streams; ${seconds}s each)`, ['path', 'rps c16', 'rps c64', 'h2 rps', 'errors', 'cpu µs/req c64', 'µs/req/hop', 'proxy cores', 'bg cores'], rows.map((r) => r.map((c) => (typeof c === 'number' ? round(c, 1) : c))));

  const lat: Cell[][] = [];
  for (const r of results.values()) {
    const f = r.fixedRate;
    if (f === undefined) continue;
    const a50 = added(r, direct, 'p50');
    const a99 = added(r, direct, 'p99');
    lat.push([r.key, f.latencyUs.p50 / 1000, f.latencyUs.p90 / 1000, f.latencyUs.p99 / 1000, f.latencyUs.p999 / 1000, r.key === 'direct' ? undefined : a50, r.key === 'direct' ? undefined : a99, f.proxyCpuUsPerRequest, f.queued, f.errors]);
  }
  printTable(`latency at a fixed ${options.fixedRate?.rate} rps over ${options.fixedRate?.connections} connections (open-loop client), ms`, ['path', 'p50', 'p90', 'p99', 'p99.9', '+p50', '+p99', 'cpu µs/req', 'queued', 'errors'], lat.map((r) => r.map((c) => (typeof c === 'number' ? round(c, 3) : c))));

  const mem: Cell[][] = [];
  for (const r of results.values()) if (r.hops > 0) mem.push([r.key, round(mb(r.rssIdle) ?? NaN, 1), round(mb(r.rssPeak) ?? NaN, 1)]);
  printTable('proxy memory (largest process of the path), MB', ['path', 'RSS idle', 'RSS peak'], mem);

  for (const r of results.values()) {
    if (r.failure !== undefined) process.stdout.write(`\n${r.key} FAILED part-way (numbers above are what was measured before):\n  ${r.failure.split('\n').slice(0, 12).join('\n  ')}\n`);
  }

  const w = results.get('weft-mtls');
  const h = results.get('haproxy-mtls');
  const wh = results.get('weft-hop');
  const targets: Target[] = [
    { name: '(i) weft mTLS path: added p50 at 1k rps', value: added(w, direct, 'p50'), limit: 0.3, kind: 'max', unit: 'ms' },
    { name: '(i) weft mTLS path: added p99 at 1k rps', value: added(w, direct, 'p99'), limit: 1, kind: 'max', unit: 'ms' },
    { name: '(i) added p50: weft / HAProxy', value: addedRatio(added(w, direct, 'p50'), added(h, direct, 'p50')), limit: 1.5, kind: 'max', unit: '×' },
    { name: '(i) added p99: weft / HAProxy', value: addedRatio(added(w, direct, 'p99'), added(h, direct, 'p99')), limit: 1.5, kind: 'max', unit: '×' },
    { name: '(ii) throughput c64: weft / HAProxy mTLS', value: ratio(rpsAt(w, 64), rpsAt(h, 64)), limit: 0.5, kind: 'min', unit: '×' },
    { name: '(iii) weft RSS idle', value: mb(w?.rssIdle ?? wh?.rssIdle), limit: 50, kind: 'max', unit: 'MB' },
    { name: '(iii) weft RSS peak', value: mb(w?.rssPeak ?? wh?.rssPeak), limit: 100, kind: 'max', unit: 'MB' },
    { name: '(iv) weft CPU per plain h1 request, one hop', value: cpuAt(wh, 64), limit: 16, kind: 'max', unit: 'µs' },
    // The 16 µs above is 1.6× the 9.9 µs HAProxy needed when issue 4 was written; the ratio is the machine-independent form.
    { name: '(iv) plain hop CPU: weft / HAProxy', value: ratio(cpuAt(wh, 64), cpuAt(results.get('haproxy-hop'), 64)), limit: 1.6, kind: 'max', unit: '×' },
    { name: '(iv) weft CPU per request per mTLS hop', value: cpuAt(w, 64) === undefined ? undefined : (cpuAt(w, 64) as number) / 2, limit: 22, kind: 'max', unit: 'µs' },
  ];
  const judged = judge(targets);
  printTable('targets (issue 4)', ['target', 'measured', 'limit', 'unit', 'result'], targetRows(judged));

  // Other people's work on a shared machine inflates latency and cuts throughput; say so.
  const busiest = Math.max(0, ...[...results.values()].map((r) => r.backgroundCores ?? 0));
  if (busiest > 0.5) {
    process.stdout.write(`\nWARNING: up to ${busiest.toFixed(2)} cores were busy with other processes before a path was measured; absolute rps and latency are not representative. Compare within the run (ratios) and CPU µs/request.\n`);
  }

  const profiles: Record<string, unknown> = {};
  if (profileDir !== undefined) {
    // Only samples taken during the max-throughput runs: no start-up, warm-up or idle time.
    const windows = [...results.values()].flatMap((r) => r.loadWindowsUs);
    for (const [f, s] of summariseProfileDir(profileDir, 15, windows)) {
      profiles[f] = { busyMs: round(s.busyMs, 0), categories: s.categories.map((e) => ({ name: e.name, percent: round(e.percent, 1) })), top: s.functions.map((e) => ({ name: e.name, percent: round(e.percent, 1) })) };
      printTable(`profile ${f} (during the wrk runs, ${round(s.busyMs, 0)} ms busy): self time by category`, ['category', '%'], s.categories.map((e) => [e.name, round(e.percent, 1)]));
      printTable(`profile ${f}: top functions (self time)`, ['function', '%'], s.functions.map((e) => [e.name, round(e.percent, 1)]));
    }
  }

  const slim = (r: PathResult): Record<string, unknown> => ({
    hops: r.hops,
    backgroundCores: round(r.backgroundCores ?? NaN, 2),
    rps: Object.fromEntries(r.throughput.map((t) => [`c${t.connections}`, round(t.rps, 0)])),
    h2Rps: r.h2 ? round(r.h2.rps, 0) : undefined,
    errors: r.throughput.reduce((n, t) => n + t.errors, 0) + (r.h2?.errors ?? 0),
    cpuUsPerReq: Object.fromEntries(r.throughput.map((t) => [`c${t.connections}`, t.cpuUsPerRequest === undefined ? undefined : round(t.cpuUsPerRequest, 2)])),
    ...(r.key.startsWith('weft') ? { syscallsPerReq: Object.fromEntries(r.throughput.map((t) => [`c${t.connections}`, { reads: round(t.readsPerRequest ?? NaN, 2), writes: round(t.writesPerRequest ?? NaN, 2) }])) } : {}),
    h2CpuUsPerReq: r.h2?.cpuUsPerRequest === undefined ? undefined : round(r.h2.cpuUsPerRequest, 2),
    fixedRate: r.fixedRate ? { p50Ms: round(r.fixedRate.latencyUs.p50 / 1000, 3), p90Ms: round(r.fixedRate.latencyUs.p90 / 1000, 3), p99Ms: round(r.fixedRate.latencyUs.p99 / 1000, 3), p999Ms: round(r.fixedRate.latencyUs.p999 / 1000, 3), queued: r.fixedRate.queued, errors: r.fixedRate.errors, cpuUsPerReq: r.fixedRate.proxyCpuUsPerRequest === undefined ? undefined : round(r.fixedRate.proxyCpuUsPerRequest, 2), clientTimerLagP99Us: round(r.fixedRate.timerLagP99Us, 0), clientCpuUsPerReq: round(r.fixedRate.cpuUsPerRequest ?? NaN, 2) } : undefined,
    rssIdleMb: r.rssIdle === undefined ? undefined : round(mb(r.rssIdle) as number, 1),
    rssPeakMb: r.rssPeak === undefined ? undefined : round(mb(r.rssPeak) as number, 1),
    ...(r.failure !== undefined ? { failure: r.failure.split('\n')[0] } : {}),
  });
  printJsonLine({
    bench: 'e2e/mesh-path',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavg: loadavg().map((v) => round(v, 2)), maxBackgroundCores: round(busiest, 2) },
    weft: { launch: weftLaunchMode(), commit: weftSourceCommit() },
    params: { seconds, quick, connections: options.connections, fixedRate: options.fixedRate, h2: options.h2, bodyBytes: 1024 },
    paths: Object.fromEntries([...results.values()].map((r) => [r.key, slim(r)])),
    ratios: {
      weftOverDirect: { rpsC16: round(ratio(rpsAt(w, 16), rpsAt(direct, 16)) ?? NaN, 3), rpsC64: round(ratio(rpsAt(w, 64), rpsAt(direct, 64)) ?? NaN, 3), p50: round(ratio(w?.fixedRate?.latencyUs.p50, direct?.fixedRate?.latencyUs.p50) ?? NaN, 3), p99: round(ratio(w?.fixedRate?.latencyUs.p99, direct?.fixedRate?.latencyUs.p99) ?? NaN, 3) },
      weftOverHaproxy: { rpsC16: round(ratio(rpsAt(w, 16), rpsAt(h, 16)) ?? NaN, 3), rpsC64: round(ratio(rpsAt(w, 64), rpsAt(h, 64)) ?? NaN, 3), addedP50: round(addedRatio(added(w, direct, 'p50'), added(h, direct, 'p50')) ?? NaN, 3), addedP99: round(addedRatio(added(w, direct, 'p99'), added(h, direct, 'p99')) ?? NaN, 3), cpuPerReqC64: round(ratio(cpuAt(w, 64), cpuAt(h, 64)) ?? NaN, 3) },
    },
    targets: judged.map((t) => ({ name: t.name, value: t.value === undefined ? null : round(t.value, 3), limit: t.limit, kind: t.kind, unit: t.unit, pass: t.pass })),
    ...(profileDir !== undefined ? { profiles } : {}),
  });
}

main().catch((e: unknown) => {
  killAll();
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
