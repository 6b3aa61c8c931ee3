// Proxy CPU per request on each hop of the two-proxy mTLS path, measured apart: the client-side
// (outbound) proxy and the server-side (inbound) proxy, for weft with each peer protocol (h2 on the
// own codec — the default — and pooled HTTP/1.1) and for HAProxy (h2 and HTTP/1.1 between the hops),
// all in one run so the ratios share the machine's load; plus weft and HAProxy as one plain hop (no
// TLS) — weft's figure is what the mTLS hops are compared with for the cost of TLS — and optionally weft's h2 path from an
// older commit (--baseline REV) for a before/after inside the same run. wrk drives 1 KiB GETs at 64
// connections; CPU is utime+stime from /proc/PID/stat divided by the requests served, each hop's
// process measured on its own; read()/write() syscalls per request from /proc/PID/io (weft only:
// HAProxy uses recv/send, which those counters do not see).
// /proc counts CPU in clock ticks (10 ms): per request that is a step of 10 ms ÷ requests (≈ 0.15 µs
// at 70k requests), so two hops that used the same number of ticks print the very same figure — it
// happens (outbound = inbound = 22.2145… µs in one round on 25 Nov, distinct pids); the hops are
// still measured apart (the check below refuses one process for both).
//
// Usage: npm run bench -- e2e/mesh-hops [--quick] [--seconds N] [--only weft-h2,weft-http1,weft-hop,haproxy-h2,haproxy-h1,haproxy-hop]
//        [--baseline REV] [--rounds N] [--profile DIR]
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startUpstream, startHaproxyMesh, startHaproxyHop, type Endpoint, type MtlsPair } from '../lib/servers.ts';
import { makeBenchPki } from '../lib/certs.ts';
import { startWeftMesh, startWeftHop, weftProxyAvailable, weftSourceCommit, WEFT_SERVICE } from '../lib/weft.ts';
import { runWrk } from '../lib/load-tools.ts';
import { CpuMeter, SyscallMeter, processTree, machineBusyCores } from '../lib/proc-stat.ts';
import { summariseProfileDir } from '../lib/cpu-profile.ts';
import { printTable, printJsonLine } from '../lib/report.ts';
import { killAll } from '../lib/processes.ts';
import { log, parseE2eOptions } from '../lib/options.ts';

const { seconds, only, profileDir } = parseE2eOptions();
const extraOptions = parseArgs({ args: process.argv.slice(2), options: { baseline: { type: 'string' }, rounds: { type: 'string' } }, strict: false }).values;
const baseline = typeof extraOptions.baseline === 'string' && extraOptions.baseline !== '' ? extraOptions.baseline : undefined;
/** Rounds over all paths, every other one in reverse order, so that load drifting during the run does not favour one path; figures are per-path medians. */
const rounds = Math.max(1, Number(typeof extraOptions.rounds === 'string' ? extraOptions.rounds : 1) || 1);
const CONNECTIONS = 64;

interface Plan {
  key: string;
  authority?: string;
  start: () => Promise<Endpoint>;
}

interface Row {
  key: string;
  rps: number;
  outboundUs: number;
  /** NaN for the one-hop row (no inbound proxy). */
  inboundUs: number;
  /** read()+write() syscalls per request in each hop's process (NaN where not counted). */
  outboundSyscalls: number;
  inboundSyscalls: number;
  backgroundCores: number;
}

