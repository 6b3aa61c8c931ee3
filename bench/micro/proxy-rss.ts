// Where an idle weft proxy's resident memory goes, against bare node processes measured in the same
// run. Starts `weft proxy --bootstrap FILE` (compiled to JavaScript as deployed, like bench/e2e) in the
// configurations the e2e benchmarks use — a plain hop, the STRICT mTLS inbound and the mTLS outbound
// of the mesh path — plus a sidecar with inbound, outbound and the admin port, waits until each is
// idle (RSS and CPU time stop moving), and splits its RSS from /proc/PID/status and /proc/PID/smaps:
// anonymous vs file-backed, the node binary's code and read-only data, glibc's main malloc arena,
// the rest of the anonymous memory (V8's heap pages, thread arenas and stacks). The sidecar's admin
// `/memory` adds V8's heap spaces (committed vs used) and the node builtins loaded. Baselines: `node`
// idle with nothing loaded, with `net` + `tls` (CommonJS and ESM entry), and with `http` + `http2`.
// With --reducer, each proxy is measured once more 12 s after start: V8's memory reducer runs once about
// 8 s after start-up (a memory-reducing mark-compact that also shrinks the young generation), which is
// where an idle proxy then stays. With --traffic, the plain hop and the mesh pair then serve a few
// thousand requests and are measured idle again (what a proxy holds once its JIT and pools have warmed up). With --modules, each proxy
// is started once more with a loader hook that lists every module it imports.
// Prints tables and one JSON line. Measure twice; on a shared machine, memory moves less than CPU.
//
// Usage: npm run bench -- micro/proxy-rss [--reducer] [--traffic] [--modules] [--node-flags "--flag ..."]
//          [--env NAME=VALUE,...] [--settle-ms 15000]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { compileWeft } from '../lib/compile-weft.ts';
import { makeBenchPki } from '../lib/certs.ts';
import { readProcStat } from '../lib/proc-stat.ts';
import { BenchError, freePort, sleep, start, type Spawned } from '../lib/processes.ts';
import { printJsonLine, printTable, type Cell } from '../lib/report.ts';
import { inboundSpec, outboundSpec, weftSourceCommit } from '../lib/weft.ts';
import type { ProxyConfigSpec } from '../../src/proxy/runtime/spec.ts';

const { values: args } = parseArgs({
  options: {
    traffic: { type: 'boolean' },
    reducer: { type: 'boolean' },
    modules: { type: 'boolean' },
    'node-flags': { type: 'string' },
    env: { type: 'string' },
    'settle-ms': { type: 'string' },
    requests: { type: 'string' },
  },
  strict: false,
});
const NODE_FLAGS = typeof args['node-flags'] === 'string' ? args['node-flags'].split(/\s+/).filter(Boolean) : [];
const EXTRA_ENV: Record<string, string> = Object.fromEntries(
  (typeof args.env === 'string' ? args.env.split(',') : []).filter(Boolean).map((kv) => {
    const at = kv.indexOf('=');
    return [kv.slice(0, at), kv.slice(at + 1)];
  }),
);
const SETTLE_LIMIT_MS = Number(args['settle-ms'] ?? 15000);
const TRAFFIC_REQUESTS = Number(args.requests ?? 4000);
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const KB = 1024;
const MB = 1024 * 1024;

/** One process's resident memory, bytes, split by where it is mapped. */
interface MemorySplit {
  rss: number;
  anon: number;
  file: number;
  shmem: number;
  /** The node executable's code pages (r-x) that are resident. */
  nodeCode: number;
  /** The node executable's read-only and writable data (V8 snapshot, ICU data, builtins' sources). */
  nodeData: number;
  /** Other files: shared libraries (libc, libstdc++, ...). */
  libraries: number;
  /** glibc's main malloc arena (`[heap]`). */
  mallocMain: number;
  /** Every other anonymous mapping: V8's heap pages, thread malloc arenas, stacks, JIT code. */
  otherAnon: number;
  threads: number;
}

function readMemorySplit(pid: number): MemorySplit | undefined {
  let status: string;
  let smaps: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * KB;
  const split: MemorySplit = {
    rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem'),
    nodeCode: 0, nodeData: 0, libraries: 0, mallocMain: 0, otherAnon: 0, threads: kb('Threads') / KB,
  };
  let perms = '';
  let name = '';
  for (const line of smaps.split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping !== null) {
      perms = mapping[1]!;
      name = mapping[2]!;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss === null) continue;
    const bytes = Number(rss[1]) * KB;
    if (name === process.execPath || name.endsWith('/node')) {
      if (perms.includes('x')) split.nodeCode += bytes;
      else split.nodeData += bytes;
    } else if (name.startsWith('/')) split.libraries += bytes;
    else if (name === '[heap]') split.mallocMain += bytes;
    else split.otherAnon += bytes;
  }
  return split;
}

