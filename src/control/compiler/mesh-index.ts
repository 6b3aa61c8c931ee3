// The mesh snapshot the compiler reads, indexed once per change: every service port with its
// endpoints (from the registry), its resolved traffic policy and mTLS mode, and the routes attached
// to it (GAMMA parentRefs to a Service). Pure: built from immutable inputs, never mutated after.
import type {
  AuthorizationPolicyConfig,
  GRPCRouteConfig,
  HTTPRouteConfig,
  MeshConfig,
  MtlsMode,
  ParentRefConfig,
  ServiceConfig,
  ServicePortConfig,
} from '../../config/types.ts';
import { resolveBackendTraffic, resolveMtlsMode, applicablePolicies, type ResolvedBackendTraffic } from '../../config/resolve.ts';
import type { WorkloadEntry } from '../registry.ts';

/** Everything the compiler needs: validated config, registered workloads, the trust bundle. */
export interface MeshSnapshot {
  readonly config: MeshConfig;
  /** From the registry: static Workload resources and registered proxies. */
  readonly workloads: ReadonlyMap<string, WorkloadEntry>;
  /** PEM of every trusted root (several during root rotation). */
  readonly trustBundlePem: string;
  /** DNS suffix after `<name>.<namespace>.svc`. Default `cluster.local`. */
  readonly clusterDomain?: string;
}

export interface EndpointModel {
  readonly address: string;
  /** The application port (the service's target port on that workload). */
  readonly port: number;
  /** Peer proxy inbound port; undefined when the workload is not meshed. */
  readonly proxyPort: number | undefined;
  readonly spiffeId: string;
  readonly ready: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly locality: { readonly region: string; readonly zone: string; readonly sub_zone: string } | undefined;
  readonly workloadId: string;
}

/** An attached route rule in a form common to HTTPRoute and GRPCRoute. */
export interface AttachedRoute {
  readonly kind: 'HTTPRoute' | 'GRPCRoute';
  readonly route: HTTPRouteConfig | GRPCRouteConfig;
}

export interface ServicePortModel {
  readonly key: string;
  readonly service: ServiceConfig;
  readonly port: ServicePortConfig;
  readonly endpoints: readonly EndpointModel[];
  readonly traffic: ResolvedBackendTraffic;
  readonly mtlsMode: MtlsMode;
  readonly routes: readonly AttachedRoute[];
  /** SPIFFE IDs of the endpoints (the peers a caller must accept). */
  readonly peerIdentities: readonly string[];
  /** Structural key of every config input of this port (service, attached routes, policies); not endpoints. */
  readonly inputKey: string;
}

export interface MeshIndex {
  readonly snapshot: MeshSnapshot;
  readonly trustDomain: string;
  readonly clusterDomain: string;
  /** `namespace/name` → its ports, in service port order. */
  readonly services: ReadonlyMap<string, readonly ServicePortModel[]>;
  /** Memo for compiled pieces shared by every proxy of this snapshot (see compile.ts). */
  readonly memo: Map<string, unknown>;
  /**
   * Built incrementally from the previous index (same config, only workloads changed): the service
   * keys whose endpoints changed. Undefined: everything may have changed.
   */
  readonly changedServices: ReadonlySet<string> | undefined;
  /** Structural key of config that every proxy's compilation reads (mesh settings, authorization, mTLS policies). */
  readonly globalKey: string;
  /** Every service key with its ports: backend lookups and scopes depend on it. */
  readonly portsKey: string;
}

/** JSON replacer that drops source positions (an edit above a resource moves them, nothing else). */
function dropSource(key: string, value: unknown): unknown {
  return key === 'source' ? undefined : value;
}

function globalKeyOf(config: MeshConfig): string {
  return JSON.stringify([config.mesh, [...config.authorizationPolicies.values()], [...config.mtlsPolicies.values()]], dropSource);
}

function portsKeyOf(config: MeshConfig): string {
  let out = '';
  for (const [k, svc] of config.services) out += `${k}:${svc.ports.map((p) => p.port).join(',')};`;
  return out;
}

function workloadBelongs(w: WorkloadEntry, svc: ServiceConfig): boolean {
  if (w.namespace !== svc.metadata.namespace) return false;
  if (w.service === svc.metadata.name) return true;
  const sel = Object.entries(svc.selector);
  return sel.length > 0 && sel.every(([k, v]) => w.labels[k] === v);
}

