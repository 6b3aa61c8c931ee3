// `weft control --config DIR --state DIR`: runs the control plane (xDS + identity on one TLS port,
// admin API on 127.0.0.1). Prints one JSON line with the bound ports; SIGTERM/SIGINT close it.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { logger } from '../../core/logger.ts';
import { startControlPlane } from '../../control/server.ts';
import { CA_STATE_FILE } from '../../control/identity/state-store.ts';
import { parseNonNegativeInt, parsePort, parsePositiveNumber, usageError } from './cli-errors.ts';

interface ControlOptions {
  config: string;
  state?: string;
  host?: string;
  xdsPort: number;
  adminPort: number;
  grace: number;
  warmup?: number;
  insecure?: boolean;
  caCert?: string;
  caKey?: string;
  caBundle?: string;
  signWorkers?: number;
  signRate?: number;
}

export function registerControl(program: Command): void {
  program
    .command('control')
    .description('run the control plane: watch a config directory, serve xDS and workload certificates, admin API on 127.0.0.1')
    .requiredOption('--config <dir>', 'directory of YAML resources (watched; an invalid edit is refused and the last good config kept)')
    .option('--state <dir>', 'directory for the CA state (created, mode 0600); without it the CA lives in memory')
    .option('--host <addr>', 'address for the xDS/identity port (default 0.0.0.0; 127.0.0.1 with --insecure)')
    .option('--xds-port <port>', 'xDS and identity gRPC port (TLS)', parsePort, 15010)
    .option('--admin-port <port>', 'admin API port (always 127.0.0.1; 0 = any, the URL is printed)', parsePort, 15014)
    .option('--grace <ms>', "keep a disconnected proxy's endpoints this long", parseNonNegativeInt, 10_000)
    .option('--warmup <ms>', 'after start, wait this long for proxies to reconnect before pushing (default: the grace period when --state holds an earlier run, i.e. a restart; 0 on a first start)', parseNonNegativeInt)
    .option('--insecure', 'plaintext xDS without identity (local development only); listens on 127.0.0.1 unless --host says otherwise')
    .option('--ca-cert <file>', 'plug-in CA: intermediate certificate chain (PEM) to issue workload certificates with')
    .option('--ca-key <file>', 'plug-in CA: its private key (PEM; with --ca-cert)')
    .option('--ca-bundle <file>', 'plug-in CA: trusted roots (PEM)')
    .option('--sign-workers <n>', 'worker threads that check CSRs and sign (0 = main thread; default 1 on a machine with 2 or more cores, so signing never delays xDS)', parseNonNegativeInt)
    .option('--sign-rate <n>', 'certificate signatures per second', parsePositiveNumber)
    .action(async (o: ControlOptions) => {
      if (Boolean(o.caCert) !== Boolean(o.caKey)) throw usageError('--ca-cert and --ca-key go together');
      if (o.caBundle && !o.caCert) throw usageError('--ca-bundle needs --ca-cert and --ca-key');
      if (o.insecure && (o.caCert || o.signWorkers !== undefined || o.signRate !== undefined)) throw usageError('--insecure runs without the identity service: --ca-cert, --sign-workers and --sign-rate do not apply');
      const cp = await startControlPlane({
        configDir: o.config,
        stateDir: o.state,
        host: o.host,
        xdsPort: o.xdsPort,
        adminPort: o.adminPort,
        graceMs: o.grace,
        warmupMs: o.warmup ?? defaultWarmupMs(o.state, o.grace),
        insecure: o.insecure,
        identity: {
          ...(o.caCert && o.caKey ? { pluginCa: { certFile: o.caCert, keyFile: o.caKey, bundleFile: o.caBundle } } : {}),
          signWorkers: o.signWorkers ?? defaultSignWorkers(),
          ...(o.signRate !== undefined ? { signRatePerSec: o.signRate } : {}),
        },
      });
      process.stdout.write(JSON.stringify({ event: 'listening', xds: cp.xdsPort, xdsTarget: cp.xdsTarget, admin: cp.adminUrl, trustDomain: cp.trustDomain }) + '\n');
      const log = logger('cli.control');
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'control plane shutting down');
          void cp.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      process.stdout.write(JSON.stringify({ event: 'stopped' }) + '\n');
    });
}

/**
 * A restarted control plane must not push empty endpoint sets before the proxies that were
 * connected have re-registered (the mesh would lose its endpoints): when the state directory holds
 * an earlier run's CA state, wait up to the grace period; a first start pushes at once.
 */
export function defaultWarmupMs(stateDir: string | undefined, graceMs: number): number {
  return stateDir !== undefined && existsSync(join(stateDir, CA_STATE_FILE)) ? graceMs : 0;
}

/** One signing thread where there is a second core: a fleet restart's CSRs then never wait behind xDS, nor xDS behind them. */
function defaultSignWorkers(): number {
  return availableParallelism() >= 2 ? 1 : 0;
}
