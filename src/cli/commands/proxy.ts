// `weft proxy --bootstrap FILE`: runs the data-plane proxy from a static bootstrap file (YAML or JSON,
// see docs/PROXY.md). Prints one JSON line with the bound addresses; SIGHUP reloads the file (routes,
// clusters and endpoints apply live; listener addresses need a restart); SIGTERM/SIGINT drain
// gracefully (stop accepting, GOAWAY / Connection: close, finish in-flight requests) and exit 0.
// Before anything else it limits V8's heap growth (src/proxy/runtime/heap.ts); with --control it
// loads the xDS and identity clients, and only then (docs/PROXY.md "Memory"). A plain `weft proxy`
// argv reaches runProxyCommand without commander (src/cli/main.ts, proxy-options.ts).
import type { Command } from 'commander';
import { Watch } from '../../core/watch.ts';
import { logger } from '../../core/logger.ts';
import { loadBootstrapFile } from '../../proxy/runtime/bootstrap.ts';
import { WeftProxy } from '../../proxy/proxy.ts';
import type { RuntimeSnapshot } from '../../proxy/runtime/snapshot.ts';
import { limitProxyHeap, releaseOptimizingCompiler } from '../../proxy/runtime/heap.ts';
import { PROXY_OPTIONS, type ProxyCommandOptions } from './proxy-options.ts';

export function registerProxy(program: Command): void {
  const command = program
    .command('proxy')
    .description('run the weft data-plane proxy (outbound, inbound mTLS, admin) from a bootstrap file');
  for (const o of PROXY_OPTIONS) {
    const flags = o.value === undefined ? o.flag : `${o.flag} ${o.value}`;
    if (o.required === true) command.requiredOption(flags, o.description);
    else command.option(flags, o.description);
  }
  command.action((options: ProxyCommandOptions) => runProxyCommand(options));
}

/** The `weft proxy` action: runs until SIGTERM/SIGINT have drained it (or exits early on --check / an invalid file). */
export async function runProxyCommand(options: ProxyCommandOptions): Promise<void> {
  // Before any traffic: a proxy's peak RSS was mostly V8 growing its heap under load (runtime/heap.ts).
  limitProxyHeap();
  if (options.control) {
    // The control-plane clients start up with V8's usual tiering (the hold is for the bootstrap path).
    releaseOptimizingCompiler();
    // Loaded only here: the xDS client, the identity client and the gRPC stack they need.
    const { runControlledProxyCommand } = await import('./proxy-control.ts');
    await runControlledProxyCommand({ ...options, control: options.control });
    return;
  }
  const loaded = loadBootstrapFile(options.bootstrap);
  if (!loaded.ok) {
    process.stderr.write(`weft proxy: ${loaded.error.message}\n`);
    process.exitCode = 1;
    return;
  }
  if (options.check) {
    process.stdout.write(`${options.bootstrap}: valid (version ${loaded.value.version})\n`);
    return;
  }
  // Whoever reads our stdout may be gone by the time we print "drained": never die of EPIPE.
  process.stdout.on('error', () => {});
  const snapshots = new Watch<RuntimeSnapshot>(loaded.value);
  const proxy = await WeftProxy.start({ snapshot: snapshots });
  // Listening: from here on, code tiers up as V8 decides (runtime/heap.ts, holdOptimizingCompiler).
  releaseOptimizingCompiler();
  const a = proxy.addresses;
  process.stdout.write(
    JSON.stringify({
      event: 'listening',
      outbound: a.outbound?.port,
      inbound: a.inbound?.port,
      admin: a.admin?.port,
      upstreams: Object.fromEntries([...a.upstreams].map(([k, v]) => [k, v.port])),
    }) + '\n',
  );
  const log = logger('cli.proxy');
  // A promise rejected on some connection's path must not take every other connection down.
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection (connection dropped, proxy keeps serving)'));
  process.on('SIGHUP', () => {
    const next = loadBootstrapFile(options.bootstrap);
    if (!next.ok) {
      log.error({ file: options.bootstrap }, `reload refused, keeping version ${snapshots.current.version}: ${next.error.message}`);
      return;
    }
    snapshots.set(next.value);
    log.info({ version: next.value.version }, 'bootstrap reloaded');
  });
  const drainMs = options.drainTimeout !== undefined ? Number(options.drainTimeout) : undefined;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down: draining');
      void proxy.drain(drainMs).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.stdout.write(JSON.stringify({ event: 'drained' }) + '\n');
}
