// Reads a process's CPU time and memory from /proc (Linux): utime+stime from /proc/PID/stat,
// VmRSS/VmHWM from /proc/PID/status, and the process tree (children found by scanning ppids).
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second for /proc/PID/stat times (almost always 100). */
export const CLOCK_TICKS: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  pid: number;
  ppid: number;
  /** User-mode CPU seconds. */
  utime: number;
  /** Kernel-mode CPU seconds. */
  stime: number;
}

/**
 * Parses one /proc/PID/stat line. The command name (field 2) is in parentheses and may contain
 * spaces and ')' itself, so fields are counted from the last ')'.
 */
export function parseProcStat(line: string, ticksPerSecond = CLOCK_TICKS): ProcStat {
  const close = line.lastIndexOf(')');
  const pid = Number(line.slice(0, line.indexOf(' ')));
  // After ") ": field 3 (state) is index 0, so field N is index N - 3.
  const rest = line.slice(close + 2).split(' ');
  const field = (n: number): number => Number(rest[n - 3]);
  return { pid, ppid: field(4), utime: field(14) / ticksPerSecond, stime: field(15) / ticksPerSecond };
}

/** Reads /proc/PID/stat; undefined when the process is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export interface ProcMemory {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size since the process started ("high water mark"), bytes. */
  hwm: number;
}

/** Parses the VmRSS and VmHWM lines of /proc/PID/status (values in kB). */
export function parseProcStatus(text: string): ProcMemory {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

export function readProcMemory(pid: number): ProcMemory | undefined {
  try {
    return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The pid and all its descendants that are alive now (scans /proc; fine at benchmark rates). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const child = Number(name);
    if (!Number.isInteger(child) || child <= 0) continue;
    const stat = readProcStat(child);
    if (stat === undefined) continue;
    const list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, [child]);
    else list.push(child);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    out.push(p);
    for (const c of children.get(p) ?? []) queue.push(c);
  }
  return out;
}

/** CPU seconds (user + system) summed over the given pids; processes that are gone count 0. */
export function cpuSeconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    const s = readProcStat(pid);
    if (s !== undefined) total += s.utime + s.stime;
  }
  return total;
}

/** A CPU snapshot over a fixed set of processes, to be diffed after a measurement. */
export class CpuMeter {
  readonly #pids: readonly number[];
  #start: number;
  constructor(pids: readonly number[]) {
    this.#pids = pids;
    this.#start = cpuSeconds(pids);
  }
  reset(): void {
    this.#start = cpuSeconds(this.#pids);
  }
  /** CPU seconds used by the processes since construction or the last reset. */
  elapsed(): number {
    return cpuSeconds(this.#pids) - this.#start;
  }
}

/**
 * Samples RSS of a set of processes every `intervalMs` and keeps the peak per process.
 * Also reads VmHWM at stop, so a spike between samples is not missed.
 */
export class RssSampler {
  readonly #pids: readonly number[];
  readonly #peak = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(pids: readonly number[], intervalMs = 100) {
    this.#pids = pids;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
    this.#timer.unref();
  }

  #sample(): void {
    for (const pid of this.#pids) {
      const m = readProcMemory(pid);
      if (m !== undefined && m.rss > (this.#peak.get(pid) ?? 0)) this.#peak.set(pid, m.rss);
    }
  }

  /** Stops sampling; returns the largest per-process peak RSS seen, in bytes. */
  stop(): number {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sample();
    let max = 0;
    for (const v of this.#peak.values()) max = Math.max(max, v);
    return max;
  }
}

/** Largest current RSS among the pids, bytes. */
export function maxRss(pids: readonly number[]): number {
  let max = 0;
  for (const pid of pids) max = Math.max(max, readProcMemory(pid)?.rss ?? 0);
  return max;
}

/** Largest VmHWM (peak RSS since start) among the pids, bytes. */
export function maxHwm(pids: readonly number[]): number {
  let max = 0;
  for (const pid of pids) max = Math.max(max, readProcMemory(pid)?.hwm ?? 0);
  return max;
}

/** Parses the aggregate `cpu` line of /proc/stat into busy and total jiffies. */
export function parseCpuLine(text: string): { busy: number; total: number } {
  const line = text.split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * How many cores the whole machine kept busy over the next `ms` (all processes, not just ours).
 * Measured while the benchmark is idle, it tells how much other work shares the machine.
 */
export async function machineBusyCores(ms: number): Promise<number> {
  const a = parseCpuLine(readFileSync('/proc/stat', 'utf8'));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const b = parseCpuLine(readFileSync('/proc/stat', 'utf8'));
  const seconds = (performance.now() - t0) / 1000;
  return (b.busy - a.busy) / CLOCK_TICKS / seconds;
}

/**
 * read()/write()-family system calls made by a process (/proc/PID/io `syscr`/`syscw`). libuv (Node)
 * uses read/write/writev on sockets, so for Node processes this counts socket I/O calls; HAProxy
 * and nginx use recv/send, which these counters do not see.
 */
export function readSyscalls(pid: number): { reads: number; writes: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const get = (k: string): number => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { reads: get('syscr'), writes: get('syscw') };
  } catch {
    return undefined;
  }
}

/** Sums read/write syscall counts over pids since construction. */
export class SyscallMeter {
  readonly #pids: readonly number[];
  readonly #start: { reads: number; writes: number };
  constructor(pids: readonly number[]) {
    this.#pids = pids;
    this.#start = this.#sum();
  }
  #sum(): { reads: number; writes: number } {
    let reads = 0;
    let writes = 0;
    for (const pid of this.#pids) {
      const s = readSyscalls(pid);
      if (s !== undefined) {
        reads += s.reads;
        writes += s.writes;
      }
    }
    return { reads, writes };
  }
  elapsed(): { reads: number; writes: number } {
    const now = this.#sum();
    return { reads: now.reads - this.#start.reads, writes: now.writes - this.#start.writes };
  }
}
