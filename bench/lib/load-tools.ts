// Runs the external load generators (wrk for HTTP/1.1, h2load for HTTP/2) and parses their output
// into plain numbers. wrk reports through a small Lua `done` hook that prints one JSON line.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, BenchError } from './processes.ts';

export interface LoadResult {
  /** Requests completed (wrk: responses read; h2load: requests done). */
  requests: number;
  /** Completed requests per second over the measured duration. */
  rps: number;
  /** Measured duration, seconds. */
  seconds: number;
  /** Socket errors plus non-2xx/3xx statuses. */
  errors: number;
  latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

const WRK_MARK = 'WRK_JSON ';
const WRK_LUA = `-- prints wrk's summary as one JSON line (parsed by bench/lib/load-tools.ts)
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${WRK_MARK}{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;

let luaPath: string | undefined;
function wrkScript(): string {
  if (luaPath === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'weft-bench-wrk-'));
    luaPath = join(dir, 'report.lua');
    writeFileSync(luaPath, WRK_LUA);
  }
  return luaPath;
}

/** Parses the JSON line printed by the Lua hook out of wrk's stdout. */
export function parseWrk(stdout: string): LoadResult {
  const line = stdout.split('\n').find((l) => l.startsWith(WRK_MARK));
  if (line === undefined) throw new BenchError('BENCH_PARSE_FAILED', `wrk printed no summary line: ${stdout.slice(-1000)}`);
  const j = JSON.parse(line.slice(WRK_MARK.length)) as Record<string, number>;
  const n = (k: string): number => j[k] ?? 0;
  const seconds = n('duration_us') / 1e6;
  return {
    requests: n('requests'),
    rps: seconds > 0 ? n('requests') / seconds : 0,
    seconds,
    errors: n('connect') + n('read') + n('write') + n('status') + n('timeout'),
    latencyUs: { p50: n('p50'), p90: n('p90'), p99: n('p99'), max: n('max'), mean: n('mean') },
  };
}

export interface WrkOptions {
  url: string;
  connections: number;
  seconds: number;
  threads?: number;
  /** Extra request headers, e.g. { Host: 'catalog' } for the outbound proxy. */
  headers?: Record<string, string>;
}

/** Closed-loop max-throughput run with wrk (HTTP/1.1 keep-alive). */
export async function runWrk(o: WrkOptions): Promise<LoadResult> {
  const args = ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', '5s', '-s', wrkScript()];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(o.url);
  return parseWrk(await run('wrk', 'wrk', args));
}

/** Parses h2load's text summary (it has no percentiles: p50/p90/p99 are reported as the mean). */
export function parseH2load(stdout: string): LoadResult {
  const fin = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(stdout);
  const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  if (fin === null || reqs === null) throw new BenchError('BENCH_PARSE_FAILED', `unexpected h2load output: ${stdout.slice(-1000)}`);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  const toUs = (v: string, unit: string): number => Number(v) * (unit === 's' ? 1e6 : unit === 'ms' ? 1e3 : 1);
  const t = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const mean = t ? toUs(t[5] as string, t[6] as string) : 0;
  const max = t ? toUs(t[3] as string, t[4] as string) : 0;
  const seconds = Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1);
  const failed = Number(reqs[5]) + Number(reqs[6]) + Number(reqs[7]);
  const bad = status ? Number(status[3]) + Number(status[4]) : 0;
  return {
    requests: Number(reqs[4]),
    rps: Number(fin[3]),
    seconds,
    errors: failed + bad,
    latencyUs: { p50: mean, p90: mean, p99: mean, max, mean },
  };
}

export interface H2loadOptions {
  url: string;
  connections: number;
  /** Concurrent streams per connection. */
  streams: number;
  seconds: number;
  /** `:authority` to send instead of the URL's host (for proxies that route on it). */
  authority?: string;
}

/** Closed-loop max-throughput run with h2load (HTTP/2 with prior knowledge, h2c). */
export async function runH2load(o: H2loadOptions): Promise<LoadResult> {
  const args = ['-t', '1', '-c', String(o.connections), '-m', String(o.streams), '-D', String(o.seconds), '--warm-up-time=500ms'];
  if (o.authority !== undefined) args.push('-H', `:authority: ${o.authority}`);
  args.push(o.url);
  return parseH2load(await run('h2load', 'h2load', args));
}
