// Runs a weft proxy configured by a control plane: the workload certificate comes from the identity
// service (workload token + bootstrap trust bundle; the key is made here and never leaves), services,
// routes and clusters come over xDS. The local bootstrap spec supplies what only this host knows —
// the workload's name and namespace, its app ports, and listener addresses. The listeners are bound
// first (from the local spec, with no services yet) and the *bound* inbound port is what is announced to
// the control plane, so `listeners.inbound.port: 0` works and no port is probed and re-bound later.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { WeftError } from '../../core/errors.ts';
import { WorkloadIdentityClient } from '../../identity/client.ts';
import { parseSpiffeId } from '../../identity/spiffe.ts';
import { WeftProxy } from '../proxy.ts';
import { AWAITING_CONTROL_PLANE_VERSION, type ProxyConfigSpec } from '../runtime/spec.ts';
import { XdsProxyConfig } from './xds-config.ts';
import { Watch } from '../../core/watch.ts';
import { compileSnapshot, type RuntimeSnapshot } from '../runtime/snapshot.ts';

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

/**
 * The spec the listeners are bound with before the first xDS config: no services (outbound answers
 * 503), and an inbound that refuses every peer — the control plane's authorization (which peers may
 * call, strict or permissive mTLS) is not known yet, and the endpoint is announced as soon as the
 * stream opens. Each inbound handshake reads the current snapshot, so the first config lifts this.
 */
export function untilConfigured(spec: ProxyConfigSpec): ProxyConfigSpec {
  const awaiting = { ...spec, version: AWAITING_CONTROL_PLANE_VERSION };
  const inbound = spec.workload.inbound;
  if (!inbound || inbound.mtlsMode === 'DISABLED') return awaiting;
  const td = spec.workload.trustDomain ?? 'cluster.local';
  return { ...awaiting, workload: { ...spec.workload, inbound: { ...inbound, mtlsMode: 'STRICT', allowedPeers: [`spiffe://${td}/ns/weft-system/sa/weft-no-config-yet`] } } };
}

export async function startControlledProxy(o: ControlledProxyOptions): Promise<ControlledProxy> {
  const appPorts = o.base.workload.inbound?.ports ?? [];
  // Upstream listeners name services that arrive only over xDS, so with them the proxy cannot bind
  // before its first config: then (only) the inbound port must be fixed, as it is announced first.
  const bindAfterConfig = (o.base.listeners?.upstreams ?? []).length > 0;
  const fixedInbound = o.base.listeners?.inbound?.port;
  if (bindAfterConfig && appPorts.length > 0 && !fixedInbound) {
    throw new ControlledProxyError('with listeners.upstreams, listeners.inbound.port must be a fixed port (it is announced to the control plane before the listeners are bound)');
  }
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
  let proxy: WeftProxy | undefined;
  let snapshots: Watch<RuntimeSnapshot> | undefined;
  let inboundPort = appPorts.length > 0 ? fixedInbound : undefined;
  if (!bindAfterConfig) {
    // Bind first: a snapshot from the local spec alone (no services until xDS delivers them) gives the
    // proxy its listeners; the bound inbound port is then announced.
    const local = compileSnapshot(untilConfigured(base()));
    if (!local.ok) {
      identity.close();
      throw local.error;
    }
    snapshots = new Watch<RuntimeSnapshot>(local.value);
    try {
      proxy = await WeftProxy.start({ snapshot: snapshots, identity: identity.material });
    } catch (error) {
      identity.close();
      throw error;
    }
    inboundPort = appPorts.length > 0 ? proxy.addresses.inbound?.port : undefined;
    if (appPorts.length > 0 && inboundPort === undefined) {
      await proxy.close();
      identity.close();
      throw new ControlledProxyError('a workload with inbound app ports needs listeners.inbound (port 0 picks a free one)');
    }
  }
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
  const forwarding = snapshots;
  const stopForwarding = forwarding
    ? xds.snapshots.subscribe((s) => {
        if (s) forwarding.set(s);
      })
    : () => {};
  try {
    const ready = await xds.ready();
    proxy ??= await WeftProxy.start({ snapshot: ready, identity: identity.material });
  } catch (error) {
    stopForwarding();
    xds.stop();
    identity.close();
    await proxy?.close();
    throw error;
  }
  const running = proxy;
  return {
    proxy: running,
    xds,
    identity,
    close: async () => {
      stopForwarding();
      xds.stop();
      identity.close();
      await running.close();
    },
  };
}
