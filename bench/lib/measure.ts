// Measures one request path (direct, or through some proxies) the same way for every path:
// max throughput with wrk at given connection counts, latency at a fixed rate with the open-loop
// client, optional HTTP/2 throughput with h2load, the proxies' RSS idle and peak, and the proxies'
// CPU time per request (utime+stime from /proc, summed over the path's proxy processes).
import { CpuMeter, RssSampler, SyscallMeter, maxRss, processTree, machineBusyCores } from './proc-stat.ts';
import { runWrk, runH2load, type LoadResult } from './load-tools.ts';
import { runOpenLoop, type OpenLoopReport } from './open-loop.ts';
import { sleep, BenchError, type Spawned } from './processes.ts';
import { monotonicUs } from './cpu-profile.ts';

export interface PathUnderTest {
  /** Short name used as the JSON key, e.g. `weft-mtls`. */
  key: string;
  /** Human label for tables. */
  label: string;
  /** HTTP/1.1 port the client talks to. */
  port: number;
  /** h2c port, when HTTP/2 from the client applies. */
  h2Port?: number;
  /** Host header (`:authority`) to send, for proxies that route on it. */
  authority?: string;
  /** Proxy processes of the path (empty for direct). Their process trees are measured. */
  procs: Spawned[];
  /** Number of proxy hops (0 direct), to report CPU per hop. */
  hops: number;
}

export interface ThroughputResult extends LoadResult {
  connections: number;
  /** Proxy CPU µs per request (all hops together); undefined for direct. */
  cpuUsPerRequest?: number;
  /** Proxy CPU use during the run as a fraction of one core (all hops). */
  cpuCores?: number;
  /** read()/write() syscalls per request by the proxies (meaningful for Node proxies only, see proc-stat.ts). */
  readsPerRequest?: number;
  writesPerRequest?: number;
}

export interface PathResult {
  key: string;
  label: string;
  hops: number;
  throughput: ThroughputResult[];
  h2?: ThroughputResult;
  /** The open-loop report; its `cpuUsPerRequest` is the client's own, `proxyCpuUsPerRequest` the path's. */
  fixedRate?: OpenLoopReport & { proxyCpuUsPerRequest?: number };
  /** Largest idle RSS among the path's proxy processes, bytes. */
  rssIdle?: number;
  /** Largest RSS sampled under load among the path's proxy processes, bytes. */
  rssPeak?: number;
  /** Cores the machine kept busy just before this path was measured (other people's work). */
  backgroundCores?: number;
  /** When the max-throughput runs happened (monotonic µs), to cut CPU profiles to them. */
  loadWindowsUs: Array<[number, number]>;
  /** Why the measurement stopped early (e.g. a proxy crashed); the fields above hold what was measured. */
  failure?: string;
}

export interface MeasureOptions {
  seconds: number;
  connections: readonly number[];
  fixedRate: { rate: number; connections: number; seconds: number } | undefined;
  h2: { connections: number; streams: number } | undefined;
  /** Short unmeasured run before measuring, to warm JIT and connection pools. */
  warmupSeconds: number;
  log?: (line: string) => void;
}

/** Throws when a proxy of the path has exited (crashed) during a step, with its last output. */
function assertAlive(path: PathUnderTest, step: string): void {
  for (const p of path.procs) {
    if (!p.alive()) throw new BenchError('BENCH_PROXY_DIED', `${p.name} exited during ${step}; its last output:\n${p.output().slice(-1500)}`);
  }
}

function pidsOf(path: PathUnderTest): number[] {
  return path.procs.flatMap((p) => processTree(p.pid));
}

/** Measures a path; a failure part-way is recorded in `failure` and the numbers so far are kept. */
export async function measurePath(path: PathUnderTest, o: MeasureOptions): Promise<PathResult> {
  const result: PathResult = { key: path.key, label: path.label, hops: path.hops, throughput: [], loadWindowsUs: [] };
  const rss = path.procs.length > 0 ? new RssSampler(pidsOf(path), 100) : undefined;
  try {
    await measureInto(result, path, o);
  } catch (e) {
    result.failure = e instanceof Error ? e.message : String(e);
    (o.log ?? (() => {}))(`  ${path.key}: FAILED: ${result.failure}`);
  }
  if (rss !== undefined) result.rssPeak = Math.max(result.rssPeak ?? 0, rss.stop());
  return result;
}

