// `weft proxy --bootstrap FILE --control HOST:PORT --token FILE --ca FILE`: the proxy configured by a
// control plane. The bootstrap file gives only local facts (workload name, app ports, listener
// addresses; inbound port 0 is fine — it is bound first, then announced); the certificate comes from the identity service with
// the workload token, and services, routes and clusters come over xDS. Prints one JSON line with the
// bound addresses; SIGTERM/SIGINT drain and exit 0.
import { readFileSync } from 'node:fs';
import { logger } from '../../core/logger.ts';
import { ControlledProxyError, readBaseSpec, startControlledProxy } from '../../proxy/xds/run.ts';
import { parseNonNegativeInt, usageError } from './cli-errors.ts';

export interface ControlModeOptions {
  bootstrap: string;
  control: string;
  token?: string;
  tokenEnv?: string;
  ca?: string;
  upstreams?: string;
  address?: string;
  nodeId?: string;
  drainTimeout?: string;
}

export async function runControlledProxyCommand(o: ControlModeOptions): Promise<void> {
  if (!o.token && !o.tokenEnv) throw usageError('--control needs the workload token: --token FILE or --token-env VAR');
  if (!o.ca) throw usageError('--control needs --ca FILE: the trust bundle to verify the control plane with (weft identity bundle)');
  let drainMs: number | undefined;
  try {
    drainMs = o.drainTimeout !== undefined ? parseNonNegativeInt(o.drainTimeout) : undefined;
  } catch {
    throw usageError(`--drain-timeout must be a whole number of milliseconds, not ${JSON.stringify(o.drainTimeout)}`);
  }
  const tokenEnv = o.tokenEnv;
  const token = (): string => {
    if (tokenEnv) {
      const v = process.env[tokenEnv];
      if (!v) throw new ControlledProxyError(`environment variable ${tokenEnv} (--token-env) is empty: it must hold the workload token`);
      return v.trim();
    }
    return readFileSync(o.token!, 'utf8').trim();
  };
  const ca = o.ca;
  const running = await startControlledProxy({
    control: o.control,
    token,
    bootstrapBundle: () => readFileSync(ca, 'utf8'),
    base: readBaseSpec(o.bootstrap),
    address: o.address,
    nodeId: o.nodeId,
    upstreams: o.upstreams ? o.upstreams.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
  });
  const a = running.proxy.addresses;
  process.stdout.write(JSON.stringify({ event: 'listening', control: o.control, spiffeId: running.identity.spiffeId, outbound: a.outbound?.port, inbound: a.inbound?.port, admin: a.admin?.port }) + '\n');
  const log = logger('cli.proxy');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down: draining');
      running.xds.stop();
      running.identity.close();
      void running.proxy.drain(drainMs).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  process.stdout.write(JSON.stringify({ event: 'drained' }) + '\n');
}
