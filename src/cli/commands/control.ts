// `weft control --config DIR --state DIR`: runs the control plane (xDS + identity on one TLS port,
// admin API on 127.0.0.1). Prints one JSON line with the bound ports; SIGTERM/SIGINT close it.
import type { Command } from 'commander';
import { logger } from '../../core/logger.ts';
import { startControlPlane } from '../../control/server.ts';

interface ControlOptions {
  config: string;
  state?: string;
  host: string;
  xdsPort: string;
  adminPort: string;
  grace?: string;
  insecure?: boolean;
}

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag} must be a port number (0-65535), not ${JSON.stringify(value)}`);
  return n;
}

export function registerControl(program: Command): void {
  program
    .command('control')
    .description('run the control plane: watch a config directory, serve xDS and workload certificates, admin API on 127.0.0.1')
    .requiredOption('--config <dir>', 'directory of YAML resources (watched; an invalid edit is refused and the last good config kept)')
    .option('--state <dir>', 'directory for the CA state (created, mode 0600); without it the CA lives in memory')
    .option('--host <addr>', 'address for the xDS/identity port', '0.0.0.0')
    .option('--xds-port <port>', 'xDS and identity gRPC port (TLS)', '15010')
    .option('--admin-port <port>', 'admin API port (always 127.0.0.1)', '15014')
    .option('--grace <ms>', 'keep a disconnected proxy\'s endpoints this long', '10000')
    .option('--insecure', 'plaintext xDS without identity (local development only)')
    .action(async (o: ControlOptions) => {
      const cp = await startControlPlane({
        configDir: o.config,
        stateDir: o.state,
        host: o.host,
        xdsPort: port(o.xdsPort, '--xds-port'),
        adminPort: port(o.adminPort, '--admin-port'),
        graceMs: o.grace !== undefined ? Number(o.grace) : undefined,
        insecure: o.insecure,
      });
      process.stdout.write(JSON.stringify({ event: 'listening', xds: cp.xdsPort, admin: cp.adminUrl, trustDomain: cp.trustDomain }) + '\n');
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
