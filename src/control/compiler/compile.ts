// The compiler: a pure function from (mesh snapshot, proxy) to the xDS resources that proxy needs —
// Listeners, RouteConfigurations, Clusters, ClusterLoadAssignments and its TLS settings (trust
// bundle, allowed peers). Scope: the services the proxy declares as upstreams plus what their routes
// send to (backends, mirrors), or every service when it declares none; so a proxy's config grows with
// its dependencies, not with the mesh. Pieces that do not depend on the proxy (a service's cluster,
// endpoints, virtual host) are built once per snapshot and shared by every proxy (index.memo).
import { EXTENSION_TYPE_URLS } from '../../xds/resources.ts';
import type { NodeClaims, ProxyKind } from '../node-metadata.ts';
import { spiffeIdOf } from '../registry.ts';
import { buildMeshIndex, allowedPeersOf, type MeshIndex, type MeshSnapshot, type ServicePortModel } from './mesh-index.ts';
import { inboundCluster, loadAssignment, outboundCluster, duration, type XdsObject } from './clusters.ts';
import { backendCluster, virtualHost, type CompileNote } from './routes.ts';
import {
  SIDECAR_INBOUND_LISTENER,
  SIDECAR_OUTBOUND_LISTENER,
  SIDECAR_OUTBOUND_ROUTE,
  inboundClusterName,
  outboundClusterName,
  serviceRouteName,
} from './names.ts';

/** What the compiler needs to know about a proxy (from its node metadata and certificate). */
export type ProxyDescriptor = Pick<NodeClaims, 'nodeId' | 'kind' | 'namespace' | 'service' | 'serviceAccount' | 'ports' | 'inboundPort' | 'upstreams'>;

export interface CompiledTls {
  /** PEM roots the proxy must trust. */
  readonly trustBundlePem: string;
  /** The proxy's own SPIFFE ID. */
  readonly spiffeId: string;
  /** Peers allowed to call this workload; undefined = any identity of the trust domain. */
  readonly allowedPeers: readonly string[] | undefined;
}

export interface CompiledProxy {
  readonly listeners: ReadonlyMap<string, XdsObject>;
  readonly routes: ReadonlyMap<string, XdsObject>;
  readonly clusters: ReadonlyMap<string, XdsObject>;
  readonly endpoints: ReadonlyMap<string, XdsObject>;
  readonly tls: CompiledTls;
  /** Service keys (`namespace/name`) in scope, sorted. */
  readonly scope: readonly string[];
  readonly notes: readonly CompileNote[];
}

const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': EXTENSION_TYPE_URLS.router } };
const ADS = { ads: {}, resource_api_version: 'V3' };

/**
 * Memo keys of per-service-port pieces end in `|<namespace/name>:<port>` (mesh-index.ts carries them
 * over to the next index when that service port's inputs are unchanged); `svc:` pieces (cluster,
 * endpoints) are the only ones that depend on endpoints. Other keys (scope) are per config.
 */
function memo<T>(index: MeshIndex, key: string, build: () => T): T {
  if (index.memo.has(key)) return index.memo.get(key) as T;
  const v = build();
  index.memo.set(key, v);
  return v;
}

/** Services in scope: declared upstreams (or all), closed over route backends and mirrors. */
export function scopeOf(index: MeshIndex, proxy: ProxyDescriptor): string[] {
  const roots = proxy.upstreams ?? [...index.services.keys()];
  const key = proxy.upstreams === undefined ? 'scope:*' : `scope:${[...roots].sort().join(',')}`;
  return memo(index, key, () => {
    const seen = new Set<string>();
    const queue = roots.filter((k) => index.services.has(k));
    while (queue.length) {
      const k = queue.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      for (const sp of index.services.get(k) ?? []) {
        for (const a of sp.routes) {
          for (const rule of a.route.rules) {
            const refs = [...rule.backendRefs, ...rule.filters.flatMap((f) => (f.type === 'RequestMirror' ? [f.requestMirror.backendRef] : []))];
            for (const ref of refs) if (ref.kind === 'Service' && !seen.has(`${ref.namespace}/${ref.name}`)) queue.push(`${ref.namespace}/${ref.name}`);
          }
        }
      }
    }
    return [...seen].filter((k) => index.services.has(k)).sort();
  });
}

interface ServicePieces {
  readonly cluster: XdsObject;
  readonly cla: XdsObject;
  readonly notes: CompileNote[];
}

function pieces(index: MeshIndex, sp: ServicePortModel, layoutKind: ProxyKind): ServicePieces {
  const kind = flavour(layoutKind);
  return memo(index, `svc:${kind}|${sp.key}:${sp.port.port}`, () => ({ cluster: outboundCluster(index, sp, kind), cla: loadAssignment(sp, kind), notes: [] }));
}

