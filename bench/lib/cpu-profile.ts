// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per source
// file, as percentages of the non-idle samples, so a profile can be read in a terminal or a doc.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  /** Share of non-idle CPU time, percent. */
  percent: number;
  ms: number;
}

export interface ProfileSummary {
  /** Non-idle sampled time, ms. */
  busyMs: number;
  /** Idle share of all sampled time, percent. */
  idlePercent: number;
  functions: ProfileEntry[];
  files: ProfileEntry[];
  /** Coarse buckets: weft code, node internals, GC, dependencies, native/other. */
  categories: ProfileEntry[];
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const i = url.indexOf('/src/');
  if (i >= 0 && !url.includes('node_modules')) return url.slice(i + 1);
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm);
  return url.replace(/^file:\/\//, '');
}

function category(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'native (program)';
  if (url.startsWith('node:')) return 'node internals (node:*)';
  if (url.includes('node_modules')) return 'dependencies';
  if (url.includes('/src/')) return 'weft (src/)';
  return url === '' ? 'native (V8 builtins, syscalls)' : 'other';
}

/** A time window on the monotonic clock, µs (`process.hrtime.bigint() / 1000n`; V8 profiles use the same clock). */
export type WindowUs = readonly [from: number, to: number];

/** Monotonic time now, µs, comparable with V8 profile timestamps of any process on the machine. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Summarises a profile; `top` limits the function and file lists. With `windows`, only samples
 * taken inside one of them count (e.g. the load runs, leaving out start-up and warm-up).
 */
export function summariseProfile(profile: CpuProfile, top = 25, windows?: readonly WindowUs[]): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (windows !== undefined && !windows.some(([from, to]) => t >= from && t <= to)) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  let idle = 0;
  let busy = 0;
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const cat = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (n === undefined) continue;
    if (n.callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const where = shortUrl(n.callFrame.url);
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    file.set(where, (file.get(where) ?? 0) + us);
    const c = category(n);
    cat.set(c, (cat.get(c) ?? 0) + us);
  }
  const list = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, percent: busy > 0 ? (100 * us) / busy : 0, ms: us / 1000 }));
  return {
    busyMs: busy / 1000,
    idlePercent: busy + idle > 0 ? (100 * idle) / (busy + idle) : 0,
    functions: list(fn, top),
    files: list(file, top),
    categories: list(cat, 20),
  };
}

export function summariseProfileFile(path: string, top = 25, windows?: readonly WindowUs[]): ProfileSummary {
  return summariseProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, top, windows);
}

/**
 * The main-thread profile of each proxy under `dir`: `node --cpu-prof --cpu-prof-dir=dir/<name>`
 * writes one file per thread; the main thread is the one with the most busy samples.
 */
export function summariseProfileDir(dir: string, top = 25, windows?: readonly WindowUs[]): Map<string, ProfileSummary> {
  const out = new Map<string, ProfileSummary>();
  for (const name of readdirSync(dir).sort()) {
    const sub = join(dir, name);
    if (!statSync(sub).isDirectory()) continue;
    let best: ProfileSummary | undefined;
    for (const f of readdirSync(sub).filter((n) => n.endsWith('.cpuprofile'))) {
      const s = summariseProfileFile(join(sub, f), top, windows);
      if (best === undefined || s.busyMs > best.busyMs) best = s;
    }
    if (best !== undefined) out.set(name, best);
  }
  return out;
}

/** Command line: node --import tsx bench/lib/cpu-profile.ts FILE.cpuprofile [top] */
if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) {
  const file = process.argv[2];
  if (file !== undefined) {
    // Whole profile (start-up included); one write, so `| head` does not break a pipe mid-way.
    const s = summariseProfileFile(file, Number(process.argv[3] ?? 30));
    const lines = [`busy ${s.busyMs.toFixed(0)} ms, idle ${s.idlePercent.toFixed(1)}%`, '', 'categories:'];
    for (const e of s.categories) lines.push(`  ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`);
    lines.push('', 'files (self time):');
    for (const e of s.files) lines.push(`  ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`);
    lines.push('', 'functions (self time):');
    for (const e of s.functions) lines.push(`  ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`);
    process.stdout.on('error', () => {});
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