async function measure(plan: Plan): Promise<Row> {
  const ep = await plan.start();
  try {
    // Each hop is its own process (tree), measured apart: [outbound] for one hop, [outbound, inbound] for the mesh.
    const [outbound, inbound] = ep.procs;
    if (inbound !== undefined && inbound.pid === outbound!.pid) throw new Error('outbound and inbound are the same process: the hops cannot be told apart');
    const outPids = processTree(outbound!.pid);
    const inPids = inbound !== undefined ? processTree(inbound.pid) : [];
    const url = `http://127.0.0.1:${ep.port}/`;
    const headers = plan.authority !== undefined ? { Host: plan.authority } : undefined;
    const backgroundCores = await machineBusyCores(500);
    await runWrk({ url, connections: CONNECTIONS, seconds: 1, headers });
    const outMeter = new CpuMeter(outPids);
    const inMeter = new CpuMeter(inPids);
    const outSys = new SyscallMeter(outPids);
    const inSys = new SyscallMeter(inPids);
    const r = await runWrk({ url, connections: CONNECTIONS, seconds, headers });
    const outCpu = outMeter.elapsed();
    const inCpu = inMeter.elapsed();
    const outIo = outSys.elapsed();
    const inIo = inSys.elapsed();
    const n = Math.max(1, r.requests);
    const weft = plan.key.startsWith('weft');
    const row: Row = {
      key: plan.key,
      rps: Math.round(r.rps),
      outboundUs: (outCpu * 1e6) / n,
      inboundUs: inbound !== undefined ? (inCpu * 1e6) / n : NaN,
      outboundSyscalls: weft ? (outIo.reads + outIo.writes) / n : NaN,
      inboundSyscalls: weft && inbound !== undefined ? (inIo.reads + inIo.writes) / n : NaN,
      backgroundCores,
    };
    log(
      `  ${plan.key}: ${row.rps} rps, outbound ${row.outboundUs.toFixed(1)} µs/req (${row.outboundSyscalls.toFixed(2)} rd+wr/req), ` +
        `inbound ${row.inboundUs.toFixed(1)} µs/req (${row.inboundSyscalls.toFixed(2)} rd+wr/req), errors ${r.errors}, background ${backgroundCores.toFixed(2)} cores`,
    );
    return row;
  } finally {
    await ep.stop();
  }
}

function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** One path's rounds folded into one row: the median of each figure. */
function medianRow(rs: Row[]): Row {
  return {
    key: rs[0]!.key,
    rps: Math.round(median(rs.map((r) => r.rps))),
    outboundUs: median(rs.map((r) => r.outboundUs)),
    inboundUs: median(rs.map((r) => r.inboundUs)),
    outboundSyscalls: median(rs.map((r) => r.outboundSyscalls)),
    inboundSyscalls: median(rs.map((r) => r.inboundSyscalls)),
    backgroundCores: median(rs.map((r) => r.backgroundCores)),
  };
}

