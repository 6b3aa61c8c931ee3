// Runs a weft proxy configured by a control plane: the workload certificate comes from the identity
// service (workload token + bootstrap trust bundle; the key is made here and never leaves), services,
// routes and clusters come over xDS. The local bootstrap spec supplies what only this host knows —
// the workload's name and namespace, its app ports, and listener addresses (the inbound port must be
// fixed: it is announced to the control plane before the listeners are bound).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { WeftError } from '../../core/errors.ts';
import { WorkloadIdentityClient } from '../../identity/client.ts';
import { parseSpiffeId } from '../../identity/spiffe.ts';
import { WeftProxy } from '../proxy.ts';
import type { ProxyConfigSpec } from '../runtime/spec.ts';
import { XdsProxyConfig } from './xds-config.ts';

export interface ControlledProxyOptions {
  /** host:port of the control plane (xDS and identity share the port). */
  readonly control: string;
  /** Reads the workload token (a file re-read at every enrolment, or an environment variable). */
  readonly token: () => string;
  /** PEM roots to trust the control plane with until the first bundle arrives. */
  readonly bootstrapBundle: () => string;
  /** The local spec (YAML/JSON file contents already parsed). Its services/clusters are ignored. */
  readonly base: ProxyConfigSpec;
  /** Node id; default `<name>-<pid>`. */
  readonly nodeId?: string;
  /** IP address peers reach this proxy at. Default 127.0.0.1. */
  readonly address?: string;
  /** Services this workload calls; default all. */
  readonly upstreams?: readonly string[];
  readonly mode?: 'delta' | 'sotw';
}

export class ControlledProxyError extends WeftError {
  constructor(message: string) {
    super('PROXY_CONTROL_CONFIG', message);
  }
}

export interface ControlledProxy {
  readonly proxy: WeftProxy;
  readonly xds: XdsProxyConfig;
  readonly identity: WorkloadIdentityClient;
  close(): Promise<void>;
}

export function readBaseSpec(file: string): ProxyConfigSpec {
  const spec = parse(readFileSync(file, 'utf8')) as ProxyConfigSpec;
  if (!spec || typeof spec !== 'object' || !spec.workload) throw new ControlledProxyError(`${file}: a bootstrap needs at least workload.name`);
  return spec;
}

export async function startControlledProxy(o: ControlledProxyOptions): Promise<ControlledProxy> {
  const inboundPort = o.base.listeners?.inbound?.port;
  const appPorts = o.base.workload.inbound?.ports ?? [];
  if (appPorts.length > 0 && !inboundPort) throw new ControlledProxyError('listeners.inbound.port must be a fixed port (it is announced to the control plane)');
  const identity = new WorkloadIdentityClient({ target: o.control, token: o.token, bootstrapBundle: o.bootstrapBundle });
  const first = await identity.start();
  const id = { value: parseSpiffeId(first.spiffeId) };
  const namespace = o.base.workload.namespace ?? id.value.namespace;
  const base = (): ProxyConfigSpec => {
    const m = identity.material.current ?? first;
    return {
      ...o.base,
      services: [],
      clusters: [],
      workload: { ...o.base.workload, namespace, trustDomain: id.value.trustDomain, identity: { certChainPem: m.certChainPem, keyPem: m.keyPem, trustBundlePem: m.trustBundlePem } },
    };
  };
  const xds = new XdsProxyConfig({
    target: o.control,
    tls: () => {
      const m = identity.material.current ?? first;
      return { caPem: m.trustBundlePem, certChainPem: m.certChainPem, keyPem: m.keyPem, serverSpiffeId: `spiffe://${id.value.trustDomain}/ns/weft-system/sa/weft-control` };
    },
    nodeId: o.nodeId ?? `${o.base.workload.name}-${process.pid}`,
    announce: {
      service: appPorts.length > 0 ? o.base.workload.name : undefined,
      namespace,
      serviceAccount: id.value.serviceAccount,
      address: o.address ?? '127.0.0.1',
      ports: appPorts.map((p) => ({ port: p.port })),
      inboundPort,
      upstreams: o.upstreams,
    },
    base,
    mode: o.mode,
  });
  xds.start();
  const snapshots = await xds.ready();
  const proxy = await WeftProxy.start({ snapshot: snapshots, identity: identity.material });
  return {
    proxy,
    xds,
    identity,
    close: async () => {
      xds.stop();
      identity.close();
      await proxy.close();
    },
  };
}
