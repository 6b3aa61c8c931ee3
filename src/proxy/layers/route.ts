// Route layer: from the request's authority (or the fixed target of an upstream listener) and its
// method/path/headers to a service port, a route and a backend cluster — or NO_ROUTE.
import { ProxyError } from '../errors.ts';
import type { ClusterRuntime, ClusterSet } from '../balancer/clusters.ts';
import type { Exchange } from '../protocols/exchange.ts';
import { pickBackend, resolveAuthority, selectRoute, type RequestView, type RouteConfig, type RuntimeSnapshot, type ServicePortConfig } from '../runtime/snapshot.ts';

export interface RouteDecision {
  readonly port: ServicePortConfig;
  readonly route: RouteConfig;
  readonly cluster: ClusterRuntime;
}

/**
 * What routing and balancing read from a request: an Exchange (via `routable`), an HTTP/1 engine head
 * (without turning its headers into objects), or a TCP connection.
 */
export interface RoutableRequest extends RequestView {
  readonly authority: string;
  readonly remoteAddress: string;
}

/** A RoutableRequest over an Exchange, without copying headers. */
export function routable(ex: Exchange): RoutableRequest {
  return {
    method: ex.method,
    path: ex.path,
    authority: ex.authority,
    get remoteAddress() {
      return ex.remoteAddress;
    },
    header: (name: string) => {
      const v = ex.headers[name];
      return Array.isArray(v) ? v[0] : v;
    },
  };
}

export function routeRequest(snapshot: RuntimeSnapshot, clusters: ClusterSet, ex: RoutableRequest, fixed: ServicePortConfig | undefined): RouteDecision {
  let port = fixed;
  if (port === undefined) {
    const hit = resolveAuthority(snapshot, ex.authority);
    if (hit === undefined) {
      throw new ProxyError('NO_ROUTE', ex.authority === '' ? 'the request names no host (Host / :authority missing)' : `no service matches host ${JSON.stringify(ex.authority)}`);
    }
    port = hit.port;
  }
  const route = selectRoute(port, ex);
  if (route === undefined) throw new ProxyError('NO_ROUTE', `no route of ${port.id} matches ${ex.method} ${ex.path.split('?')[0]}`);
  const name = pickBackend(route);
  const cluster = clusters.get(name);
  if (cluster === undefined) throw new ProxyError('NO_ROUTE', `route ${route.name} points at unknown cluster ${name}`);
  return { port, route, cluster };
}