/** Waits until the process is idle — RSS within 16 KiB and no CPU time used over 4 samples 250 ms apart — and measures it. */
async function sampleWhenIdle(p: Spawned): Promise<{ memory: MemorySplit; settledMs: number }> {
  const began = Date.now();
  let steady = 0;
  let last = readMemorySplit(p.pid);
  const cpuOf = (): number => {
    const s = readProcStat(p.pid);
    return s === undefined ? 0 : s.utime + s.stime;
  };
  let lastCpu = cpuOf();
  while (Date.now() - began < SETTLE_LIMIT_MS) {
    await sleep(250);
    const now = readMemorySplit(p.pid);
    const cpu = cpuOf();
    if (now === undefined || last === undefined) throw new BenchError('BENCH_PROCESS_EXITED', `${p.name} exited: ${p.output().slice(-1500)}`);
    steady = Math.abs(now.rss - last.rss) <= 16 * KB && cpu === lastCpu ? steady + 1 : 0;
    last = now;
    lastCpu = cpu;
    if (steady >= 4) break;
  }
  if (steady < 4) log(`  ${p.name}: not idle after ${SETTLE_LIMIT_MS} ms, measured anyway`);
  return { memory: last!, settledMs: Date.now() - began };
}

/** Resolves with the first stdout line that parses as JSON with `event: 'listening'` (weft) or 'ready' (baselines). */
function firstEvent(p: Spawned, timeoutMs = 30000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new BenchError('BENCH_PORT_TIMEOUT', `${p.name} did not start within ${timeoutMs} ms: ${p.output().slice(-1500)}`)), timeoutMs);
    p.child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const event = JSON.parse(line) as Record<string, unknown>;
          if (event.event === 'listening' || event.event === 'ready') {
            clearTimeout(timer);
            resolve(event);
          }
        } catch {
          /* not an event line */
        }
      }
    });
    void p.exited.then((code) => reject(new BenchError('BENCH_PROCESS_EXITED', `${p.name} exited (${code}) before starting: ${p.output().slice(-1500)}`)));
  });
}

interface Measured {
  name: string;
  kind: 'baseline' | 'weft';
  idle: MemorySplit;
  settledMs: number;
  afterReducer?: MemorySplit;
  afterTraffic?: MemorySplit;
  memoryEndpoint?: Record<string, unknown>;
  modules?: { weft: number; packages: string[]; builtins: string[] };
}

const READY_LINE = `process.stdout.write(JSON.stringify({ event: 'ready' }) + '\\n'); setInterval(() => {}, 1 << 30);`;
const LISTEN = `net.createServer().listen(0, '127.0.0.1');`;
const BASELINES: ReadonlyArray<{ name: string; args: string[] }> = [
  { name: 'node, nothing loaded', args: ['-e', READY_LINE] },
  { name: 'node + net + tls (CommonJS)', args: ['-e', `const net = require('node:net'); require('node:tls'); ${LISTEN} ${READY_LINE}`] },
  { name: 'node + net + tls (ESM entry)', args: ['--input-type=module', '-e', `import net from 'node:net'; import 'node:tls'; ${LISTEN} ${READY_LINE}`] },
  { name: 'node + net + tls + http + http2 (ESM)', args: ['--input-type=module', '-e', `import net from 'node:net'; import 'node:tls'; import 'node:http'; import 'node:http2'; ${LISTEN} ${READY_LINE}`] },
];

async function measureBaseline(b: (typeof BASELINES)[number]): Promise<Measured> {
  const p = start(`baseline: ${b.name}`, process.execPath, b.args, { env: { ...process.env, ...EXTRA_ENV } });
  try {
    await firstEvent(p);
    const { memory, settledMs } = await sampleWhenIdle(p);
    return { name: b.name, kind: 'baseline', idle: memory, settledMs };
  } finally {
    await p.stop();
  }
}

