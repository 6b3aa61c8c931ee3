// Proxy CPU per request on each hop of the two-proxy mTLS path, measured apart: the client-side
// (outbound) proxy and the server-side (inbound) proxy, for weft with each peer protocol (h2 on the
// own codec — the default — and pooled HTTP/1.1) and for HAProxy (h2 and HTTP/1.1 between the hops),
// all in one run so the ratios share the machine's load. wrk drives 1 KiB GETs at 64 connections;
// CPU is utime+stime from /proc/PID/stat divided by the requests served.
//
// Usage: npm run bench -- e2e/mesh-hops [--quick] [--seconds N] [--only weft-h2,weft-http1,haproxy-h2,haproxy-h1]
import { startUpstream, startHaproxyMesh, type Endpoint, type MtlsPair } from '../lib/servers.ts';
import { makeBenchPki } from '../lib/certs.ts';
import { startWeftMesh, weftProxyAvailable, WEFT_SERVICE } from '../lib/weft.ts';
import { runWrk } from '../lib/load-tools.ts';
import { CpuMeter, processTree, machineBusyCores } from '../lib/proc-stat.ts';
import { printTable, printJsonLine } from '../lib/report.ts';
import { killAll } from '../lib/processes.ts';
import { log, parseE2eOptions } from '../lib/options.ts';

const { seconds, only } = parseE2eOptions();
const CONNECTIONS = 64;

interface Plan {
  key: string;
  authority?: string;
  start: () => Promise<Endpoint>;
}

interface Row {
  key: string;
  rps: number;
  outboundUs: number;
  inboundUs: number;
  backgroundCores: number;
}

async function measure(plan: Plan): Promise<Row> {
  const ep = await plan.start();
  try {
    const [outbound, inbound] = ep.procs;
    const url = `http://127.0.0.1:${ep.port}/`;
    const headers = plan.authority !== undefined ? { Host: plan.authority } : undefined;
    const backgroundCores = await machineBusyCores(500);
    await runWrk({ url, connections: CONNECTIONS, seconds: 1, headers });
    const outMeter = new CpuMeter(processTree(outbound!.pid));
    const inMeter = new CpuMeter(processTree(inbound!.pid));
    const r = await runWrk({ url, connections: CONNECTIONS, seconds, headers });
    const n = Math.max(1, r.requests);
    const row = { key: plan.key, rps: Math.round(r.rps), outboundUs: (outMeter.elapsed() * 1e6) / n, inboundUs: (inMeter.elapsed() * 1e6) / n, backgroundCores };
    log(`  ${plan.key}: ${row.rps} rps, outbound ${row.outboundUs.toFixed(1)} µs/req, inbound ${row.inboundUs.toFixed(1)} µs/req, errors ${r.errors}, background ${backgroundCores.toFixed(2)} cores`);
    return row;
  } finally {
    await ep.stop();
  }
}

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const pki = await makeBenchPki();
  const pair: MtlsPair = { pki, client: await pki.issue('client'), server: await pki.issue('server') };
  const plans: Plan[] = [
    ...(weftProxyAvailable()
      ? [
          { key: 'weft-h2', authority: WEFT_SERVICE, start: () => startWeftMesh(upstream.port, pair, { link: 'h2', tag: 'h2' }) },
          { key: 'weft-http1', authority: WEFT_SERVICE, start: () => startWeftMesh(upstream.port, pair, { link: 'http1', tag: 'h1' }) },
        ]
      : []),
    { key: 'haproxy-h2', start: () => startHaproxyMesh(upstream.port, pair, 'h2') },
    { key: 'haproxy-h1', start: () => startHaproxyMesh(upstream.port, pair, 'http/1.1') },
  ];
  const rows: Row[] = [];
  for (const plan of plans) {
    if (only !== undefined && !only.has(plan.key)) continue;
    log(`${plan.key}: starting`);
    try {
      rows.push(await measure(plan));
    } catch (e) {
      log(`${plan.key}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  await upstream.stop();
  const haproxy = rows.find((r) => r.key === 'haproxy-h2');
  printTable(
    `proxy CPU per request per hop (wrk c=${CONNECTIONS}, ${seconds}s, 1 KiB GET), µs`,
    ['path', 'rps', 'outbound', 'inbound', 'outbound / HAProxy h2', 'inbound / HAProxy h2', 'bg cores'],
    rows.map((r) => [
      r.key,
      r.rps,
      Number(r.outboundUs.toFixed(1)),
      Number(r.inboundUs.toFixed(1)),
      haproxy ? Number((r.outboundUs / haproxy.outboundUs).toFixed(2)) : '-',
      haproxy ? Number((r.inboundUs / haproxy.inboundUs).toFixed(2)) : '-',
      Number(r.backgroundCores.toFixed(2)),
    ]),
  );
  printJsonLine({ bench: 'e2e/mesh-hops', at: new Date().toISOString(), seconds, connections: CONNECTIONS, rows });
}

main()
  .catch((e: unknown) => {
    log(`mesh-hops failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() => killAll());
