// The references between xDS resources that decide whether a set is complete: listeners name route
// configurations (HCM `rds`) or clusters (TCP proxy), routes name clusters, EDS clusters name
// ClusterLoadAssignments. Used by the ADS client to follow dependencies and to hold back a set
// until every reference resolves, and by tests and the compiler to check their output.
import { EXTENSION_TYPE_URLS, typeNameOf, unpackAny } from './resources.ts';
import type { Listener__Output } from './generated/envoy/config/listener/v3/Listener.ts';
import type { RouteConfiguration__Output } from './generated/envoy/config/route/v3/RouteConfiguration.ts';
import type { Cluster__Output } from './generated/envoy/config/cluster/v3/Cluster.ts';
import type { HttpConnectionManager__Output } from './generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.ts';
import type { TcpProxy__Output } from './generated/envoy/extensions/filters/network/tcp_proxy/v3/TcpProxy.ts';
import type { Any__Output } from './generated/google/protobuf/Any.ts';
import type { FilterChain__Output } from './generated/envoy/config/listener/v3/FilterChain.ts';

const HCM = typeNameOf(EXTENSION_TYPE_URLS.httpConnectionManager);
const TCP_PROXY = typeNameOf(EXTENSION_TYPE_URLS.tcpProxy);

export interface ListenerRefs {
  /** RDS route configuration names. */
  readonly routes: string[];
  /** Clusters named directly (TCP proxy, or routes inlined in the HCM). */
  readonly clusters: string[];
}

function typedConfigs(listener: Listener__Output): Any__Output[] {
  const out: Any__Output[] = [];
  if (listener.api_listener?.api_listener) out.push(listener.api_listener.api_listener);
  const chains: FilterChain__Output[] = [...(listener.filter_chains ?? [])];
  if (listener.default_filter_chain) chains.push(listener.default_filter_chain);
  for (const chain of chains) for (const f of chain.filters ?? []) if (f.typed_config) out.push(f.typed_config);
  return out;
}

/** Route configurations and clusters a listener refers to. Throws XdsDecodeError on a malformed filter config. */
export function listenerRefs(listener: Listener__Output): ListenerRefs {
  const routes: string[] = [];
  const clusters: string[] = [];
  for (const tc of typedConfigs(listener)) {
    const name = typeNameOf(tc.type_url);
    if (name === HCM) {
      const hcm = unpackAny<HttpConnectionManager__Output>(tc);
      if (hcm.route_specifier === 'rds' && hcm.rds) routes.push(hcm.rds.route_config_name);
      else if (hcm.route_specifier === 'route_config' && hcm.route_config) clusters.push(...routeClusters(hcm.route_config));
    } else if (name === TCP_PROXY) {
      const tcp = unpackAny<TcpProxy__Output>(tc);
      if (tcp.cluster_specifier === 'cluster' && tcp.cluster) clusters.push(tcp.cluster);
      else if (tcp.cluster_specifier === 'weighted_clusters') for (const c of tcp.weighted_clusters?.clusters ?? []) clusters.push(c.name);
    }
  }
  return { routes, clusters };
}

/** Every cluster a route configuration can send a request (or a mirror) to. `cluster_header` targets are not knowable statically. */
export function routeClusters(rc: RouteConfiguration__Output): string[] {
  const out = new Set<string>();
  for (const vh of rc.virtual_hosts ?? []) {
    for (const route of vh.routes ?? []) {
      const action = route.route;
      if (!action) continue;
      if (action.cluster_specifier === 'cluster' && action.cluster) out.add(action.cluster);
      if (action.cluster_specifier === 'weighted_clusters') for (const wc of action.weighted_clusters?.clusters ?? []) out.add(wc.name);
      for (const m of action.request_mirror_policies ?? []) if (m.cluster) out.add(m.cluster);
    }
  }
  return [...out];
}

/** The ClusterLoadAssignment name an EDS cluster needs, or undefined for other discovery types. */
export function edsServiceName(cluster: Cluster__Output): string | undefined {
  if (cluster.cluster_discovery_type === 'type' && cluster.type === 'EDS') {
    return cluster.eds_cluster_config?.service_name || cluster.name;
  }
  return undefined;
}
