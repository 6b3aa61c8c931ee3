// Benchmark: control-plane convergence and memory per connected proxy. The control plane
// (startControlPlane: memory store, registry, compiler, push, ADS; plaintext, no identity) runs in a
// child process so its RSS is its own; this process opens N lightweight xDS clients — each a real
// Delta ADS stream on its own HTTP/2 connection to 127.0.0.1, subscribing to every type by wildcard
// and ACKing each response at once, like a proxy that applies instantly — against S services (two
// static endpoints each). Measured per case:
//   - initial sync: time until every client has received and ACKed all four types;
//   - route weight change (an HTTPRoute on svc-0 moves 50/50 → 90/10): time from the change until
//     each client has received (and ACKed) the new RouteConfiguration — p50, p99, max;
//   - endpoint added (a proxy registers a new svc-0 endpoint): same, for ClusterLoadAssignments;
//   - control-plane RSS and heap growth per connected client.
// Cases: N=100/S=100, N=1000/S=1000 (no scoping: every client gets every service), N=1000/S=10000
// with scoping (each client declares svc-0 and 9 other services as its upstreams).
// Targets: convergence p99 < 1 s at N=1000/S=1000; <= 1 MB of control-plane memory per proxy.
// Usage: node --import tsx --expose-gc bench/control/xds-convergence.ts [--cases 100x100,1000x1000,1000x10000s] [--repeat 3]
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { DELTA_METHOD_PATH, decodeDeltaDiscoveryResponse, encodeDeltaDiscoveryRequest, type DeltaDiscoveryRequest } from '../../src/xds/wire.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../src/xds/resources.ts';
import { nodeMessage } from '../../src/xds/node.ts';
import { percentile } from '../lib/stats.ts';
import { printJsonLine, printTable, judge, targetRows, type Target } from '../lib/report.ts';

const TYPES = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL] as const;

// ------------------------------------------------------------------ child: the control plane
if (process.argv.includes('--child')) {
  // Listen on the IPC channel first: it is what keeps this process alive while modules load.
  const inbox: { cmd: string }[] = [];
  const box: { deliver?: (msg: { cmd: string }) => void } = {};
  process.on('message', (m: { cmd: string }) => (box.deliver ? box.deliver(m) : inbox.push(m)));
  const { validateDocuments } = await import('../../src/config/validate.ts');
  const { MemoryStore } = await import('../../src/control/store/store-memory.ts');
  const { startControlPlane } = await import('../../src/control/server.ts');
  const S = Number(process.argv[process.argv.indexOf('--child') + 1]);
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const mesh = (w0: number, w1: number) => {
    const docs: string[] = [];
    for (let i = 0; i < S; i++) {
      docs.push(`apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: svc-${i}}\nspec: {ports: [{name: http, port: 80}]}\n`);
      for (const j of [1, 2]) docs.push(`apiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: svc-${i}-${j}}\nspec: {service: svc-${i}, serviceAccount: svc-${i}, address: 10.${j}.${(i >> 8) & 255}.${i & 255}, port: 8080, proxyPort: 15006}\n`);
    }
    docs.push(`apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: svc-0}\nspec:\n  parentRefs: [{group: "", kind: Service, name: svc-0}]\n  rules:\n    - backendRefs: [{name: svc-0, port: 80, weight: ${w0}}, {name: svc-1, port: 80, weight: ${w1}}]\n`);
    const t0 = performance.now();
    const r = validateDocuments([{ source: 'mesh.yaml', text: docs.join('---\n') }]);
    if (!r.ok) throw new Error(JSON.stringify(r.error.slice(0, 3)));
    return { config: r.value, validateMs: performance.now() - t0 };
  };
  const first = mesh(50, 50);
  const store = new MemoryStore({ initial: first.config });
  const cp = await startControlPlane({ store, insecure: true, host: '127.0.0.1', xdsPort: 0, adminPort: false, grpcOptions: { 'grpc.max_concurrent_streams': 100_000 } });
  const next = mesh(90, 10);
  gc();
  const mem = () => {
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed };
  };
  const base = mem();
  process.send!({ target: cp.xdsTarget, validateMs: first.validateMs, base });
  let extra = 0;
  const deliver = async (msg: { cmd: string }) => {
    if (msg.cmd === 'mem') process.send!({ mem: mem(), push: cp.push.stats, streams: cp.ads.streams().length });
    else if (msg.cmd === 'route') {
      store.put(next.config);
      process.send!({ ok: true });
    } else if (msg.cmd === 'endpoint') {
      extra++;
      cp.registry.connect(
        { nodeId: `bench-ep-${extra}`, kind: 'sidecar', service: 'svc-0', namespace: 'default', serviceAccount: 'svc-0', labels: {}, address: `10.9.0.${extra}`, ports: [{ name: 'http', port: 8080 }], inboundPort: 15006, ready: true, upstreams: [], locality: undefined },
        undefined,
        cp.trustDomain,
      );
      process.send!({ ok: true });
    } else if (msg.cmd === 'stop') {
      await cp.close();
      process.exit(0);
    }
  };
  box.deliver = deliver;
  for (const m of inbox.splice(0)) void deliver(m);
} else {
  await runParent();
}

