// One plain HTTP/1.1 hop through the HTTP/1 engine (src/proxy/protocols/http1: Http1Server + forward +
// Http1Pool), against a raw Node TCP pipe, a core-`http` Node proxy and HAProxy on the same nginx 1 KiB
// upstream. wrk drives each hop (keep-alive, 1 thread); the figure that matters is proxy CPU µs per
// request (utime+stime of the proxy process from /proc over requests served), the fairest number on a
// shared machine. Target: ≤ 16 µs for the engine (HAProxy measured 9.9 µs here). Prints a table and one
// JSON line.
//
// Usage: npm run bench -- micro/http1-forward [--seconds 5] [--connections 16,64] [--only engine,tcp-pipe] [--profile DIR]
// The engine proxy runs in a child process started from this same file with --child; with --profile DIR
// it writes DIR/engine-steady.cpuprofile covering the measured runs only (not startup or warm-up).
import net from 'node:net';
import { parseArgs } from 'node:util';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';

const { values: args } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    port: { type: 'string' },
    upstream: { type: 'string' },
    seconds: { type: 'string' },
    connections: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'string' },
    'tls-dir': { type: 'string' },
  },
  strict: false,
});

if (args.child === true) {
  // The proxy under test: every request forwarded to the upstream, with one header added (as the mesh does).
  const { Http1Server } = await import('../../src/proxy/protocols/http1/server.ts');
  const { Http1Pool } = await import('../../src/proxy/protocols/http1/pool.ts');
  const { compileForward, forward } = await import('../../src/proxy/protocols/http1/forward.ts');
  const upstream = Number(args.upstream);
  const pool = new Http1Pool({ connect: () => net.connect(upstream, '127.0.0.1'), name: `127.0.0.1:${upstream}`, maxConnections: 1024 });
  const plan = compileForward({ requestHeaders: { set: [['x-forwarded-proto', 'http']] } });
  const server = new Http1Server({ onRequest: (conn) => forward(conn, pool, plan) });
  if (typeof args['tls-dir'] === 'string') {
    // TLS from the client (what an inbound proxy terminates): TLS 1.3, sockets adopted after the handshake.
    const tls = await import('node:tls');
    const { readFileSync } = await import('node:fs');
    const dir = args['tls-dir'];
    const tlsServer = tls.createServer({ key: readFileSync(`${dir}/key.pem`), cert: readFileSync(`${dir}/cert.pem`), minVersion: 'TLSv1.3' }, (socket) => {
      server.adopt(socket);
    });
    await new Promise<void>((r) => tlsServer.listen(Number(args.port), '127.0.0.1', r));
  } else {
    await server.listen(Number(args.port));
  }
  if (typeof args.profile === 'string') {
    // Steady-state profile: start after the warm-up, stop at SIGTERM (startup and loader excluded).
    const { Session } = await import('node:inspector');
    const { writeFileSync } = await import('node:fs');
    const session = new Session();
    session.connect();
    const post = (method: string, params?: object) =>
      new Promise<any>((res, rej) => session.post(method, params ?? {}, (e, r) => (e ? rej(e) : res(r))));
    setTimeout(() => void post('Profiler.enable').then(() => post('Profiler.start')), 2500);
    process.on('SIGTERM', () => {
      void post('Profiler.stop').then((r) => {
        writeFileSync(`${args.profile}/engine-steady.cpuprofile`, JSON.stringify(r.profile));
        process.exit(0);
      });
    });
  } else {
    process.on('SIGTERM', () => process.exit(0));
  }
} else {
  await main();
}

