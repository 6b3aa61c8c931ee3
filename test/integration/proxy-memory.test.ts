// `weft proxy --bootstrap FILE` as a real process holds only what a bootstrap-mode proxy needs: no
// gRPC/protobuf stack (xDS and identity clients), no CA libraries, no YAML parser for a JSON file, not
// even the CLI's parser (commander) for a plain argv, and node's `http`/`http2` modules only once an
// h2c client shows up; its heap growth is limited from the start (src/proxy/runtime/heap.ts), start-up
// did not keep V8's optimizing compiler held back, and /memory says all of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startHttpServer, collect } from '../support/servers.ts';

const root = new URL('../..', import.meta.url).pathname;
const weft = join(root, 'bin', 'weft.js');
const dir = mkdtempSync(join(tmpdir(), 'weft-proxy-memory-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => void collect(res).then((b) => resolve({ status: res.statusCode!, body: b.toString() }))).on('error', reject);
  });
}

interface MemoryReport {
  rssBytes: number;
  heapUsedBytes: number;
  youngGenerationBytes: number;
  heapSpaces: Array<{ name: string; committedBytes: number; residentBytes: number; usedBytes: number }>;
  heapLimits: { youngGenerationFrozen: boolean; oldGenerationGrowthPercent: number | null };
  startupCompiler: string;
  builtinModules: string[];
  commonJsPackages: string[];
}

let ports: { outbound: number; admin: number };
let child: ChildProcess;
/** /memory of the proxy before it served anything. */
let beforeTraffic: MemoryReport;

async function memory(): Promise<MemoryReport> {
  const res = await get(ports.admin, '/memory');
  assert.equal(res.status, 200);
  return JSON.parse(res.body) as MemoryReport;
}

let app: Awaited<ReturnType<typeof startHttpServer>> | undefined;
after(() => app?.close());

before(async () => {
  app = await startHttpServer((_req, res) => res.end('ok'));
  const file = join(dir, 'proxy.json');
  writeFileSync(
    file,
    JSON.stringify({
      workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local' },
      listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: null, admin: { address: '127.0.0.1', port: 0 } },
      services: [{ name: 'legacy', ports: [{ port: 80, protocol: 'http1', cluster: 'legacy' }] }],
      clusters: [{ name: 'legacy', peerProtocol: 'plain', endpoints: [{ address: '127.0.0.1', port: app.port }] }],
    }),
  );
  child = spawn(process.execPath, [weft, 'proxy', '--bootstrap', file], { env: { ...process.env, WEFT_FROM_SOURCE: '1', WEFT_LOG_LEVEL: 'warn', NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`weft proxy exited ${code}: ${stderr}`)));
  });
  ports = JSON.parse(first) as { outbound: number; admin: number };
  beforeTraffic = await memory();
});

after(async () => {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
});

test('a bootstrap-mode proxy loads no xDS/identity/CA/YAML packages, limits its heap growth, and reports it on /memory', async () => {
  // Some traffic first, so the report is of a proxy that has served requests.
  for (let i = 0; i < 50; i++) assert.equal((await get(ports.outbound, '/', { host: 'legacy' })).body, 'ok');

  const report = await memory();
  assert.ok(report.rssBytes > 0 && report.heapUsedBytes > 0);
  const oldSpace = report.heapSpaces.find((s) => s.name === 'old_space');
  assert.ok(oldSpace !== undefined && oldSpace.usedBytes > 0 && oldSpace.usedBytes <= oldSpace.committedBytes, JSON.stringify(report.heapSpaces));
  assert.deepEqual(report.heapLimits, { youngGenerationFrozen: true, oldGenerationGrowthPercent: 10 });
  // Frozen at its start-up size: 4 MB (both semi-spaces) compiled, 8 MB under tsx, whose loader allocates more; unlimited it grows to 32 MB.
  assert.ok(report.youngGenerationBytes <= 8 * 2 ** 20, `young generation ${report.youngGenerationBytes} bytes`);
  // Nothing of the control-plane clients, the CA, the YAML parser, or the CLI's parser (a plain
  // `weft proxy` argv is read without commander).
  for (const absent of ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'reflect-metadata', 'tsyringe', 'yaml', 'js-yaml', 'commander']) {
    assert.ok(!report.commonJsPackages.includes(absent), `${absent} is loaded: ${report.commonJsPackages.join(' ')}`);
  }
  // The optimizing compiler was held back while the proxy started, and released once it listened.
  assert.equal(report.startupCompiler, 'released');
});

test('a bootstrap proxy without h2c traffic loads neither node:http nor node:http2 (the admin port runs on the proxy\'s own HTTP/1 engine)', async () => {
  for (const report of [beforeTraffic, await memory()]) {
    // The list is real: the modules every proxy needs are in it ...
    for (const present of ['net', 'tls', 'crypto']) assert.ok(report.builtinModules.includes(present), `${present} missing: ${report.builtinModules.join(' ')}`);
    // ... and node's HTTP stacks are not, before traffic and after HTTP/1 requests.
    for (const absent of ['http', 'http2', '_http_server', '_http_client']) {
      assert.ok(!report.builtinModules.includes(absent), `${absent} is loaded: ${report.builtinModules.join(' ')}`);
    }
  }
});