const num = (x: number, digits = 1): number | string => (Number.isFinite(x) ? Number(x.toFixed(digits)) : '-');

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const pki = await makeBenchPki();
  const pair: MtlsPair = { pki, client: await pki.issue('client'), server: await pki.issue('server') };
  const plans: Plan[] = [
    ...(weftProxyAvailable()
      ? [
          { key: 'weft-h2', authority: WEFT_SERVICE, start: () => startWeftMesh(upstream.port, pair, { link: 'h2', tag: 'h2', cpuProfDir: profileDir }) },
          { key: 'weft-http1', authority: WEFT_SERVICE, start: () => startWeftMesh(upstream.port, pair, { link: 'http1', tag: 'h1', cpuProfDir: profileDir }) },
          // One plain hop (no TLS): the mTLS hops minus this is what TLS costs weft per hop.
          { key: 'weft-hop', authority: WEFT_SERVICE, start: () => startWeftHop(upstream.port, { cpuProfDir: profileDir }) },
        ]
      : []),
    { key: 'haproxy-h2', start: () => startHaproxyMesh(upstream.port, pair, 'h2') },
    { key: 'haproxy-h1', start: () => startHaproxyMesh(upstream.port, pair, 'http/1.1') },
    // HAProxy as one plain hop: what weft-hop is held against (issue 4 (iv): ≤ 1.6× HAProxy per plain hop).
    { key: 'haproxy-hop', start: () => startHaproxyHop(upstream.port) },
  ];
  if (baseline !== undefined && weftProxyAvailable()) {
    plans.splice(1, 0, { key: `weft-h2@${baseline}`, authority: WEFT_SERVICE, start: () => startWeftMesh(upstream.port, pair, { link: 'h2', tag: 'h2-base', rev: baseline }) });
  }
  if (profileDir !== undefined) {
    mkdirSync(profileDir, { recursive: true });
    log(`profiles of the weft proxies go to ${profileDir} (one directory per proxy)`);
  }
  log(`weft from ${weftSourceCommit()}${baseline !== undefined ? `, baseline ${baseline}` : ''}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const chosen = plans.filter((p) => only === undefined || only.has(p.key) || p.key.includes('@'));
  const samples = new Map<string, Row[]>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? chosen : [...chosen].reverse();
    for (const plan of order) {
      log(`${plan.key}: starting${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ''}`);
      try {
        const row = await measure(plan);
        samples.set(plan.key, [...(samples.get(plan.key) ?? []), row]);
      } catch (e) {
        log(`${plan.key}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  await upstream.stop();
  const rows: Row[] = chosen.filter((p) => samples.has(p.key)).map((p) => medianRow(samples.get(p.key)!));
  const haproxy = rows.find((r) => r.key === 'haproxy-h2');
  const plainHop = rows.find((r) => r.key === 'weft-hop');
  /** The HAProxy row doing the same work as a weft row: h2 link, HTTP/1.1 link, or one plain hop. */
  const sameWork = (key: string): Row | undefined =>
    rows.find((r) => r.key === (key.startsWith('weft-h2') ? 'haproxy-h2' : key === 'weft-http1' ? 'haproxy-h1' : key === 'weft-hop' ? 'haproxy-hop' : ''));
  printTable(
    `proxy CPU per request per hop (wrk c=${CONNECTIONS}, ${seconds}s, 1 KiB GET${rounds > 1 ? `; median of ${rounds} rounds` : ''}), µs`,
    ['path', 'rps', 'outbound', 'inbound', 'outbound / HAProxy h2', 'inbound / HAProxy h2', 'out / HAProxy same path', 'in / HAProxy same path', 'TLS Δ out', 'TLS Δ in', 'rd+wr/req out', 'rd+wr/req in', 'bg cores'],
    rows.map((r) => {
      const meshWeft = r.key.startsWith('weft') && r.key !== 'weft-hop';
      const same = sameWork(r.key);
      return [
        r.key,
        r.rps,
        num(r.outboundUs),
        num(r.inboundUs),
        haproxy ? num(r.outboundUs / haproxy.outboundUs, 2) : '-',
        haproxy ? num(r.inboundUs / haproxy.inboundUs, 2) : '-',
        same ? num(r.outboundUs / same.outboundUs, 2) : '-',
        same ? num(r.inboundUs / same.inboundUs, 2) : '-',
        // Against weft's own plain hop (same engine, no TLS): what the mTLS hop adds.
        plainHop && meshWeft ? num(r.outboundUs - plainHop.outboundUs) : '-',
        plainHop && meshWeft ? num(r.inboundUs - plainHop.outboundUs) : '-',
        num(r.outboundSyscalls, 2),
        num(r.inboundSyscalls, 2),
        num(r.backgroundCores, 2),
      ];
    }),
  );
  if (profileDir !== undefined) {
    for (const [f, sum] of summariseProfileDir(profileDir, 15)) {
      printTable(`profile ${f} (${Math.round(sum.busyMs)} ms busy): self time by category`, ['category', '%'], sum.categories.map((e) => [e.name, num(e.percent)]));
      printTable(`profile ${f}: top functions (self time)`, ['function', '%'], sum.functions.map((e) => [e.name, num(e.percent)]));
    }
  }
  const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
  printJsonLine({
    bench: 'e2e/mesh-hops',
    at: new Date().toISOString(),
    weft: weftSourceCommit(),
    baseline: baseline ?? null,
    loadavg: loadavg(),
    seconds,
    connections: CONNECTIONS,
    rounds,
    perRound: Object.fromEntries([...samples].map(([k, rs]) => [k, rs.map((r) => ({ outboundUs: r.outboundUs, inboundUs: finite(r.inboundUs), rps: r.rps }))])),
    rows: rows.map((r) => ({ ...r, inboundUs: finite(r.inboundUs), outboundSyscalls: finite(r.outboundSyscalls), inboundSyscalls: finite(r.inboundSyscalls) })),
    // weft over HAProxy doing the same work (h2 link, HTTP/1.1 link, one plain hop), per hop.
    ratios: Object.fromEntries(
      rows
        .filter((r) => r.key.startsWith('weft') && sameWork(r.key) !== undefined)
        .map((r) => [r.key, { outbound: finite(r.outboundUs / sameWork(r.key)!.outboundUs), inbound: finite(r.inboundUs / sameWork(r.key)!.inboundUs) }]),
    ),
  });
}

main()
  .catch((e: unknown) => {
    log(`mesh-hops failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() => killAll());
