// Hand-written Envoy v3 resources for transport and interop tests, in the shape both Envoy and
// proxyless gRPC accept: an API listener whose HttpConnectionManager fetches its routes over ADS,
// EDS clusters, and ClusterLoadAssignments with a weighted locality and IP-literal addresses.
// Plus `snapshotOf`, which packs them into an XdsSnapshot with one version per type.
import { XDS_TYPE_URLS, packAny, typedConfig } from '../../src/xds/resources.ts';
import type { XdsSnapshot, TypeSnapshot } from '../../src/xds/server.ts';
import type { Listener } from '../../src/xds/generated/envoy/config/listener/v3/Listener.ts';
import type { RouteConfiguration } from '../../src/xds/generated/envoy/config/route/v3/RouteConfiguration.ts';
import type { Cluster } from '../../src/xds/generated/envoy/config/cluster/v3/Cluster.ts';
import type { ClusterLoadAssignment } from '../../src/xds/generated/envoy/config/endpoint/v3/ClusterLoadAssignment.ts';
import type { Route } from '../../src/xds/generated/envoy/config/route/v3/Route.ts';

const ADS = { ads: {}, resource_api_version: 'V3' } as const;

/** A listener for proxyless gRPC (`xds:///name`) and weft: API listener with HCM → RDS `routeName`. */
export function apiListener(name: string, routeName: string): Listener {
  return {
    name,
    api_listener: {
      api_listener: typedConfig('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
        stat_prefix: name,
        rds: { config_source: ADS, route_config_name: routeName },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: typedConfig('envoy.extensions.filters.http.router.v3.Router', {}) }],
      }),
    },
  };
}

export interface WeightedTarget {
  cluster: string;
  weight: number;
}

/** A route: to one cluster or a weighted split, optionally only when a header equals a value. */
export function route(to: string | WeightedTarget[], match: { prefix?: string; header?: [string, string] } = {}): Route {
  const action =
    typeof to === 'string'
      ? { cluster: to }
      : { weighted_clusters: { clusters: to.map((t) => ({ name: t.cluster, weight: { value: t.weight } })) } };
  return {
    match: {
      prefix: match.prefix ?? '',
      ...(match.header ? { headers: [{ name: match.header[0], string_match: { exact: match.header[1] } }] } : {}),
    },
    route: action,
  };
}

export function routeConfig(name: string, routes: Route[], domains: string[] = ['*']): RouteConfiguration {
  return { name, virtual_hosts: [{ name: `${name}-vh`, domains, routes }] };
}

export function edsCluster(name: string, extra: Partial<Cluster> = {}): Cluster {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS },
    lb_policy: 'ROUND_ROBIN',
    connect_timeout: { seconds: 1 },
    ...extra,
  };
}

/** Endpoints in one weighted locality, as gRPC requires (IP literals, load_balancing_weight set). */
export function loadAssignment(clusterName: string, endpoints: Array<{ address: string; port: number }>): ClusterLoadAssignment {
  return {
    cluster_name: clusterName,
    endpoints: [
      {
        locality: { region: 'local', zone: 'local-a' },
        load_balancing_weight: { value: 1 },
        lb_endpoints: endpoints.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          health_status: 'HEALTHY',
          load_balancing_weight: { value: 1 },
        })),
      },
    ],
  };
}

export interface ResourceLists {
  listeners?: Listener[];
  routes?: RouteConfiguration[];
  clusters?: Cluster[];
  endpoints?: ClusterLoadAssignment[];
}

/** Packs resources into a snapshot; `versions` per type (default: the same `version` for each). */
export function snapshotOf(version: string | Partial<Record<'LDS' | 'RDS' | 'CDS' | 'EDS', string>>, lists: ResourceLists): XdsSnapshot {
  const v = (k: 'LDS' | 'RDS' | 'CDS' | 'EDS'): string => (typeof version === 'string' ? version : (version[k] ?? '0'));
  const resources: Record<string, TypeSnapshot> = {
    [XDS_TYPE_URLS.LDS]: { version: v('LDS'), items: new Map((lists.listeners ?? []).map((l) => [l.name!, packAny('envoy.config.listener.v3.Listener', l)])) },
    [XDS_TYPE_URLS.RDS]: { version: v('RDS'), items: new Map((lists.routes ?? []).map((r) => [r.name!, packAny('envoy.config.route.v3.RouteConfiguration', r)])) },
    [XDS_TYPE_URLS.CDS]: { version: v('CDS'), items: new Map((lists.clusters ?? []).map((c) => [c.name!, packAny('envoy.config.cluster.v3.Cluster', c)])) },
    [XDS_TYPE_URLS.EDS]: {
      version: v('EDS'),
      items: new Map((lists.endpoints ?? []).map((e) => [e.cluster_name!, packAny('envoy.config.endpoint.v3.ClusterLoadAssignment', e)])),
    },
  };
  return { resources };
}