/** Clusters, endpoints and routes differ only between mesh proxies (weft, Envoy) and gRPC clients. */
function flavour(kind: ProxyKind): 'sidecar' | 'proxyless' {
  return kind === 'proxyless' ? 'proxyless' : 'sidecar';
}

function vhostFor(index: MeshIndex, sp: ServicePortModel, layoutKind: ProxyKind, short: boolean, notes: CompileNote[]): XdsObject {
  const kind = flavour(layoutKind);
  const m = memo(index, `vh:${kind}:${short}|${sp.key}:${sp.port.port}`, () => {
    const n: CompileNote[] = [];
    return { vh: virtualHost(index, sp, kind, short, n), notes: n };
  });
  notes.push(...m.notes);
  return m.vh;
}

function hcm(statPrefix: string, routeSpec: XdsObject): XdsObject {
  return { '@type': EXTENSION_TYPE_URLS.httpConnectionManager, stat_prefix: statPrefix, ...routeSpec, http_filters: [ROUTER] };
}

function downstreamTls(index: MeshIndex, allowedPeers: readonly string[] | undefined): XdsObject {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': EXTENSION_TYPE_URLS.downstreamTlsContext,
      require_client_certificate: { value: true },
      common_tls_context: {
        alpn_protocols: ['h2', 'http/1.1'],
        tls_certificate_sds_secret_configs: [{ name: 'default' }],
        validation_context: {
          trusted_ca: { inline_string: index.snapshot.trustBundlePem },
          match_typed_subject_alt_names: allowedPeers
            ? allowedPeers.map((id) => (id.endsWith('*') ? { san_type: 'URI', matcher: { prefix: id.slice(0, -1) } } : { san_type: 'URI', matcher: { exact: id } }))
            : [{ san_type: 'URI', matcher: { prefix: `spiffe://${index.trustDomain}/` } }],
        },
      },
    },
  };
}