/** A loader hook module that appends every resolved URL to `out` (run with --import). */
function moduleRecorder(dir: string, out: string): string {
  const hooks = join(dir, 'record-hooks.mjs');
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(out)}, r.url + '\\n');
  return r;
}
`);
  const register = join(dir, 'record.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  return register;
}

class WeftProcesses {
  readonly #compiled: string;
  readonly #dir = mkdtempSync(join(tmpdir(), 'weft-bench-rss-'));
  constructor(compiled: string) {
    this.#compiled = compiled;
  }

  start(name: string, spec: ProxyConfigSpec, extraFlags: readonly string[] = []): Spawned {
    const file = join(this.#dir, `${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(spec, null, 2), { mode: 0o600 });
    return start(`weft ${name}`, process.execPath, [...NODE_FLAGS, ...extraFlags, join(this.#compiled, 'weft.js'), 'proxy', '--bootstrap', file], {
      env: { ...process.env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? 'warn', ...EXTRA_ENV },
    });
  }

  /** Starts the proxy once more with the module recorder and lists what it imported. */
  async modules(name: string, spec: ProxyConfigSpec): Promise<Measured['modules']> {
    const out = join(this.#dir, `${name.replace(/\W+/g, '-')}.modules`);
    writeFileSync(out, '');
    const p = this.start(`${name} (modules)`, spec, ['--import', moduleRecorder(this.#dir, out)]);
    try {
      await firstEvent(p);
      await sampleWhenIdle(p);
    } finally {
      await p.stop();
    }
    const urls = [...new Set(readFileSync(out, 'utf8').split('\n').filter(Boolean))];
    const packages = new Set<string>();
    for (const url of urls) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
      if (m) packages.add(m[1]!);
    }
    return {
      weft: urls.filter((u) => u.startsWith(pathToFileURL(this.#compiled).href) && !u.includes('node_modules')).length,
      packages: [...packages].sort(),
      builtins: urls.filter((u) => u.startsWith('node:')).map((u) => u.slice(5)).sort(),
    };
  }
}

/** A tiny HTTP/1.1 upstream in this process: every request gets 200 with 1 KiB. */
async function startUpstream(): Promise<{ port: number; close(): void }> {
  const body = Buffer.alloc(1024, 120);
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** `count` GET requests through a proxy's outbound port (Host: upstream), 8 keep-alive connections. */
async function drive(port: number, count: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'upstream' }, agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new BenchError('BENCH_BAD_STATUS', `status ${res.statusCode} through port ${port}`))));
      });
      req.on('error', reject);
    });
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next++ < count) await one();
  }));
  agent.destroy();
}

async function getJson(port: number, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text) as Record<string, unknown>);
        } catch (e) {
          reject(e);
        }
      });
    }).on('error', reject);
  });
}

const mb = (bytes: number | undefined): number | undefined => (bytes === undefined ? undefined : Math.round((bytes / MB) * 10) / 10);

