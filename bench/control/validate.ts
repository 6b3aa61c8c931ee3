// Benchmark: load and validate 10,000 resources (5,000 Services, 5,000 HTTPRoutes with matches,
// filters and weighted backends), from one in-memory multi-document YAML text and from 100 files in
// a temporary directory. Baseline in the same run: the same text through the precise parser only.
// Prints a table and one JSON line. Target: >= 10,000 resources/s.
// Usage: node --import tsx bench/control/validate.ts [--services N] [--routes N] [--runs N] [--no-baseline]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { validateDocuments, loadConfigFiles, type ConfigLoadResult } from '../../src/config/index.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const SERVICES = arg('services', 5000);
const ROUTES = arg('routes', 5000);
const RUNS = arg('runs', 3);
const BASELINE = !process.argv.includes('--no-baseline');

function service(i: number): string {
  return `apiVersion: weft.dev/v1alpha1
kind: Service
metadata:
  name: svc-${i}
  namespace: ns-${i % 50}
  labels:
    app: svc-${i}
spec:
  ports:
    - name: http
      port: 80
      targetPort: 8080
      appProtocol: http
    - name: grpc
      port: 9090
      appProtocol: grpc
`;
}

function route(i: number): string {
  const ns = i % 50;
  const a = i % SERVICES;
  // Same namespace as svc-a: services are spread over namespaces by i % 50, so pick b = a + 50.
  const b = (a + 50) % SERVICES;
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-${i}
  namespace: ns-${ns}
spec:
  parentRefs:
    - group: ""
      kind: Service
      name: svc-${a}
      port: 80
  hostnames: ["svc-${a}.ns-${ns}.svc.cluster.local"]
  rules:
    - name: canary
      matches:
        - path: { type: PathPrefix, value: /api/v${i % 7} }
          headers:
            - name: x-canary
              value: "true"
          method: GET
        - path: { type: Exact, value: /health }
          queryParams:
            - { type: RegularExpression, name: debug, value: "^(1|true)$" }
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: x-route, value: route-${i} }]
            remove: [x-debug]
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            add: [{ name: x-served-by, value: weft }]
      backendRefs:
        - name: svc-${a}
          port: 80
          weight: 90
        - name: svc-${b}
          port: 80
          weight: 10
      timeouts: { request: 10s, backendRequest: 2s }
    - backendRefs:
        - name: svc-${a}
          port: 80
`;
}

const docs: string[] = [];
for (let i = 0; i < SERVICES; i++) docs.push(service(i));
for (let i = 0; i < ROUTES; i++) docs.push(route(i));
const text = docs.join('---\n');
const resources = SERVICES + ROUTES;

function check(r: ConfigLoadResult): void {
  if (!r.ok) {
    console.error(r.error.slice(0, 5));
    throw new Error('benchmark config is invalid');
  }
  if (r.value.resourceCount !== resources) throw new Error(`expected ${resources} resources, got ${r.value.resourceCount}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function measure(name: string, fn: () => ConfigLoadResult | Promise<ConfigLoadResult>, runs: number) {
  check(await fn()); // warm-up (JIT), also proves the input is valid
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    check(await fn());
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const ms = median(times);
  const cpuMs = median(cpu);
  return { name, ms, cpuMs, perSec: Math.round((resources / ms) * 1000), perCpuSec: Math.round((resources / cpuMs) * 1000) };
}

const dir = mkdtempSync(join(tmpdir(), 'weft-bench-validate-'));
try {
  const perFile = Math.ceil(docs.length / 100);
  for (let f = 0; f * perFile < docs.length; f++) writeFileSync(join(dir, `part-${String(f).padStart(3, '0')}.yaml`), docs.slice(f * perFile, (f + 1) * perFile).join('---\n'));
  const rows = [
    await measure('memory: 1 text, fast parser', () => validateDocuments([{ source: 'bench.yaml', text }]), RUNS),
    await measure('files: 100 files, fast parser', () => loadConfigFiles([dir]), RUNS),
  ];
  // Peak RSS of the process so far (input text, 10,000 validated resources kept alive by the runs);
  // read before the precise-parser baseline, whose syntax tree is far larger.
  const peakRssMB = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
  if (BASELINE) rows.push(await measure('baseline: 1 text, precise parser only', () => validateDocuments([{ source: 'bench.yaml', text }], { parser: 'precise' }), 1));
  console.log(`validate: ${resources} resources (${SERVICES} Services, ${ROUTES} HTTPRoutes), ${(text.length / 1e6).toFixed(1)} MB of YAML, median of ${RUNS} runs`);
  // Wall time is what a user waits; CPU time (all threads: parsing, GC) is steadier on a shared machine.
  console.log('| case | wall ms | resources/s (wall) | CPU ms | resources per CPU-second |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.name} | ${r.ms.toFixed(0)} | ${r.perSec} | ${r.cpuMs.toFixed(0)} | ${r.perCpuSec} |`);
  console.log(`load average (1 min) during the run: ${loadavg()[0]?.toFixed(2)} on ${availableParallelism()} CPUs`);
  console.log(`peak RSS (before the baseline): ${peakRssMB} MB`);
  const main = rows[0] as { perSec: number; perCpuSec: number };
  const files = rows[1] as { perSec: number };
  const baseline = rows[2];
  console.log(
    JSON.stringify({
      bench: 'validate',
      resources,
      resourcesPerSec: main.perSec,
      resourcesPerCpuSec: main.perCpuSec,
      filesResourcesPerSec: files.perSec,
      ...(baseline ? { preciseParserResourcesPerSec: baseline.perSec } : {}),
      peakRssMB,
      target: 10000,
      pass: main.perSec >= 10000,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
