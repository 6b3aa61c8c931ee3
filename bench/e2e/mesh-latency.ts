// The tail at a fixed rate, measured cheaply and repeatably: only the fixed-rate phase of
// e2e/mesh-path (open-loop client, 1 KiB GET, default 1,000 rps over 16 connections), for chosen
// paths, N rounds of S seconds each with every other round in reverse order (so load drifting
// during the run favours no path), every path started once and warmed once. Prints each round's
// p50 / p99 / p99.9 and the per-path medians of the rounds, added over `direct` in the same round,
// and one JSON line.
//
// Usage: npm run bench -- e2e/mesh-latency [--only weft-mtls,weft-mtls-h1,haproxy-mtls] [--rounds 5]
//        [--seconds 8] [--rate 1000] [--connections 16] [--baseline REV] [--weft-node-flags="--flag ..."] [--flags-row="--flag ..."]
//   --baseline REV        adds row weft-mtls@REV: the default weft path built from that commit
//   --weft-node-flags=F   node flags for every weft proxy (e.g. "--max-semi-space-size=16")
//   --flags-row=FLAGS     (with "=": the value starts with --) adds row weft-mtls+flags: the default weft path with these extra node flags
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startUpstream, startHaproxyMesh, type Endpoint, type MtlsPair } from '../lib/servers.ts';
import { makeBenchPki } from '../lib/certs.ts';
import { startWeftMesh, weftProxyAvailable, weftSourceCommit, WEFT_SERVICE } from '../lib/weft.ts';
import { runWrk } from '../lib/load-tools.ts';
import { runOpenLoop, type OpenLoopReport } from '../lib/open-loop.ts';
import { CpuMeter, processTree, machineBusyCores } from '../lib/proc-stat.ts';
import { printTable, printJsonLine } from '../lib/report.ts';
import { median, round } from '../lib/stats.ts';
import { killAll, sleep } from '../lib/processes.ts';
import { log } from '../lib/options.ts';

const { values: opt } = parseArgs({
  options: {
    only: { type: 'string', default: 'weft-mtls,weft-mtls-h1,haproxy-mtls' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '8' },
    rate: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    baseline: { type: 'string' },
    'weft-node-flags': { type: 'string' },
    'flags-row': { type: 'string' },
  },
  strict: true,
});
const rounds = Number(opt.rounds);
const seconds = Number(opt.seconds);
const rate = Number(opt.rate);
const connections = Number(opt.connections);
const only = new Set((opt.only as string).split(',').filter((s) => s !== ''));
if (opt.baseline !== undefined) only.add(`weft-mtls@${opt.baseline}`);
const splitFlags = (v: string | undefined): string[] => (v === undefined ? [] : v.split(/\s+/).filter((s) => s !== ''));
const nodeFlags = splitFlags(opt['weft-node-flags']);
const rowFlags = splitFlags(opt['flags-row']);

interface Started {
  key: string;
  authority?: string;
  endpoint: Endpoint;
}

