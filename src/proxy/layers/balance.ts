// Balance layer: asks the cluster's picker for an endpoint (synchronously) and turns "none" into a
// NO_HEALTHY_ENDPOINT error that says how many endpoints exist and how many are ejected.
import { ProxyError } from '../errors.ts';
import type { ClusterRuntime } from '../balancer/clusters.ts';
import type { EndpointState } from '../balancer/endpoint-state.ts';
import type { RoutableRequest } from './route.ts';

export function pickEndpoint(cluster: ClusterRuntime, ex: RoutableRequest, now: number, exclude?: EndpointState): EndpointState {
  const hh = cluster.config.hashHeader;
  let hashKey: string | undefined;
  if (cluster.config.lb === 'ring-hash') {
    hashKey = hh !== undefined ? ex.header(hh) : ex.remoteAddress;
  }
  const r = cluster.pick({ now, hashKey });
  if (r.type === 'pick' && r.endpoint === exclude && cluster.endpoints.length > 1) {
    // A retry after a connect failure: prefer another endpoint if one is available.
    for (const e of cluster.endpoints) if (e !== exclude && e.available(now)) return e;
  }
  if (r.type === 'pick') return r.endpoint;
  const what = cluster.config.name;
  throw new ProxyError(
    'NO_HEALTHY_ENDPOINT',
    r.total === 0 ? `no endpoints for ${what}` : `no healthy endpoints for ${what} (${r.ejected} of ${r.total} ejected)`,
    { details: { cluster: what, total: r.total, ejected: r.ejected } },
  );
}
