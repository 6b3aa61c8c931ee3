// `weft status`: the proxies connected to a control plane and whether each has ACKed its current
// config per type (like `istioctl proxy-status`). Reads the control plane's admin API.
import { Option, type Command } from 'commander';
import { AdminUnreachableError } from './cli-errors.ts';

interface StatusOptions {
  admin: string;
  output: string;
}

interface ProxyRow {
  node: string;
  kind: string;
  workload?: string;
  mode: string;
  status: string;
  types: Record<string, { snapshot?: string; acked?: string; pending: boolean; lastNack?: { message: string; rejectedVersion: string } }>;
}

function cell(t: ProxyRow['types'][string] | undefined): string {
  if (!t) return '-';
  if (t.lastNack && t.lastNack.rejectedVersion === t.snapshot) return 'NACKED';
  if (t.snapshot === undefined) return '-';
  return t.acked === t.snapshot ? 'SYNCED' : t.pending ? 'SENT' : 'STALE';
}

export function formatStatusTable(rows: readonly ProxyRow[]): string {
  const header = ['NAME', 'KIND', 'WORKLOAD', 'MODE', 'CDS', 'EDS', 'LDS', 'RDS', 'STATUS'];
  const lines = rows.map((r) => [r.node, r.kind, r.workload ?? '-', r.mode, cell(r.types.CDS), cell(r.types.EDS), cell(r.types.LDS), cell(r.types.RDS), r.status]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('list proxies connected to the control plane and whether each is in sync')
    .option('--admin <url>', 'control plane admin API', 'http://127.0.0.1:15014')
    .addOption(new Option('--output <format>', 'table or json').choices(['table', 'json']).default('table'))
    .action(async (o: StatusOptions) => {
      const res = await fetch(`${o.admin}/api/proxies`).catch((error: unknown) => {
        throw new AdminUnreachableError(o.admin, error);
      });
      const rows = (await res.json()) as ProxyRow[];
      if (o.output === 'json') process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else process.stdout.write(rows.length ? formatStatusTable(rows) : 'no proxies connected\n');
      const nacks = rows.filter((r) => r.status === 'NACKED');
      for (const r of nacks) {
        for (const [t, s] of Object.entries(r.types)) if (s.lastNack) process.stderr.write(`${r.node}: ${t} version ${s.lastNack.rejectedVersion} refused: ${s.lastNack.message}\n`);
      }
      if (nacks.length) process.exitCode = 1;
    });
}
