// Smoke test of the e2e benchmark's building blocks with the real tools (nginx, HAProxy, wrk, the
// open-loop client): the upstream serves 1 KiB, the HAProxy mTLS mesh path works end to end, the
// load tools' numbers are sane, and every started process is gone after stop().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { get, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startUpstream, startHaproxyMesh, BODY_BYTES } from '../../bench/lib/servers.ts';
import { makeBenchPki } from '../../bench/lib/certs.ts';
import { runWrk } from '../../bench/lib/load-tools.ts';
import { runOpenLoop } from '../../bench/lib/open-loop.ts';
import { CpuMeter, processTree } from '../../bench/lib/proc-stat.ts';
import { outboundSpec, inboundSpec, startWeftHop, WEFT_SERVICE } from '../../bench/lib/weft.ts';
import { compileSnapshot } from '../../src/proxy/runtime/snapshot.ts';
import { loadBootstrapText } from '../../src/proxy/runtime/bootstrap.ts';

function fetchBody(port: number, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', agent: false, ...(host ? { headers: { host } } : {}) }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('bench: nginx upstream + HAProxy two-hop mTLS path, measured by wrk and the open-loop client', async () => {
  const upstream = await startUpstream();
  const pki = await makeBenchPki();
  const pair = { pki, client: await pki.issue('client'), server: await pki.issue('server') };
  const mesh = await startHaproxyMesh(upstream.port, pair, 'h2');
  const pids = [...mesh.procs, ...upstream.procs].flatMap((p) => processTree(p.pid));
  try {
    const direct = await fetchBody(upstream.port);
    assert.equal(direct.status, 200);
    assert.equal(direct.body.length, BODY_BYTES);
    const viaMesh = await fetchBody(mesh.port);
    assert.equal(viaMesh.status, 200);
    assert.equal(viaMesh.body, direct.body);

    const cpu = new CpuMeter(mesh.procs.map((p) => p.pid));
    const w = await runWrk({ url: `http://127.0.0.1:${mesh.port}/`, connections: 4, seconds: 1 });
    assert.equal(w.errors, 0);
    assert.ok(w.requests > 100, `wrk completed only ${w.requests} requests`);
    assert.ok(w.latencyUs.p50 > 0 && w.latencyUs.p50 <= w.latencyUs.p99);
    assert.ok(cpu.elapsed() > 0, 'the proxies used CPU while serving');

    const o = await runOpenLoop({ port: mesh.port, rate: 200, connections: 4, seconds: 1, warmupSeconds: 0.2 });
    assert.equal(o.errors, 0);
    assert.equal(o.scheduled, 200);
    assert.equal(o.completed, 200);
    assert.ok(o.latencyUs.p50 > 0 && o.latencyUs.p50 <= o.latencyUs.p99 && o.latencyUs.p99 <= o.latencyUs.max);
  } finally {
    await mesh.stop();
    await upstream.stop();
  }
  for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `process ${pid} still running after stop()`);
});

test('bench: the open-loop client gives up with a clear error when it cannot connect', async () => {
  // A port nothing listens on: every connection attempt fails and nothing completes.
  const { freePort } = await import('../../bench/lib/processes.ts');
  const port = await freePort();
  const started = Date.now();
  await assert.rejects(runOpenLoop({ port, rate: 100, connections: 2, seconds: 0.3, warmupSeconds: 0, connectTimeoutMs: 500 }), /could not open 2 connections/);
  assert.ok(Date.now() - started < 5000);
});

/** A server that answers every request after `delayMs` with a small body. */
async function slowServer(delayMs: number): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    setTimeout(() => res.end('ok'), delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

test('bench: open-loop latency includes the server time, and waiting behind a busy connection counts (no coordinated omission)', async () => {
  const { server, port } = await slowServer(20);
  try {
    // Enough connections: nothing waits, and latency is the server's 20 ms plus a little.
    const relaxed = await runOpenLoop({ port, rate: 50, connections: 8, seconds: 1, warmupSeconds: 0.2 });
    assert.equal(relaxed.errors, 0);
    assert.equal(relaxed.completed, 50);
    assert.equal(relaxed.queued, 0);
    assert.ok(relaxed.latencyUs.p50 >= 20_000, `p50 ${relaxed.latencyUs.p50} µs is below the server's 20 ms`);
    assert.ok(relaxed.latencyUs.p50 < 200_000, `p50 ${relaxed.latencyUs.p50} µs`);

    // One connection that can do at most 50 rps, asked for 100 rps: requests queue, and their
    // latency is counted from when they should have been sent, so it grows through the run.
    const overloaded = await runOpenLoop({ port, rate: 100, connections: 1, seconds: 1, warmupSeconds: 0 });
    assert.ok(overloaded.queued > 50, `queued ${overloaded.queued}`);
    assert.ok(overloaded.latencyUs.p99 > 400_000, `p99 ${overloaded.latencyUs.p99} µs should show the backlog`);
    assert.ok(overloaded.latencyUs.p99 > 10 * relaxed.latencyUs.p50);
  } finally {
    server.close();
    server.closeAllConnections();
  }
});

test('bench: the bootstraps the benchmark writes for weft are valid proxy configs', async () => {
  const pki = await makeBenchPki();
  const pair = { pki, client: await pki.issue('client'), server: await pki.issue('server') };
  const specs = [
    outboundSpec({ port: 0, upstreamPort: 8080, peerProtocol: undefined, inboundPort: 15006, serverSpiffeId: pair.server.spiffeId, pair }),
    outboundSpec({ port: 0, upstreamPort: 8080, peerProtocol: 'h2', inboundPort: 15006, serverSpiffeId: pair.server.spiffeId, pair }),
    outboundSpec({ port: 0, upstreamPort: 8080, peerProtocol: 'plain' }),
    inboundSpec({ port: 0, upstreamPort: 8080, pair }),
  ];
  for (const spec of specs) {
    // Identity comes from files: go through the bootstrap loader, which reads them.
    const loaded = loadBootstrapText(JSON.stringify(spec), 'bench.json', pki.dir);
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.error.message);
  }
  const plain = compileSnapshot(specs[2]!);
  assert.ok(plain.ok);
  assert.ok(plain.value.hosts.has(WEFT_SERVICE));
});

test('bench: a weft hop started the way the benchmark starts it (weft proxy --bootstrap) forwards to the upstream', async () => {
  // Under tsx here: compiling every source (what the benchmark does) takes too long for a test;
  // bench-lib.test.ts checks the transpilation itself.
  process.env.WEFT_BENCH_TSX = '1';
  const upstream = await startUpstream();
  const hop = await startWeftHop(upstream.port);
  try {
    const r = await fetchBody(hop.port, WEFT_SERVICE);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, BODY_BYTES);
  } finally {
    await hop.stop();
    await upstream.stop();
  }
  assert.equal(hop.procs[0]!.alive(), false);
});
