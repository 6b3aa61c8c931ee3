// A fixed-rate, open-loop HTTP/1.1 load generator (a program, run in its own process): sends
// GET requests at a constant rate over N keep-alive connections on raw `net` sockets and prints
// one JSON line with latency percentiles. wrk cannot hold a fixed rate; this can.
//
// Requests are scheduled at t0 + i/rate and assigned round-robin to connections. A request whose
// connection is idle is sent at once and timed from the actual write; one whose connection is
// still busy waits and is timed from its scheduled time (no coordinated omission).
//
// Usage: node --import tsx bench/lib/open-loop-client.ts --port P [--host 127.0.0.1] [--rate 1000]
//        [--connections 16] [--seconds 5] [--warmup 1] [--path /] [--authority NAME] [--connect-timeout MS]
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { sortedPercentile } from './stats.ts';

export interface OpenLoopReport {
  rate: number;
  connections: number;
  /** Requests scheduled in the measured window. */
  scheduled: number;
  /** Responses received in the measured window. */
  completed: number;
  /** Socket errors plus non-2xx responses. */
  errors: number;
  /** Requests that found their connection busy and had to wait (a sign the target could not keep up). */
  queued: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** How late the generator's timer fired, p99 in µs (its own jitter; not part of the latency). */
  timerLagP99Us: number;
  /** The generator's own CPU per request, µs. */
  cpuUsPerRequest: number;
}

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    path: { type: 'string', default: '/' },
    authority: { type: 'string' },
    'connect-timeout': { type: 'string', default: '5000' },
  },
});

const host = opt.host as string;
const port = Number(opt.port);
const rate = Number(opt.rate);
const nconn = Number(opt.connections);
const seconds = Number(opt.seconds);
const warmup = Number(opt.warmup);
const request = Buffer.from(`GET ${opt.path} HTTP/1.1\r\nHost: ${opt.authority ?? `${host}:${port}`}\r\nUser-Agent: weft-open-loop\r\n\r\n`, 'latin1');

const intervalMs = 1000 / rate;
const total = Math.round((warmup + seconds) * rate);
const measuredFrom = Math.round(warmup * rate);
const latencies = new Float64Array(total);
const measured = new Uint8Array(total);
const lags: number[] = [];
let errors = 0;
let queued = 0;
let completed = 0;

/** One keep-alive connection: a queue of request indexes waiting, and the parse state of the response. */
class Conn {
  socket: Socket;
  ready = false;
  busy = false;
  waiting: number[] = [];
  waitingStart: number[] = [];
  current = -1;
  startedAt = 0;
  head: Buffer | undefined = undefined;
  bodyLeft = -1;
  chunked = false;
  chunkBuf = '';
  status = 0;

  constructor() {
    this.socket = this.open();
  }

  open(): Socket {
    const s = connect({ host, port });
    s.setNoDelay(true);
    s.on('connect', () => {
      this.ready = true;
      this.pump();
    });
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('error', () => {
      errors++;
    });
    s.on('close', () => {
      this.ready = false;
      if (this.current >= 0) {
        errors++;
        this.current = -1;
        this.busy = false;
      }
      this.head = undefined;
      if (!stopping) setTimeout(() => (this.socket = this.open()), 10);
    });
    return s;
  }

  submit(i: number, intendedAt: number): void {
    if (!this.busy && this.ready && this.waiting.length === 0) {
      this.send(i, performance.now());
      return;
    }
    queued += i >= measuredFrom ? 1 : 0;
    this.waiting.push(i);
    this.waitingStart.push(intendedAt);
  }

  pump(): void {
    if (this.busy || !this.ready || this.waiting.length === 0) return;
    const i = this.waiting.shift() as number;
    const startedAt = this.waitingStart.shift() as number;
    this.send(i, startedAt);
  }

  send(i: number, startedAt: number): void {
    this.busy = true;
    this.current = i;
    this.startedAt = startedAt;
    this.bodyLeft = -1;
    this.chunked = false;
    this.socket.write(request);
  }