/** Compiles the resources of one proxy. Accepts a MeshSnapshot or a prebuilt index (to share work across proxies). */
export function compileProxy(input: MeshSnapshot | MeshIndex, proxy: ProxyDescriptor): CompiledProxy {
  const index = 'memo' in input ? input : buildMeshIndex(input);
  const notes: CompileNote[] = [];
  const listeners = new Map<string, XdsObject>();
  const routes = new Map<string, XdsObject>();
  const clusters = new Map<string, XdsObject>();
  const endpoints = new Map<string, XdsObject>();
  const scope = scopeOf(index, proxy);
  const kind = proxy.kind;

  for (const key of scope) {
    for (const sp of index.services.get(key)!) {
      const p = pieces(index, sp, kind);
      const name = p.cluster.name as string;
      clusters.set(name, p.cluster);
      endpoints.set(name, p.cla);
    }
  }

  if (kind === 'envoy') {
    const vhosts: XdsObject[] = [];
    const usedDomains = new Set<string>();
    for (const key of scope) {
      for (const sp of index.services.get(key)!) {
        const vh = vhostFor(index, sp, kind, sp.service.metadata.namespace === proxy.namespace, notes);
        const domains = (vh.domains as string[]).filter((d) => !usedDomains.has(d));
        if (domains.length !== (vh.domains as string[]).length) notes.push({ resource: key, message: `host names ${(vh.domains as string[]).filter((d) => usedDomains.has(d)).join(', ')} already used by another service` });
        domains.forEach((d) => usedDomains.add(d));
        vhosts.push(domains.length === (vh.domains as string[]).length ? vh : { ...vh, domains });
      }
    }
    routes.set(SIDECAR_OUTBOUND_ROUTE, { name: SIDECAR_OUTBOUND_ROUTE, virtual_hosts: vhosts });
    listeners.set(SIDECAR_OUTBOUND_LISTENER, {
      name: SIDECAR_OUTBOUND_LISTENER,
      address: { socket_address: { address: '127.0.0.1', port_value: 15001 } },
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('outbound', { rds: { route_config_name: SIDECAR_OUTBOUND_ROUTE, config_source: ADS } }) }] }],
    });
  } else if (kind === 'sidecar') {
    // One listener and one route configuration per service port: a route change re-sends one small
    // resource to each proxy instead of every virtual host it can reach.
    for (const key of scope) {
      for (const sp of index.services.get(key)!) {
        const ns = sp.service.metadata.namespace;
        const n = sp.service.metadata.name;
        const rname = serviceRouteName(ns, n, sp.port.port);
        const short = ns === proxy.namespace;
        routes.set(rname, memo(index, `rc:${kind}:${short}|${sp.key}:${sp.port.port}`, () => ({ name: rname, virtual_hosts: [vhostFor(index, sp, kind, short, notes)] })));
        listeners.set(rname, memo(index, `l:${kind}|${sp.key}:${sp.port.port}`, () => ({ name: rname, api_listener: { api_listener: hcm(rname, { rds: { route_config_name: rname, config_source: ADS } }) } })));
      }
    }
  } else {
    for (const key of scope) {
      for (const sp of index.services.get(key)!) {
        const svc = sp.service;
        const ns = svc.metadata.namespace;
        const n = svc.metadata.name;
        const rname = serviceRouteName(ns, n, sp.port.port);
        routes.set(rname, memo(index, `rc:proxyless|${sp.key}:${sp.port.port}`, () => ({ name: rname, virtual_hosts: [vhostFor(index, sp, kind, true, notes)] })));
        const first = svc.ports[0]?.port === sp.port.port;
        const names = [`${n}.${ns}:${sp.port.port}`, ...(first ? [`${n}.${ns}`] : [])];
        if (ns === proxy.namespace) names.push(`${n}:${sp.port.port}`, ...(first ? [n] : []));
        for (const lname of names) {
          listeners.set(lname, {
            name: lname,
            api_listener: { api_listener: hcm(lname, { rds: { route_config_name: rname, config_source: ADS } }) },
          });
        }
      }
    }
  }

  // Make sure every cluster a route names exists (a backend outside the declared scope was added by the closure).
  for (const rc of routes.values()) {
    for (const vh of rc.virtual_hosts as XdsObject[]) {
      for (const r of vh.routes as XdsObject[]) {
        const action = r.route as XdsObject | undefined;
        if (!action) continue;
        const names = [action.cluster as string | undefined, ...((action.weighted_clusters as { clusters: { name: string }[] } | undefined)?.clusters.map((c) => c.name) ?? []), ...((action.request_mirror_policies as { cluster: string }[] | undefined)?.map((m) => m.cluster) ?? [])];
        for (const c of names) if (c !== undefined && !clusters.has(c)) notes.push({ resource: rc.name as string, message: `route names cluster ${c} which is not in scope` });
      }
    }
  }

  const ownPorts = proxy.service !== undefined ? index.services.get(`${proxy.namespace}/${proxy.service}`) : undefined;
  const allowedPeers = proxy.service !== undefined ? allowedPeersOf(index, proxy.namespace, proxy.service) : undefined;
  if (kind !== 'proxyless' && proxy.inboundPort !== undefined && proxy.ports.length > 0) {
    const mode = ownPorts?.[0]?.mtlsMode ?? index.snapshot.config.mesh.mtlsMode;
    const mainPort = proxy.ports[0]!.port;
    for (const p of proxy.ports) clusters.set(inboundClusterName(p.port), inboundCluster(p.port));
    const inboundRoute = {
      name: `inbound|${proxy.inboundPort}`,
      virtual_hosts: [
        {
          name: 'inbound',
          domains: ['*'],
          routes: [
            ...proxy.ports.slice(1).map((p) => ({ name: `port-${p.port}`, match: { prefix: '/', headers: [{ name: 'x-weft-app-port', string_match: { exact: String(p.port) } }] }, route: { cluster: inboundClusterName(p.port), timeout: duration(0) } })),
            { name: 'default', match: { prefix: '/' }, route: { cluster: inboundClusterName(mainPort), timeout: duration(0) } },
          ],
        },
      ],
    };
    const filters = [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('inbound', { route_config: inboundRoute }) }];
    const chains: XdsObject[] = [{ filter_chain_match: { transport_protocol: 'tls' }, transport_socket: downstreamTls(index, allowedPeers), filters }];
    if (mode === 'PERMISSIVE') chains.push({ filter_chain_match: { transport_protocol: 'raw_buffer' }, filters });
    listeners.set(SIDECAR_INBOUND_LISTENER, {
      name: SIDECAR_INBOUND_LISTENER,
      address: { socket_address: { address: '0.0.0.0', port_value: proxy.inboundPort } },
      traffic_direction: 'INBOUND',
      filter_chains: chains,
    });
  }

  return {
    listeners,
    routes,
    clusters,
    endpoints,
    tls: { trustBundlePem: index.snapshot.trustBundlePem, spiffeId: spiffeIdOf(index.trustDomain, proxy.namespace, proxy.serviceAccount), allowedPeers },
    scope,
    notes: dedupeNotes(notes),
  };
}

function dedupeNotes(notes: CompileNote[]): CompileNote[] {
  const seen = new Set<string>();
  return notes.filter((n) => {
    const k = `${n.resource}\0${n.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export { buildMeshIndex, backendCluster, outboundClusterName };
export type { MeshSnapshot, MeshIndex };