// ------------------------------------------------------------------ parent: the clients
interface Client {
  readonly id: number;
  /** Responses received per type, and when the last one came. */
  readonly count: Map<string, number>;
  readonly lastAt: Map<string, number>;
  call: grpc.ClientDuplexStream<DeltaDiscoveryRequest, Buffer> | undefined;
  channel: grpc.Client;
}

function ask<T>(child: ChildProcess, msg?: unknown): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    if (msg !== undefined) child.send(msg as never);
  });
}

function startClient(id: number, target: string, upstreams: string[] | undefined): Client {
  const channel = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
  const c: Client = { id, count: new Map(), lastAt: new Map(), call: undefined, channel };
  const call = channel.makeBidiStreamRequest(DELTA_METHOD_PATH, encodeDeltaDiscoveryRequest, (b: Buffer) => b) as grpc.ClientDuplexStream<DeltaDiscoveryRequest, Buffer>;
  c.call = call;
  call.on('data', (bytes: Buffer) => {
    const r = decodeDeltaDiscoveryResponse(bytes);
    c.count.set(r.type_url, (c.count.get(r.type_url) ?? 0) + 1);
    c.lastAt.set(r.type_url, performance.now());
    call.write({ type_url: r.type_url, response_nonce: r.nonce });
  });
  call.on('error', () => {});
  const metadata: Record<string, unknown> = { WEFT_KIND: 'sidecar', WEFT_NAMESPACE: 'default' };
  if (upstreams) metadata.WEFT_UPSTREAMS = upstreams;
  TYPES.forEach((t, i) => call.write({ ...(i === 0 ? { node: nodeMessage({ id: `client-${id}`, metadata }) } : {}), type_url: t, resource_names_subscribe: ['*'] }));
  return c;
}

async function waitAll(clients: Client[], done: (c: Client) => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (clients.every(done)) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

interface CaseResult {
  case: string;
  n: number;
  s: number;
  scoped: boolean;
  validateMs: number;
  initialSyncMs: number;
  route: { p50: number; p99: number; max: number; converged: number }[];
  endpoint: { p50: number; p99: number; max: number; converged: number }[];
  rssPerClientKiB: number;
  heapPerClientKiB: number;
  rssBaseMiB: number;
  rssMiB: number;
}

async function measureChange(child: ChildProcess, clients: Client[], cmd: string, type: string) {
  const before = new Map(clients.map((c) => [c.id, c.count.get(type) ?? 0]));
  const t0 = performance.now();
  await ask(child, { cmd });
  await waitAll(clients, (c) => (c.count.get(type) ?? 0) > before.get(c.id)!, 20_000);
  const times = clients.filter((c) => (c.count.get(type) ?? 0) > before.get(c.id)!).map((c) => c.lastAt.get(type)! - t0);
  // let stragglers' ACKs land before the next change
  await new Promise((r) => setTimeout(r, 300));
  return { p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times), converged: times.length };
}

