// Route layer: from the request's authority (or the fixed target of an upstream listener) and its
// method/path/headers/query to a service port, a route and a backend cluster — or the redirect the
// route answers with, or NO_ROUTE.
import { ProxyError } from '../errors.ts';
import type { ClusterRuntime, ClusterSet } from '../balancer/clusters.ts';
import type { Exchange } from '../protocols/exchange.ts';
import { pickBackend, redirectLocation, resolveAuthority, selectRoute, type RequestView, type RouteConfig, type RuntimeSnapshot, type ServicePortConfig } from '../runtime/snapshot.ts';

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

/** A route that answers with a redirect instead of forwarding. */
export interface RedirectDecision {
  readonly port: ServicePortConfig;
  readonly route: RouteConfig;
  readonly status: number;
  readonly location: string;
}

/**
 * Routes an HTTP request: a backend cluster, or the redirect its route answers with. (Redirects are
 * the only routes that answer locally; `routeRequest` refuses them for callers that can only forward.)
 */
export function routeHttpRequest(snapshot: RuntimeSnapshot, clusters: ClusterSet, ex: RoutableRequest, fixed: ServicePortConfig | undefined): RouteDecision | RedirectDecision {
  const { port, route } = selectFor(snapshot, ex, fixed);
  if (route.redirect !== undefined) return { port, route, status: route.redirect.status, location: redirectLocation(route.redirect, ex.authority, ex.path) };
  return decide(clusters, port, route);
}

export function isRedirect(d: RouteDecision | RedirectDecision): d is RedirectDecision {
  return (d as RedirectDecision).location !== undefined;
}

export function routeRequest(snapshot: RuntimeSnapshot, clusters: ClusterSet, ex: RoutableRequest, fixed: ServicePortConfig | undefined): RouteDecision {
  const { port, route } = selectFor(snapshot, ex, fixed);
  if (route.redirect !== undefined) throw new ProxyError('NO_ROUTE', `route ${route.name} of ${port.id} answers with a redirect, which a ${ex.method === 'CONNECT' ? 'TCP connection' : 'tunnel'} cannot follow`);
  return decide(clusters, port, route);
}

function selectFor(snapshot: RuntimeSnapshot, ex: RoutableRequest, fixed: ServicePortConfig | undefined): { port: ServicePortConfig; route: RouteConfig } {
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
  return { port, route };
}

function decide(clusters: ClusterSet, port: ServicePortConfig, route: RouteConfig): RouteDecision {
  const name = pickBackend(route);
  const cluster = clusters.get(name);
  if (cluster === undefined) throw new ProxyError('NO_ROUTE', `route ${route.name} points at unknown cluster ${name}`);
  return { port, route, cluster };
}
