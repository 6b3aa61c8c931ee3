// `weft config <proxy>`: what a proxy received from the control plane (its scope, TLS peers, and the
// listeners, routes, clusters and endpoints as JSON); with `--authority`/`--path` it explains where a
// request would go (the traffic simulator run against that proxy's config).
import { Option, type Command } from 'commander';
import { AdminUnreachableError } from './cli-errors.ts';

interface ConfigOptions {
  admin: string;
  type?: string;
  authority?: string;
  path: string;
  method: string;
  header: string[];
}

export function registerConfig(program: Command): void {
  program
    .command('config')
    .description('print the xDS config a proxy received, or explain where a request would go')
    .argument('<proxy>', 'node id of the proxy (see `weft status`)')
    .option('--admin <url>', 'control plane admin API', 'http://127.0.0.1:15014')
    .addOption(new Option('--type <type>', 'only one of the four').choices(['listeners', 'routes', 'clusters', 'endpoints']))
    .option('--authority <host>', 'simulate a request to this host[:port] instead of printing the config')
    .option('--path <path>', 'path of the simulated request', '/')
    .option('--method <method>', 'method of the simulated request', 'GET')
    .option('--header <name:value>', 'header of the simulated request (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .action(async (node: string, o: ConfigOptions) => {
      const base = `${o.admin}/api/proxies/${encodeURIComponent(node)}`;
      let url = `${base}/config`;
      if (o.authority) {
        const q = new URLSearchParams({ authority: o.authority, path: o.path, method: o.method });
        for (const h of o.header) q.append('header', h);
        url = `${base}/simulate?${q}`;
      }
      const res = await fetch(url).catch((error: unknown) => {
        throw new AdminUnreachableError(o.admin, error);
      });
      const body = (await res.json()) as Record<string, unknown> & { error?: { message: string } };
      if (res.status !== 200) {
        process.stderr.write(`weft config: ${body.error?.message ?? res.statusText}\n`);
        process.exitCode = 1;
        return;
      }
      const out = o.type && !o.authority ? (body[o.type] ?? []) : body;
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      if (o.authority && body.matched === false) process.exitCode = 1;
    });
}