async function measureInto(result: PathResult, path: PathUnderTest, o: MeasureOptions): Promise<void> {
  const log = o.log ?? (() => {});
  const pids = pidsOf(path);
  const hasProxy = pids.length > 0;
  const url = `http://127.0.0.1:${path.port}/`;
  const headers = path.authority !== undefined ? { Host: path.authority } : undefined;

  // Nothing of ours runs now: whatever the machine does is someone else's load.
  result.backgroundCores = await machineBusyCores(500);
  if (hasProxy) result.rssIdle = maxRss(pids);
  log(`  ${path.key}: background load ${result.backgroundCores.toFixed(2)} cores${hasProxy ? `, proxy RSS idle ${(result.rssIdle ?? 0) / 1048576 | 0} MB` : ''}`);

  if (o.warmupSeconds > 0) {
    log(`  ${path.key}: warm-up ${o.warmupSeconds}s`);
    await runWrk({ url, connections: Math.max(...o.connections), seconds: o.warmupSeconds, headers });
    assertAlive(path, 'warm-up');
  }

  for (const c of o.connections) {
    const cpu = new CpuMeter(pids);
    const sys = new SyscallMeter(pids);
    const t0 = performance.now();
    const from = monotonicUs();
    const r = await runWrk({ url, connections: c, seconds: o.seconds, headers });
    result.loadWindowsUs.push([from, monotonicUs()]);
    assertAlive(path, `wrk c=${c}`);
    const wall = (performance.now() - t0) / 1000;
    const used = cpu.elapsed();
    const entry: ThroughputResult = { ...r, connections: c };
    if (hasProxy) {
      entry.cpuUsPerRequest = r.requests > 0 ? (used * 1e6) / r.requests : undefined;
      entry.cpuCores = used / wall;
      const io = sys.elapsed();
      if (r.requests > 0) {
        entry.readsPerRequest = io.reads / r.requests;
        entry.writesPerRequest = io.writes / r.requests;
      }
    }
    result.throughput.push(entry);
    log(`  ${path.key}: c=${c} ${Math.round(r.rps)} rps, p99 ${r.latencyUs.p99} µs, errors ${r.errors}${entry.cpuUsPerRequest ? `, ${entry.cpuUsPerRequest.toFixed(1)} µs CPU/req` : ''}`);
  }

  if (o.fixedRate !== undefined) {
    await sleep(200);
    const cpu = new CpuMeter(pids);
    const r = await runOpenLoop({ port: path.port, rate: o.fixedRate.rate, connections: o.fixedRate.connections, seconds: o.fixedRate.seconds, authority: path.authority });
    const used = cpu.elapsed();
    assertAlive(path, 'fixed-rate run');
    // The CPU window includes the client's start-up and warm-up second; count those requests too.
    const served = r.rate * (o.fixedRate.seconds + 1);
    result.fixedRate = { ...r, ...(hasProxy ? { proxyCpuUsPerRequest: (used * 1e6) / served } : {}) };
    log(`  ${path.key}: ${r.rate} rps fixed: ${r.completed}/${r.scheduled} completed, p50 ${r.latencyUs.p50.toFixed(0)} µs, p99 ${r.latencyUs.p99.toFixed(0)} µs, queued ${r.queued}, errors ${r.errors}`);
  }

  // HTTP/2 last: it is the newest code path of the proxies, and a crash there must not cost the numbers above.
  if (o.h2 !== undefined && path.h2Port !== undefined) {
    // HTTP/2 is optional per path: a failure here is reported, not fatal for the other numbers.
    try {
      const cpu = new CpuMeter(pids);
      const r = await runH2load({ url: `http://127.0.0.1:${path.h2Port}/`, connections: o.h2.connections, streams: o.h2.streams, seconds: o.seconds, authority: path.authority });
      const used = cpu.elapsed();
      assertAlive(path, 'h2load');
      result.h2 = { ...r, connections: o.h2.connections };
      if (hasProxy && r.requests > 0) result.h2.cpuUsPerRequest = (used * 1e6) / r.requests;
      log(`  ${path.key}: h2 c=${o.h2.connections}×${o.h2.streams} ${Math.round(r.rps)} rps, errors ${r.errors}`);
    } catch (e) {
      if (e instanceof BenchError && e.code === 'BENCH_PROXY_DIED') throw e;
      log(`  ${path.key}: h2load failed: ${e instanceof Error ? e.message.slice(0, 300) : String(e)}`);
    }
  }
}
