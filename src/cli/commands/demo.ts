// `weft demo`: the one-command local mesh that `npm start` runs — a control plane with its CA, three
// apps and a `weft proxy` per app on 127.0.0.1, traffic flowing, and a live line of numbers every
// two seconds. `--duration` ends it by itself (with `--json`, one summary line for scripts and tests).
import type { Command } from 'commander';
import { rootLogger, setRootLogger } from '../../core/logger.ts';
import { startDemoMesh, type DemoMesh, type DemoStats } from '../demo/demo-mesh.ts';
import { parsePort, parsePositiveNumber } from './cli-errors.ts';

interface DemoCommandOptions {
  rps: number;
  duration?: number;
  json?: boolean;
  xdsPort: number;
  adminPort: number;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a demo mesh on this machine: control plane, three apps, their proxies, live traffic (what `npm start` runs)')
    .option('--rps <n>', 'requests per second the demo sends into the mesh', parsePositiveNumber, 20)
    .option('--duration <seconds>', 'stop after this long (default: run until Ctrl-C)', parsePositiveNumber)
    .option('--json', 'print one JSON summary line at the end instead of the live table')
    .option('--xds-port <port>', 'control plane xDS/identity port (any free port if taken)', parsePort, 15010)
    .option('--admin-port <port>', 'control plane admin port, 127.0.0.1 (any free port if taken)', parsePort, 15014)
    .addHelpText('after', '\nThe demo runs in a temporary directory (config, CA state, tokens) that is removed on exit.\nWhile it runs, `weft status` and `weft config frontend-1 --authority reviews` show the live mesh.')
    .action(async (o: DemoCommandOptions) => {
      const out = (s: string) => process.stdout.write(s + '\n');
      // The live table is the demo's output; the control plane's info lines would drown it.
      if (process.env.WEFT_LOG_LEVEL === undefined) setRootLogger(rootLogger().child({}, { level: 'warn' }));
      const proxyLogs: string[] = [];
      const mesh = await startDemoMesh({
        weftEntry: process.argv[1]!,
        rps: o.rps,
        xdsPort: o.xdsPort,
        adminPort: o.adminPort,
        onProxyLog: (workload, line) => {
          if (o.json) proxyLogs.push(`${workload}: ${line}`);
          else out(`  [${workload} proxy] ${line}`);
        },
      });
      if (!o.json) out(banner(mesh));
      const startedAt = Date.now();
      const live = o.json ? undefined : setInterval(() => void liveLine(mesh, startedAt).then(out), 2_000);
      await new Promise<void>((resolve) => {
        if (o.duration !== undefined) setTimeout(resolve, o.duration * 1000);
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      if (live) clearInterval(live);
      const proxies = await syncState(mesh);
      await mesh.close();
      const s = mesh.stats;
      if (o.json) {
        out(JSON.stringify({ requests: s.requests, ok: s.ok, errors: s.errors, split: s.split, canary: s.canary, failures: s.failures, proxies, proxyLogs }));
      } else {
        out(`\nstopped after ${Math.round((Date.now() - startedAt) / 1000)} s: ${s.ok} of ${s.requests} requests answered, ${s.errors} errors${failureText(s)}.`);
      }
    });
}

function banner(mesh: DemoMesh): string {
  const admin = mesh.control.adminUrl ?? '';
  const adminFlag = admin === 'http://127.0.0.1:15014' ? '' : ` --admin ${admin}`;
  return [
    'weft demo: a control plane, three apps and their proxies on 127.0.0.1',
    `  control plane  xDS + identity ${mesh.control.xdsTarget} (TLS), admin ${admin}`,
    `  config         ${mesh.workDir}/config/mesh.yaml (edit it: valid changes reach the proxies at once)`,
    `  proxies        ${mesh.proxies.map((p) => p.nodeId).join(', ')}; certificates from the built-in CA, mTLS between them`,
    '  traffic        the demo → frontend (plaintext, PERMISSIVE) → reviews over mTLS: 90 % v1, 10 % v2, x-canary: true → v2',
    '',
    'Try, in another terminal:',
    `  curl ${mesh.frontendUrl}`,
    `  curl -H 'x-canary: true' ${mesh.frontendUrl}`,
    `  weft status${adminFlag}                          # every proxy and its xDS sync state`,
    `  weft config frontend-1 --authority reviews${adminFlag}  # where the frontend's call to reviews goes, and why`,
    'Ctrl-C stops everything.',
    '',
    '  time  requests      ok  errors  reviews v1 / v2   canary → v2  proxies',
  ].join('\n');
}

async function syncState(mesh: DemoMesh): Promise<string> {
  try {
    const res = await fetch(`${mesh.control.adminUrl}/api/proxies`);
    const proxies = (await res.json()) as { status: string }[];
    return `${proxies.filter((p) => p.status === 'SYNCED').length}/${proxies.length} SYNCED`;
  } catch {
    return 'unknown';
  }
}

async function liveLine(mesh: DemoMesh, startedAt: number): Promise<string> {
  const s = mesh.stats;
  const v1 = s.split.v1 ?? 0;
  const v2 = s.split.v2 ?? 0;
  const pct = v1 + v2 === 0 ? '' : ` (${Math.round((100 * v2) / (v1 + v2))} % v2)`;
  const canaryTotal = Object.values(s.canary).reduce((a, b) => a + b, 0);
  const cols = [
    `${Math.round((Date.now() - startedAt) / 1000)}s`.padStart(6),
    String(s.requests).padStart(9),
    String(s.ok).padStart(7),
    String(s.errors).padStart(7),
    `  ${v1} / ${v2}${pct}`.padEnd(18),
    `${s.canary.v2 ?? 0}/${canaryTotal}`.padStart(12),
    `  ${await syncState(mesh)}`,
  ];
  return cols.join('') + failureText(s);
}

function failureText(s: DemoStats): string {
  const f = Object.entries(s.failures);
  return f.length ? `  (${f.map(([k, n]) => `${k} ×${n}`).join(', ')})` : '';
}