async function runCase(n: number, s: number, scoped: boolean, repeat: number): Promise<CaseResult> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', String(s)], { execArgv: ['--import', 'tsx', '--expose-gc', '--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? 'warn' } });
  const info = await ask<{ target: string; validateMs: number; base: { rss: number; heapUsed: number } }>(child);
  const clients: Client[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    let upstreams: string[] | undefined;
    if (scoped) {
      const set = new Set(['svc-0']);
      for (let k = 1; set.size < 10; k++) set.add(`svc-${(i * 7919 + k * 104729) % s}`);
      upstreams = [...set];
    }
    clients.push(startClient(i, info.target, upstreams));
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  const synced = await waitAll(clients, (c) => TYPES.every((t) => (c.count.get(t) ?? 0) > 0), 120_000);
  const initialSyncMs = performance.now() - t0;
  if (!synced) process.stderr.write(`case ${n}x${s}: not every client synced within 120 s\n`);
  await new Promise((r) => setTimeout(r, 500));
  const after = await ask<{ mem: { rss: number; heapUsed: number }; streams: number }>(child, { cmd: 'mem' });
  const route = [];
  const endpoint = [];
  for (let k = 0; k < repeat; k++) {
    // alternate route changes (put the 90/10 config; on repeat the config is identical after the first,
    // so re-measure with endpoint additions only for k > 0)
    if (k === 0) route.push(await measureChange(child, clients, 'route', ROUTE_TYPE_URL));
    endpoint.push(await measureChange(child, clients, 'endpoint', ENDPOINT_TYPE_URL));
  }
  const exited = new Promise((r) => child.once('exit', r));
  child.send({ cmd: 'stop' });
  await exited;
  for (const c of clients) {
    c.call?.cancel();
    c.channel.close();
  }
  return {
    case: `N=${n} S=${s}${scoped ? ' scoped' : ''}`,
    n,
    s,
    scoped,
    validateMs: info.validateMs,
    initialSyncMs,
    route,
    endpoint,
    rssPerClientKiB: (after.mem.rss - info.base.rss) / 1024 / n,
    heapPerClientKiB: (after.mem.heapUsed - info.base.heapUsed) / 1024 / n,
    rssBaseMiB: info.base.rss / 1048576,
    rssMiB: after.mem.rss / 1048576,
  };
}

async function runParent(): Promise<void> {
  const i = process.argv.indexOf('--cases');
  const spec = i >= 0 ? process.argv[i + 1]! : '100x100,1000x1000,1000x10000s';
  const r = process.argv.indexOf('--repeat');
  const repeat = r >= 0 ? Number(process.argv[r + 1]) : 3;
  const results: CaseResult[] = [];
  for (const c of spec.split(',')) {
    const m = /^(\d+)x(\d+)(s?)$/.exec(c);
    if (!m) throw new Error(`bad case ${c} (want NxS or NxSs for scoped)`);
    results.push(await runCase(Number(m[1]), Number(m[2]), m[3] === 's', repeat));
  }
  const f = (v: number) => Number(v.toFixed(1));
  printTable(
    `xDS convergence (Delta ADS, plaintext loopback; ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(1)})`,
    ['case', 'initial sync ms', 'route p50', 'route p99', 'route max', 'eds p50', 'eds p99', 'eds max', 'RSS KiB/client', 'heap KiB/client', 'RSS MiB (base→with clients)'],
    results.map((x) => {
      const eds = x.endpoint;
      return [
        x.case,
        f(x.initialSyncMs),
        f(x.route[0]?.p50 ?? NaN),
        f(x.route[0]?.p99 ?? NaN),
        f(x.route[0]?.max ?? NaN),
        f(percentile(eds.map((e) => e.p50), 50)),
        f(Math.max(...eds.map((e) => e.p99))),
        f(Math.max(...eds.map((e) => e.max))),
        f(x.rssPerClientKiB),
        f(x.heapPerClientKiB),
        `${f(x.rssBaseMiB)} → ${f(x.rssMiB)}`,
      ];
    }),
  );
  const main = results.find((x) => x.n === 1000 && x.s === 1000 && !x.scoped);
  const targets: Target[] = [
    { name: 'route convergence p99, N=1000 S=1000', value: main?.route[0]?.p99, limit: 1000, kind: 'max', unit: 'ms' },
    { name: 'endpoint convergence p99, N=1000 S=1000', value: main ? Math.max(...main.endpoint.map((e) => e.p99)) : undefined, limit: 1000, kind: 'max', unit: 'ms' },
    { name: 'control-plane RSS per connected proxy (max over cases)', value: results.length ? Math.max(...results.map((x) => x.rssPerClientKiB)) / 1024 : undefined, limit: 1, kind: 'max', unit: 'MiB' },
  ];
  const judged = judge(targets);
  printTable('targets', ['target', 'value', 'limit', 'unit', 'result'], targetRows(judged));
  printJsonLine({ bench: 'control/xds-convergence', cores: availableParallelism(), load1: loadavg()[0], results, targets: judged });
}