/**
 * The workload port a service port reaches: the workload port named like the service port, else the
 * one equal to the target port, else (one-port services) the workload's main port.
 */
function endpointPort(w: WorkloadEntry, svc: ServiceConfig, sp: ServicePortConfig): number | undefined {
  if (typeof sp.targetPort === 'string') return w.ports.find((p) => p.name === sp.targetPort)?.port;
  if (sp.name !== '') {
    const named = w.ports.find((p) => p.name === sp.name);
    if (named) return named.port;
  }
  const exact = w.ports.find((p) => p.port === sp.targetPort);
  if (exact) return exact.port;
  return svc.ports.length === 1 ? w.ports[0]?.port : undefined;
}

function parentMatches(ref: ParentRefConfig, svc: ServiceConfig, sp: ServicePortConfig): boolean {
  if (ref.kind !== 'Service' || (ref.group !== '' && ref.group !== 'weft.dev')) return false;
  if (ref.namespace !== svc.metadata.namespace || ref.name !== svc.metadata.name) return false;
  if (ref.port !== undefined && ref.port !== sp.port) return false;
  if (ref.sectionName !== undefined && ref.sectionName !== sp.name) return false;
  return true;
}

function sameEndpoints(a: readonly EndpointModel[], b: readonly EndpointModel[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.workloadId !== y.workloadId || x.address !== y.address || x.port !== y.port || x.proxyPort !== y.proxyPort || x.spiffeId !== y.spiffeId || x.ready !== y.ready || x.labels !== y.labels || x.locality !== y.locality) return false;
  }
  return true;
}

/**
 * Indexes a snapshot. With `previous` built from the same config object (only workloads changed),
 * service ports whose endpoints are unchanged keep their model, and every compiled piece in the memo
 * carries over except the endpoint-dependent ones (cluster, ClusterLoadAssignment) of changed ports —
 * so an endpoint change recompiles only the services it touches.
 */
