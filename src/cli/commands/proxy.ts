// `weft proxy --bootstrap FILE`: runs the data-plane proxy from a static bootstrap file (YAML or JSON,
// see docs/PROXY.md). Prints one JSON line with the bound addresses; SIGHUP reloads the file (routes,
// clusters and endpoints apply live; listener addresses need a restart); SIGTERM/SIGINT drain
// gracefully (stop accepting, GOAWAY / Connection: close, finish in-flight requests) and exit 0.
// Before anything else it limits V8's heap growth (src/proxy/runtime/heap.ts); with --control it
// loads the xDS and identity clients, and only then (docs/PROXY.md "Memory").
import type { Command } from 'commander';
import { Watch } from '../../core/watch.ts';
import { logger } from '../../core/logger.ts';
import { loadBootstrapFile } from '../../proxy/runtime/bootstrap.ts';
import { WeftProxy } from '../../proxy/proxy.ts';
import type { RuntimeSnapshot } from '../../proxy/runtime/snapshot.ts';
import { limitProxyHeap } from '../../proxy/runtime/heap.ts';
import type { ControlModeOptions } from './proxy-control.ts';

interface ProxyCommandOptions extends Partial<Omit<ControlModeOptions, 'bootstrap'>> {
  bootstrap: string;
  check?: boolean;
  drainTimeout?: string;
}

export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description('run the weft data-plane proxy (outbound, inbound mTLS, admin) from a bootstrap file')
    .requiredOption('--bootstrap <file>', 'static bootstrap file (YAML or JSON): listeners, services, clusters, identity')
    .option('--check', 'validate the bootstrap file and exit (0 valid, 1 invalid)')
    .option('--drain-timeout <ms>', 'on SIGTERM, how long in-flight requests may finish (default: the file\'s drainTimeoutMs)')
    .option('--control <host:port>', 'get certificates and config from this control plane (the bootstrap then gives only workload, app ports, listeners)')
    .option('--token <file>', 'with --control: the workload token file')
    .option('--token-env <var>', 'with --control: the environment variable holding the workload token')
    .option('--ca <file>', 'with --control: trust bundle to verify the control plane with')
    .option('--upstreams <list>', 'with --control: services this workload calls (comma-separated); default all')
    .option('--address <ip>', 'with --control: IP address peers reach this proxy at (default 127.0.0.1)')
    .option('--node-id <id>', 'with --control: xDS node id (default <workload>-<pid>)')
    .action(async (options: ProxyCommandOptions) => {
      // Before any traffic: a proxy's peak RSS was mostly V8 growing its heap under load (runtime/heap.ts).
      limitProxyHeap();
      if (options.control) {
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
    });
}