interface RoundResult {
  round: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  queued: number;
  errors: number;
  complete: boolean;
  proxyCpuUsPerReq?: number;
  clientTimerLagP99Us: number;
}

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const pki = await makeBenchPki();
  const pair: MtlsPair = { pki, client: await pki.issue('client'), server: await pki.issue('server') };
  const weft = weftProxyAvailable();
  const wantWeft = (k: string): boolean => weft && only.has(k);

  const started: Started[] = [{ key: 'direct', endpoint: { procs: [], port: upstream.port, stop: async () => {} } }];
  if (wantWeft('weft-mtls')) started.push({ key: 'weft-mtls', authority: WEFT_SERVICE, endpoint: await startWeftMesh(upstream.port, pair, { nodeFlags }) });
  if (wantWeft('weft-mtls-h1')) started.push({ key: 'weft-mtls-h1', authority: WEFT_SERVICE, endpoint: await startWeftMesh(upstream.port, pair, { nodeFlags, link: 'http1', tag: 'h1' }) });
  if (rowFlags.length > 0 && weft) started.push({ key: 'weft-mtls+flags', authority: WEFT_SERVICE, endpoint: await startWeftMesh(upstream.port, pair, { nodeFlags: [...nodeFlags, ...rowFlags], tag: 'flags' }) });
  if (opt.baseline !== undefined && weft) started.push({ key: `weft-mtls@${opt.baseline}`, authority: WEFT_SERVICE, endpoint: await startWeftMesh(upstream.port, pair, { nodeFlags, rev: opt.baseline, tag: 'base' }) });
  if (only.has('haproxy-mtls')) started.push({ key: 'haproxy-mtls', endpoint: await startHaproxyMesh(upstream.port, pair, 'h2') });
  if (only.has('haproxy-mtls-h1')) started.push({ key: 'haproxy-mtls-h1', endpoint: await startHaproxyMesh(upstream.port, pair, 'http/1.1') });

  // Warm JIT, TLS sessions and pools once, with the same load shape as the measurement.
  for (const s of started) {
    const headers = s.authority !== undefined ? { Host: s.authority } : undefined;
    await runWrk({ url: `http://127.0.0.1:${s.endpoint.port}/`, connections: 16, seconds: 1, headers });
  }

  const background = await machineBusyCores(500);
  log(`background load ${background.toFixed(2)} cores; ${rounds} rounds × ${started.length} paths × ${seconds}s at ${rate} rps over ${connections} connections`);
  const perPath = new Map<string, RoundResult[]>(started.map((s) => [s.key, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? started : [...started].reverse();
    for (const s of order) {
      await sleep(200);
      const pids = s.endpoint.procs.flatMap((p) => processTree(p.pid));
      const cpu = new CpuMeter(pids);
      const r: OpenLoopReport = await runOpenLoop({ port: s.endpoint.port, rate, connections, seconds, authority: s.authority });
      const used = cpu.elapsed();
      for (const p of s.endpoint.procs) if (!p.alive()) throw new Error(`${p.name} exited; its last output:\n${p.output().slice(-1500)}`);
      const entry: RoundResult = {
        round,
        p50Ms: r.latencyUs.p50 / 1000,
        p99Ms: r.latencyUs.p99 / 1000,
        p999Ms: r.latencyUs.p999 / 1000,
        maxMs: r.latencyUs.max / 1000,
        queued: r.queued,
        errors: r.errors,
        complete: r.completed >= r.scheduled,
        // The CPU window includes the client's warm-up second.
        ...(pids.length > 0 ? { proxyCpuUsPerReq: (used * 1e6) / (r.rate * (seconds + 1)) } : {}),
        clientTimerLagP99Us: r.timerLagP99Us,
      };
      perPath.get(s.key)?.push(entry);
      if (r.errors > 0) for (const p of s.endpoint.procs) log(`    ${p.name} output (last 1500 chars):\n${p.output().slice(-1500)}`);
      log(`  round ${round + 1} ${s.key}: p50 ${entry.p50Ms.toFixed(3)} p99 ${entry.p99Ms.toFixed(3)} p99.9 ${entry.p999Ms.toFixed(3)} max ${entry.maxMs.toFixed(3)} ms, queued ${r.queued}, errors ${r.errors}${entry.proxyCpuUsPerReq !== undefined ? `, ${entry.proxyCpuUsPerReq.toFixed(1)} µs CPU/req` : ''}`);
    }
  }
  for (const s of started) await s.endpoint.stop();
  await upstream.stop();

  const direct = perPath.get('direct') ?? [];
  const addedIn = (rs: RoundResult[], f: (r: RoundResult) => number): number[] => rs.map((r, i) => f(r) - f(direct[i] as RoundResult));
  const rows: Array<Array<string | number | undefined>> = [];
  const summary: Record<string, unknown> = {};
  for (const [key, rs] of perPath) {
    const med = (f: (r: RoundResult) => number): number => median(rs.map(f));
    const add99 = addedIn(rs, (r) => r.p99Ms);
    const add50 = addedIn(rs, (r) => r.p50Ms);
    rows.push([key, round(med((r) => r.p50Ms), 3), round(med((r) => r.p99Ms), 3), round(med((r) => r.p999Ms), 3), key === 'direct' ? undefined : round(median(add50), 3), key === 'direct' ? undefined : round(median(add99), 3), rs.map((r) => round(r.p99Ms, 2)).join(' '), rs.some((r) => !r.complete || r.errors > 0) ? 'yes' : 'no', rs[0]?.proxyCpuUsPerReq === undefined ? undefined : round(med((r) => r.proxyCpuUsPerReq ?? NaN), 1)]);
    summary[key] = {
      medianMs: { p50: round(med((r) => r.p50Ms), 3), p99: round(med((r) => r.p99Ms), 3), p999: round(med((r) => r.p999Ms), 3) },
      medianAddedMs: key === 'direct' ? undefined : { p50: round(median(add50), 3), p99: round(median(add99), 3) },
      perRound: rs.map((r) => ({ ...r, p50Ms: round(r.p50Ms, 3), p99Ms: round(r.p99Ms, 3), p999Ms: round(r.p999Ms, 3), maxMs: round(r.maxMs, 3), proxyCpuUsPerReq: r.proxyCpuUsPerReq === undefined ? undefined : round(r.proxyCpuUsPerReq, 1) })),
    };
  }
  printTable(`latency at a fixed ${rate} rps over ${connections} connections, ${rounds} rounds × ${seconds}s, medians over rounds (ms); +p50/+p99 = median of each round's difference to direct`, ['path', 'p50', 'p99', 'p99.9', '+p50', '+p99', 'p99 per round', 'errors/incomplete', 'cpu µs/req'], rows);
  printJsonLine({ bench: 'e2e/mesh-latency', at: new Date().toISOString(), machine: { loadavg: loadavg().map((v) => round(v, 2)), backgroundCores: round(background, 2) }, weft: { commit: weftSourceCommit(), nodeFlags, rowFlags }, params: { rounds, seconds, rate, connections }, paths: summary });
}

main().catch((e: unknown) => {
  killAll();
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