export function buildMeshIndex(snapshot: MeshSnapshot, previous?: MeshIndex): MeshIndex {
  const config = snapshot.config;
  const sameConfig = previous !== undefined && previous.snapshot.config === config;
  const reuse =
    previous !== undefined &&
    previous.snapshot.trustBundlePem === snapshot.trustBundlePem &&
    previous.snapshot.clusterDomain === snapshot.clusterDomain &&
    (sameConfig || (previous.globalKey === globalKeyOf(config) && previous.portsKey === portsKeyOf(config)))
      ? previous
      : undefined;
  /** Service ports (`namespace/name:port`) whose config inputs changed: every memo piece of theirs is dropped. */
  const changedInputs = new Set<string>();
  const changedPorts = new Set<string>();
  // Index workloads by namespace (then by service name), and routes by parent service, so building
  // the index is linear in the mesh size rather than services × workloads.
  const byNamespace = new Map<string, WorkloadEntry[]>();
  const byService = new Map<string, WorkloadEntry[]>();
  for (const w of snapshot.workloads.values()) {
    let ns = byNamespace.get(w.namespace);
    if (!ns) byNamespace.set(w.namespace, (ns = []));
    ns.push(w);
    const k = `${w.namespace}/${w.service}`;
    let sv = byService.get(k);
    if (!sv) byService.set(k, (sv = []));
    sv.push(w);
  }
  const routesByParent = new Map<string, AttachedRoute[]>();
  const attach = (kind: AttachedRoute['kind'], r: HTTPRouteConfig | GRPCRouteConfig) => {
    for (const key of new Set(r.parentRefs.filter((p) => p.kind === 'Service').map((p) => `${p.namespace}/${p.name}`))) {
      let list = routesByParent.get(key);
      if (!list) routesByParent.set(key, (list = []));
      list.push({ kind, route: r });
    }
  };
  for (const r of config.httpRoutes.values()) attach('HTTPRoute', r);
  for (const r of config.grpcRoutes.values()) attach('GRPCRoute', r);
  const services = new Map<string, readonly ServicePortModel[]>();
  for (const [key, svc] of config.services) {
    const selected = Object.keys(svc.selector).length > 0 ? (byNamespace.get(svc.metadata.namespace) ?? []).filter((w) => workloadBelongs(w, svc)) : (byService.get(key) ?? []);
    const members = selected;
    const attached = routesByParent.get(key) ?? [];
    const ports: ServicePortModel[] = [];
    for (const sp of svc.ports) {
      const endpoints: EndpointModel[] = [];
      for (const w of members) {
        const port = endpointPort(w, svc, sp);
        if (port === undefined) continue;
        endpoints.push({ address: w.address, port, proxyPort: w.proxyPort, spiffeId: w.spiffeId, ready: w.ready, labels: w.labels, locality: w.locality, workloadId: w.id });
      }
      const old = reuse?.services.get(key)?.find((m) => m.port.port === sp.port);
      if (sameConfig && old && old.port === sp && sameEndpoints(old.endpoints, endpoints)) {
        ports.push(old);
        continue;
      }
      const routes = attached.filter((a) => a.route.parentRefs.some((p) => parentMatches(p, svc, sp)));
      const subject = { namespace: svc.metadata.namespace, service: svc.metadata.name, port: sp.port };
      const traffic = resolveBackendTraffic(config, subject);
      const mtlsMode = resolveMtlsMode(config, subject);
      const inputKey = sameConfig && old ? old.inputKey : JSON.stringify([svc, sp, routes.map((r) => r.route), traffic, mtlsMode], dropSource);
      if (reuse) {
        if (!old || old.inputKey !== inputKey) changedInputs.add(`${key}:${sp.port}`);
        if (!old || old.inputKey !== inputKey || !sameEndpoints(old.endpoints, endpoints)) changedPorts.add(`${key}:${sp.port}`);
        if (old && old.inputKey === inputKey && sameEndpoints(old.endpoints, endpoints)) {
          ports.push(old);
          continue;
        }
      }
      ports.push(
        Object.freeze({
          key,
          service: svc,
          port: sp,
          endpoints: Object.freeze(endpoints),
          traffic,
          mtlsMode,
          routes: Object.freeze(routes),
          peerIdentities: Object.freeze([...new Set(endpoints.map((e) => e.spiffeId))].sort()),
          inputKey,
        }),
      );
    }
    services.set(key, Object.freeze(ports));
  }
  const memo = new Map<string, unknown>();
  if (reuse) {
    // Per-port keys end in `|<namespace/name>:<port>` (compile.ts). Config-input changes drop every
    // piece of that port; endpoint changes drop only `svc:` pieces (cluster, endpoints). Keys without
    // `|` (scopes) depend on the whole config and survive only an unchanged config.
    for (const [k, v] of reuse.memo) {
      const bar = k.lastIndexOf('|');
      if (bar < 0) {
        if (sameConfig) memo.set(k, v);
        continue;
      }
      const port = k.slice(bar + 1);
      if (changedInputs.has(port) || !services.has(port.slice(0, port.lastIndexOf(':')))) continue;
      if (k.startsWith('svc:') && changedPorts.has(port)) continue;
      memo.set(k, v);
    }
  }
  // Groups whose scope holds none of these keep their compilation. Scopes are recomputed on a config
  // change, so a changed route that widens a scope is also a changed input of its parent service.
  const changedServices = reuse ? new Set([...changedPorts].map((k) => k.slice(0, k.lastIndexOf(':')))) : undefined;
  return {
    snapshot,
    trustDomain: config.mesh.trustDomain,
    clusterDomain: snapshot.clusterDomain ?? 'cluster.local',
    services,
    memo,
    changedServices,
    globalKey: reuse && sameConfig ? reuse.globalKey : globalKeyOf(config),
    portsKey: reuse && sameConfig ? reuse.portsKey : portsKeyOf(config),
  };
}

/** The identities allowed to call a service: the union of ALLOW AuthorizationPolicy identities, or undefined (any in the trust domain). */
export function allowedPeersOf(index: MeshIndex, namespace: string, service: string): string[] | undefined {
  const policies: AuthorizationPolicyConfig[] = applicablePolicies(index.snapshot.config.authorizationPolicies, { namespace, service }, index.snapshot.config);
  const allow = policies.filter((p) => p.action === 'ALLOW');
  if (allow.length === 0) return undefined;
  const ids = new Set<string>();
  for (const p of allow) {
    for (const r of p.rules) {
      if (r.identities.length === 0) return undefined; // a rule open to any identity
      for (const id of r.identities) ids.add(id);
    }
  }
  return [...ids].sort();
}
