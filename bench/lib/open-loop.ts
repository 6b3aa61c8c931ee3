// Runs the fixed-rate open-loop client (bench/lib/open-loop-client.ts) in its own process and
// returns its report; a separate process so its CPU does not share an event loop with anything.
import { fileURLToPath } from 'node:url';
import { run, BenchError } from './processes.ts';
import type { OpenLoopReport } from './open-loop-client.ts';

export type { OpenLoopReport };

const clientPath = fileURLToPath(new URL('./open-loop-client.ts', import.meta.url));

export interface OpenLoopOptions {
  port: number;
  rate: number;
  connections: number;
  seconds: number;
  warmupSeconds?: number;
  /** Host header value (the outbound proxy routes on it). */
  authority?: string;
  path?: string;
  /** Give up when the connections are not all open after this long. Default 5000. */
  connectTimeoutMs?: number;
}

export function parseOpenLoop(stdout: string): OpenLoopReport {
  const line = stdout.split('\n').find((l) => l.startsWith('OPEN_LOOP_JSON '));
  if (line === undefined) throw new BenchError('BENCH_PARSE_FAILED', `open-loop client printed no report: ${stdout.slice(-1000)}`);
  // JSON has no NaN: percentiles of an empty sample (nothing completed) arrive as null.
  return JSON.parse(line.slice('OPEN_LOOP_JSON '.length), (_k, v: unknown) => (v === null ? Number.NaN : v)) as OpenLoopReport;
}

export async function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopReport> {
  const args = ['--import', 'tsx', clientPath, '--port', String(o.port), '--rate', String(o.rate), '--connections', String(o.connections), '--seconds', String(o.seconds), '--warmup', String(o.warmupSeconds ?? 1)];
  if (o.authority !== undefined) args.push('--authority', o.authority);
  if (o.path !== undefined) args.push('--path', o.path);
  if (o.connectTimeoutMs !== undefined) args.push('--connect-timeout', String(o.connectTimeoutMs));
  return parseOpenLoop(await run('open-loop', process.execPath, args));
}