  onData(chunk: Buffer): void {
    let buf = chunk;
    while (buf.length > 0 && this.current >= 0) {
      if (this.bodyLeft < 0 && !this.chunked) {
        // Still reading the head.
        const all = this.head === undefined ? buf : Buffer.concat([this.head, buf]);
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) {
          this.head = all;
          return;
        }
        this.head = undefined;
        const headText = all.subarray(0, end).toString('latin1');
        this.status = Number(headText.slice(9, 12));
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
        this.chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(headText);
        this.bodyLeft = this.chunked ? 0 : cl ? Number(cl[1]) : 0;
        buf = all.subarray(end + 4);
        if (this.chunked) this.chunkBuf = '';
      }
      if (this.chunked) {
        // The responses here are small: keep the chunked body as text until the last-chunk marker.
        this.chunkBuf += buf.toString('latin1');
        buf = Buffer.alloc(0);
        const last = this.chunkBuf.indexOf('\r\n0\r\n\r\n');
        const first = this.chunkBuf.startsWith('0\r\n\r\n');
        if (last < 0 && !first) return;
        this.finish();
        continue;
      }
      const take = Math.min(this.bodyLeft, buf.length);
      this.bodyLeft -= take;
      buf = buf.subarray(take);
      if (this.bodyLeft === 0) this.finish();
    }
  }

  finish(): void {
    const i = this.current;
    const now = performance.now();
    if ((this.status < 200 || this.status >= 400) && i >= measuredFrom) errors++;
    latencies[i] = now - this.startedAt;
    if (i >= measuredFrom) {
      measured[i] = 1;
      completed++;
    }
    this.current = -1;
    this.busy = false;
    this.bodyLeft = -1;
    this.chunked = false;
    this.pump();
  }
}

let stopping = false;
let cpuAtStart: NodeJS.CpuUsage | undefined;
const conns: Conn[] = [];
for (let c = 0; c < nconn; c++) conns.push(new Conn());

function report(): void {
  stopping = true;
  const done: number[] = [];
  for (let i = measuredFrom; i < total; i++) if (measured[i]) done.push((latencies[i] as number) * 1000);
  const sorted = Float64Array.from(done).sort();
  const lagSorted = Float64Array.from(lags).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const cpu = process.cpuUsage(cpuAtStart);
  const out: OpenLoopReport = {
    rate,
    connections: nconn,
    scheduled: total - measuredFrom,
    completed,
    errors,
    queued,
    latencyUs: {
      p50: sortedPercentile(sorted, 50),
      p90: sortedPercentile(sorted, 90),
      p99: sortedPercentile(sorted, 99),
      p999: sortedPercentile(sorted, 99.9),
      max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
      mean: sorted.length ? sum / sorted.length : Number.NaN,
    },
    timerLagP99Us: sortedPercentile(lagSorted, 99) * 1000,
    cpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, total),
  };
  process.stdout.write(`OPEN_LOOP_JSON ${JSON.stringify(out)}\n`);
  for (const c of conns) c.socket.destroy();
  process.exit(0);
}

// Wait until every connection is up, then schedule; give up (exit 2) if they cannot connect.
const connectTimeoutMs = Number(opt['connect-timeout']);
const connectDeadline = performance.now() + connectTimeoutMs;
const startWhenReady = setInterval(() => {
  if (!conns.every((c) => c.ready)) {
    if (performance.now() < connectDeadline) return;
    process.stderr.write(`open-loop: could not open ${nconn} connections to ${host}:${port} within ${connectTimeoutMs} ms (${errors} errors)\n`);
    process.exit(2);
  }
  clearInterval(startWhenReady);
  cpuAtStart = process.cpuUsage();
  const t0 = performance.now() + 5;
  let next = 0;
  const tick = (): void => {
    const now = performance.now();
    while (next < total && t0 + next * intervalMs <= now) {
      const intended = t0 + next * intervalMs;
      if (next >= measuredFrom) lags.push(now - intended);
      (conns[next % nconn] as Conn).submit(next, intended);
      next++;
    }
    if (next >= total) {
      // Give stragglers up to 2 s, then report.
      const deadline = performance.now() + 2000;
      const wait = setInterval(() => {
        if (completed + errors >= total - measuredFrom || performance.now() > deadline) {
          clearInterval(wait);
          report();
        }
      }, 5);
      return;
    }
    setTimeout(tick, Math.max(0, t0 + next * intervalMs - performance.now()));
  };
  tick();
}, 5);