async function main(): Promise<void> {
  const { startUpstream, startHaproxyHop, startNodeReference } = await import('../lib/servers.ts');
  const { start, freePort, waitForPort, killAll } = await import('../lib/processes.ts');
  const { runWrk } = await import('../lib/load-tools.ts');
  const { CpuMeter, RssSampler, maxRss, processTree } = await import('../lib/proc-stat.ts');
  const { printTable, printJsonLine } = await import('../lib/report.ts');
  const log = (s: string): void => void process.stderr.write(`${s}\n`);

  const seconds = Number(args.seconds ?? 5);
  const connections = typeof args.connections === 'string' ? args.connections.split(',').map(Number) : [16, 64];
  const only = typeof args.only === 'string' ? new Set(args.only.split(',')) : undefined;
  const profileDir = typeof args.profile === 'string' ? resolve(args.profile) : undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const self = fileURLToPath(import.meta.url);

  const upstream = await startUpstream();
  const tlsDir = mkdtempSync(join(tmpdir(), 'weft-http1-bench-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-keyout', join(tlsDir, 'key.pem'), '-out', join(tlsDir, 'cert.pem')], { stdio: 'ignore' });
  type Hop = { key: string; label: string; start: () => Promise<{ pids: number[]; port: number; stop: () => Promise<void>; scheme?: string }> };
  const hops: Hop[] = [
    {
      key: 'engine',
      label: 'weft HTTP/1 engine (forward)',
      start: async () => {
        const port = await freePort();
        const childArgs = ['--import', 'tsx', self, '--child', '--port', String(port), '--upstream', String(upstream.port)];
        if (profileDir !== undefined) childArgs.push('--profile', profileDir);
        const p = start('engine', process.execPath, childArgs);
        await waitForPort(port, p);
        return { pids: [p.pid], port, stop: () => p.stop(3000) };
      },
    },
    {
      key: 'engine-tls',
      label: 'weft HTTP/1 engine, TLS 1.3 from client',
      start: async () => {
        const port = await freePort();
        const p = start('engine-tls', process.execPath, ['--import', 'tsx', self, '--child', '--port', String(port), '--upstream', String(upstream.port), '--tls-dir', tlsDir]);
        await waitForPort(port, p);
        return { pids: [p.pid], port, stop: () => p.stop(3000), scheme: 'https' };
      },
    },
    {
      key: 'tcp-pipe',
      label: 'raw Node TCP pipe',
      start: async () => {
        const e = await startNodeReference('tcp-pipe', upstream.port);
        return { pids: e.procs.map((p) => p.pid), port: e.port, stop: e.stop };
      },
    },
    {
      key: 'node-http',
      label: 'Node core http proxy',
      start: async () => {
        const e = await startNodeReference('node-http', upstream.port);
        return { pids: e.procs.map((p) => p.pid), port: e.port, stop: e.stop };
      },
    },
    {
      key: 'haproxy',
      label: 'HAProxy (1 thread)',
      start: async () => {
        const e = await startHaproxyHop(upstream.port);
        return { pids: e.procs.map((p) => p.pid), port: e.port, stop: e.stop };
      },
    },
  ];

  const rows: Array<Array<string | number | undefined>> = [];
  const json: Record<string, unknown> = { bench: 'micro/http1-forward', seconds, connections };
  try {
    for (const hop of hops) {
      if (only !== undefined && !only.has(hop.key)) continue;
      log(`${hop.key}: starting`);
      let h;
      try {
        h = await hop.start();
      } catch (e) {
        log(`${hop.key}: cannot start (${e instanceof Error ? e.message.slice(0, 200) : String(e)}); skipped`);
        continue;
      }
      const pids = h.pids.flatMap((p) => processTree(p));
      const url = `${h.scheme ?? 'http'}://127.0.0.1:${h.port}/`;
      const rssIdle = maxRss(pids);
      await runWrk({ url, connections: Math.max(...connections), seconds: 2 }); // warm-up
      const sampler = new RssSampler(pids, 100);
      const results: Record<string, unknown> = {};
      for (const c of connections) {
        const cpu = new CpuMeter(pids);
        const r = await runWrk({ url, connections: c, seconds });
        const us = r.requests > 0 ? (cpu.elapsed() * 1e6) / r.requests : undefined;
        log(`  ${hop.key} c=${c}: ${Math.round(r.rps)} rps, ${us?.toFixed(1)} µs CPU/req, p99 ${r.latencyUs.p99} µs, errors ${r.errors}`);
        rows.push([hop.label, c, Math.round(r.rps), us === undefined ? undefined : Number(us.toFixed(1)), r.latencyUs.p50, r.latencyUs.p99, r.errors]);
        results[`c${c}`] = { rps: Math.round(r.rps), cpuUsPerRequest: us === undefined ? null : Number(us.toFixed(2)), p50Us: r.latencyUs.p50, p99Us: r.latencyUs.p99, errors: r.errors };
      }
      const rssPeak = sampler.stop();
      results.rssIdleMb = Number((rssIdle / 1048576).toFixed(1));
      results.rssPeakMb = Number((rssPeak / 1048576).toFixed(1));
      json[hop.key] = results;
      await h.stop();
    }
  } finally {
    await upstream.stop();
    killAll();
  }
  printTable('one plain HTTP/1.1 hop, nginx 1 KiB upstream, wrk -t1', ['proxy', 'conns', 'rps', 'CPU µs/req', 'p50 µs', 'p99 µs', 'errors'], rows);
  const engine = json.engine as Record<string, { cpuUsPerRequest: number | null }> | undefined;
  const best = engine ? Math.min(...connections.map((c) => engine[`c${c}`]?.cpuUsPerRequest ?? Infinity)) : undefined;
  const tlsRow = json['engine-tls'] as Record<string, { cpuUsPerRequest: number | null }> | undefined;
  if (engine && tlsRow) {
    const c = connections[0]!;
    const plain = engine[`c${c}`]?.cpuUsPerRequest;
    const withTls = tlsRow[`c${c}`]?.cpuUsPerRequest;
    if (plain != null && withTls != null) json.tlsExtraUsPerRequest = Number((withTls - plain).toFixed(2));
  }
  json.target = { name: 'engine proxy CPU per request (µs, one hop)', limit: 16, value: best ?? null, pass: best !== undefined && best <= 16 };
  printJsonLine(json);
}