async function main(): Promise<void> {
  log(`proxy-rss: compiling weft (${weftSourceCommit()}); node flags: ${NODE_FLAGS.join(' ') || '(none)'}; env: ${JSON.stringify(EXTRA_ENV)}`);
  const weft = new WeftProcesses(compileWeft([]));
  const pki = await makeBenchPki();
  const pair = { pki, client: await pki.issue('client'), server: await pki.issue('upstream') };
  const upstream = await startUpstream();
  const results: Measured[] = [];

  for (const b of BASELINES) {
    const m = await measureBaseline(b);
    results.push(m);
    log(`  ${m.name}: ${mb(m.idle.rss)} MB`);
  }

  const [plainPort, inPort, outPort, sideIn, sideOut, sideAdmin] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const plain = outboundSpec({ port: plainPort!, upstreamPort: upstream.port, peerProtocol: 'plain' });
  const inbound = inboundSpec({ port: inPort!, upstreamPort: upstream.port, pair });
  const outbound = outboundSpec({ port: outPort!, upstreamPort: upstream.port, peerProtocol: undefined, inboundPort: inPort, serverSpiffeId: pair.server.spiffeId, pair });
  const sidecarOutbound = outboundSpec({ port: sideOut!, upstreamPort: upstream.port, peerProtocol: undefined, inboundPort: inPort, serverSpiffeId: pair.server.spiffeId, pair });
  const sidecar: ProxyConfigSpec = {
    ...inbound,
    listeners: { outbound: { address: '127.0.0.1', port: sideOut! }, inbound: { address: '127.0.0.1', port: sideIn! }, admin: { address: '127.0.0.1', port: sideAdmin! } },
    services: sidecarOutbound.services,
    clusters: sidecarOutbound.clusters,
  };
  const configs: ReadonlyArray<{ name: string; spec: ProxyConfigSpec; trafficPort?: number }> = [
    { name: 'plain hop (e2e weft-hop)', spec: plain, trafficPort: plainPort },
    { name: 'mesh inbound, STRICT mTLS (e2e weft-mtls)', spec: inbound },
    { name: 'mesh outbound, mTLS (e2e weft-mtls)', spec: outbound, trafficPort: outPort },
    { name: 'sidecar: inbound + outbound + admin', spec: sidecar },
  ];

  // All proxies run at once (the mesh outbound needs its inbound for traffic); each is measured when idle.
  const startedAt = Date.now();
  const procs = configs.map((c) => ({ config: c, p: weft.start(c.name, c.spec) }));
  try {
    await Promise.all(procs.map(({ p }) => firstEvent(p)));
    const idle = await Promise.all(procs.map(({ p }) => sampleWhenIdle(p)));
    const measured = procs.map(({ config }, i): Measured => ({ name: config.name, kind: 'weft', idle: idle[i]!.memory, settledMs: idle[i]!.settledMs }));
    const side = measured[3]!;
    side.memoryEndpoint = await getJson(sideAdmin!, '/memory');
    if (args.reducer === true) {
      // V8 schedules its memory reducer ~8 s after the isolate starts; wait past it, then for idle.
      await sleep(Math.max(0, startedAt + 12_000 - Date.now()));
      const reduced = await Promise.all(procs.map(({ p }) => sampleWhenIdle(p)));
      reduced.forEach((r, i) => (measured[i]!.afterReducer = r.memory));
    }
    if (args.traffic === true) {
      for (const { config } of procs) if (config.trafficPort !== undefined) await drive(config.trafficPort, TRAFFIC_REQUESTS);
      const after = await Promise.all(procs.map(({ p }) => sampleWhenIdle(p)));
      after.forEach((a, i) => (measured[i]!.afterTraffic = a.memory));
    }
    results.push(...measured);
  } finally {
    await Promise.all(procs.map(({ p }) => p.stop()));
  }
  if (args.modules === true) {
    for (const c of configs) {
      const r = results.find((m) => m.name === c.name)!;
      r.modules = await weft.modules(c.name, c.spec);
    }
  }
  upstream.close();

  const reference = results.find((r) => r.name === 'node + net + tls (ESM entry)')!.idle;
  const header = ['process', 'RSS MB', 'Δ vs ESM net+tls', 'anon', 'file', 'node code', 'node data', 'libs', 'malloc [heap]', 'other anon', 'threads'];
  const row = (name: string, m: MemorySplit): Cell[] => [
    name, mb(m.rss), mb(m.rss - reference.rss), mb(m.anon), mb(m.file), mb(m.nodeCode), mb(m.nodeData), mb(m.libraries), mb(m.mallocMain), mb(m.otherAnon), m.threads,
  ];
  printTable(`Idle RSS (weft ${weftSourceCommit()}, node flags: ${NODE_FLAGS.join(' ') || 'none'}, env: ${JSON.stringify(EXTRA_ENV)})`, header, results.map((r) => row(r.name, r.idle)));
  if (args.reducer === true) {
    printTable('Idle 12 s after start (after V8\'s memory reducer)', header, results.filter((r) => r.afterReducer).map((r) => row(r.name, r.afterReducer!)));
  }
  if (args.traffic === true) {
    printTable(`Idle again after ${TRAFFIC_REQUESTS} requests through each proxy that takes traffic`, header, results.filter((r) => r.afterTraffic).map((r) => row(r.name, r.afterTraffic!)));
  }
  const endpoint = results.find((r) => r.memoryEndpoint)?.memoryEndpoint;
  const spaces = endpoint?.heapSpaces as Array<{ name: string; committedBytes: number; residentBytes: number; usedBytes: number }> | undefined;
  if (spaces !== undefined) {
    printTable('V8 heap of the sidecar (admin /memory)', ['space', 'committed MB', 'resident MB', 'used MB'], spaces
      .filter((s) => s.committedBytes > 0)
      .map((s) => [s.name, mb(s.committedBytes), mb(s.residentBytes), mb(s.usedBytes)]));
  }
  if (endpoint !== undefined) {
    process.stdout.write(`\nsidecar /memory: builtins ${JSON.stringify(endpoint.builtinModules ?? '(not reported)')}, CommonJS packages ${JSON.stringify(endpoint.commonJsPackages)}\n`);
  }
  for (const r of results) {
    if (r.modules) process.stdout.write(`modules of ${r.name}: ${r.modules.weft} weft files; packages ${r.modules.packages.join(', ') || '-'}; builtins ${r.modules.builtins.join(', ')}\n`);
  }
  printJsonLine({
    bench: 'micro/proxy-rss',
    at: new Date().toISOString(),
    weft: weftSourceCommit(),
    nodeFlags: NODE_FLAGS,
    env: EXTRA_ENV,
    results: results.map((r) => ({
      name: r.name,
      kind: r.kind,
      settledMs: r.settledMs,
      idleMb: Object.fromEntries(Object.entries(r.idle).map(([k, v]) => [k, k === 'threads' ? v : mb(v)])),
      ...(r.afterReducer ? { afterReducerMb: Object.fromEntries(Object.entries(r.afterReducer).map(([k, v]) => [k, k === 'threads' ? v : mb(v)])) } : {}),
      ...(r.afterTraffic ? { afterTrafficMb: Object.fromEntries(Object.entries(r.afterTraffic).map(([k, v]) => [k, k === 'threads' ? v : mb(v)])) } : {}),
      ...(r.memoryEndpoint ? { memoryEndpoint: r.memoryEndpoint } : {}),
      ...(r.modules ? { modules: r.modules } : {}),
    })),
  });
}

await main();
process.exit(0);
