// Translates a complete xDS resource set (as the ADS client hands it over) into the proxy's config
// spec: the outbound RouteConfigurations' virtual hosts become services with their routes, EDS
// clusters with their ClusterLoadAssignments become clusters (peer proxy port and SPIFFE ID from
// the endpoint's `weft` metadata), the `inbound` listener gives the mTLS mode and allowed peers.
// Local facts (listener addresses, identity, app ports) come from the proxy's own base spec.
// What the proxy cannot do is never silently mis-applied: a route whose match it cannot express
// (URL rewrites, direct responses) is left out and reported, and a reference to a
// missing cluster throws (the ADS client NACKs the response and keeps the last good config).
import { WeftError } from '../../core/errors.ts';
import type { XdsResourceSet } from '../../xds/client.ts';
import { structToJson } from '../../xds/node.ts';
import { unpackAny } from '../../xds/resources.ts';
import type { ClusterSpec, EndpointSpec, HeaderEditSpec, HeaderMatchSpec, LbPolicy, PortProtocol, ProxyConfigSpec, QueryMatchSpec, RedirectSpec, RouteSpec, ServiceSpec, InboundSpec } from '../runtime/spec.ts';

export class XdsTranslateError extends WeftError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('PROXY_XDS_UNTRANSLATABLE', message, details ? { details } : {});
  }
}

export interface TranslateResult {
  readonly spec: ProxyConfigSpec;
  /** Things left out because the proxy cannot express them (logged by the caller). */
  readonly warnings: readonly string[];
}

const ms = (d: { seconds?: string | number; nanos?: number } | null | undefined): number | undefined =>
  d ? Number(d.seconds ?? 0) * 1000 + Math.round((d.nanos ?? 0) / 1e6) : undefined;

function meta(m: { filter_metadata?: Record<string, unknown> } | null | undefined): Record<string, any> {
  const s = m?.filter_metadata?.weft;
  return s ? (structToJson(s as never) as Record<string, any>) : {};
}

const PROTOCOL: Record<string, PortProtocol> = { http: 'auto', http2: 'http2', grpc: 'grpc', tcp: 'tcp' };
const LB: Record<string, LbPolicy> = { LEAST_REQUEST: 'p2c-ewma', ROUND_ROBIN: 'round-robin', RING_HASH: 'ring-hash' };

/** Envoy's RedirectResponseCode names → HTTP statuses. */
const REDIRECT_STATUS: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

function headerEdits(add: any[] | undefined, remove: string[] | undefined): HeaderEditSpec | undefined {
  if (!add?.length && !remove?.length) return undefined;
  const set: Record<string, string> = {};
  const append: Record<string, string> = {};
  for (const h of add ?? []) {
    const overwrite = h.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD' || h.append_action === 'OVERWRITE_IF_EXISTS';
    (overwrite ? set : append)[h.header.key] = h.header.value;
  }
  return { ...(Object.keys(set).length ? { set } : {}), ...(Object.keys(append).length ? { add: append } : {}), ...(remove?.length ? { remove: [...remove] } : {}) };
}

/** Whether a route action rewrites the path or the host (not supported by the weft proxy yet). */
function actionRewrites(action: any): boolean {
  return Boolean(action && (action.prefix_rewrite || action.regex_rewrite || action.host_rewrite_literal || action.path_rewrite_policy));
}

function routeSpec(r: any, clusters: ReadonlySet<string>, where: string, warnings: string[]): RouteSpec | undefined {
  const m = r.match ?? {};
  const name = r.name || where;
  if (r.direct_response) {
    warnings.push(`${name}: direct response routes are not supported by the weft proxy yet; route left out`);
    return undefined;
  }
  if (r.redirect && (r.redirect.regex_rewrite || r.redirect.strip_query)) {
    warnings.push(`${name}: redirects with a regex rewrite or strip_query are not supported by the weft proxy yet; route left out`);
    return undefined;
  }
  if (actionRewrites(r.route)) {
    // Sending the request on with its original path or host would reach the wrong resource.
    warnings.push(`${name}: URL rewrites are not supported by the weft proxy yet; route left out`);
    return undefined;
  }
  const match: NonNullable<RouteSpec['match']> = {};
  if (m.path_specifier === 'path' || typeof m.path === 'string' && m.path) match.pathExact = m.path;
  else if (m.path_specifier === 'safe_regex' || m.safe_regex?.regex) match.pathRegex = `^(?:${m.safe_regex.regex})$`;
  else if (m.path_specifier === 'path_separated_prefix' || m.path_separated_prefix) match.pathPrefix = m.path_separated_prefix;
  else if (m.prefix && m.prefix !== '/') match.pathPrefix = m.prefix;
  const headers: HeaderMatchSpec[] = [];
  for (const h of m.headers ?? []) {
    const sm = h.string_match;
    if (h.name === ':method' && sm?.exact) {
      match.method = sm.exact;
      continue;
    }
    if (h.invert_match) {
      warnings.push(`${name}: inverted header matches are not supported; route left out`);
      return undefined;
    }
    if (sm?.exact !== undefined && sm.exact !== '') headers.push({ name: h.name, exact: sm.exact });
    else if (sm?.safe_regex?.regex) headers.push({ name: h.name, regex: `^(?:${sm.safe_regex.regex})$` });
    else if (h.present_match) headers.push({ name: h.name, present: true });
    else if (h.exact_match) headers.push({ name: h.name, exact: h.exact_match });
    else {
      warnings.push(`${name}: header matcher on ${h.name} not supported; route left out`);
      return undefined;
    }
  }
  if (headers.length) match.headers = headers;
  const query: QueryMatchSpec[] = [];
  for (const q of m.query_parameters ?? []) {
    const sm = q.string_match;
    if (sm?.ignore_case) {
      warnings.push(`${name}: case-insensitive query parameter matches are not supported; route left out`);
      return undefined;
    }
    if (sm?.exact !== undefined) query.push({ name: q.name, exact: sm.exact });
    else if (sm?.safe_regex?.regex) query.push({ name: q.name, regex: `^(?:${sm.safe_regex.regex})$` });
    else if (q.present_match) query.push({ name: q.name, present: true });
    else {
      warnings.push(`${name}: query parameter matcher on ${q.name} not supported; route left out`);
      return undefined;
    }
  }
  if (query.length) match.query = query;
  if (r.redirect) {
    const rd = r.redirect;
    const redirect: RedirectSpec = { statusCode: REDIRECT_STATUS[rd.response_code ?? 'MOVED_PERMANENTLY'] ?? 301 };
    const scheme = rd.scheme_redirect || (rd.https_redirect ? 'https' : undefined);
    if (scheme !== undefined) redirect.scheme = scheme;
    if (rd.host_redirect) redirect.host = rd.host_redirect;
    if (rd.port_redirect) redirect.port = rd.port_redirect;
    if (rd.path_redirect) redirect.path = rd.path_redirect;
    if (rd.prefix_rewrite) redirect.prefix = rd.prefix_rewrite;
    return { name, ...(Object.keys(match).length ? { match } : {}), backends: [], redirect };
  }
  const action = r.route;
  if (!action) {
    warnings.push(`${name}: no route action; left out`);
    return undefined;
  }
  const backends =
    action.cluster_specifier === 'weighted_clusters' || action.weighted_clusters?.clusters?.length
      ? action.weighted_clusters.clusters.map((c: any) => ({ cluster: c.name as string, weight: (c.weight?.value ?? 0) as number }))
      : [{ cluster: action.cluster as string, weight: 1 }];
  for (const b of backends) {
    if (!clusters.has(b.cluster)) throw new XdsTranslateError(`${name} names cluster ${b.cluster}, which was not received`, { route: name, cluster: b.cluster });
  }
  const live = backends.filter((b: { weight: number }) => b.weight > 0);
  if (live.length === 0) {
    warnings.push(`${name}: every backend has weight 0; route left out`);
    return undefined;
  }
  if (action.request_mirror_policies?.length) warnings.push(`${name}: request mirroring is not supported by the weft proxy yet; mirror ignored`);
  const spec: RouteSpec = { name, ...(Object.keys(match).length ? { match } : {}), backends: live };
  const timeout = ms(action.timeout);
  if (timeout !== undefined) spec.timeoutMs = timeout;
  const req = headerEdits(r.request_headers_to_add, r.request_headers_to_remove);
  const res = headerEdits(r.response_headers_to_add, r.response_headers_to_remove);
  if (req) spec.requestHeaders = req;
  if (res) spec.responseHeaders = res;
  return spec;
}

function clusterSpec(c: any, cla: any, hashHeader: string | undefined): ClusterSpec {
  const m = meta(c.metadata);
  const endpoints: EndpointSpec[] = [];
  for (const group of cla?.endpoints ?? c.load_assignment?.endpoints ?? []) {
    for (const lbe of group.lb_endpoints ?? []) {
      if (lbe.health_status === 'UNHEALTHY' || lbe.health_status === 'DRAINING') continue;
      const sa = lbe.endpoint?.address?.socket_address;
      if (!sa) continue;
      const em = meta(lbe.metadata);
      const meshed = em.proxy_port !== undefined;
      const ep: EndpointSpec = { address: sa.address, port: meshed ? Number(em.app_port) : sa.port_value };
      if (meshed) {
        ep.proxyPort = sa.port_value;
        ep.spiffeId = String(em.spiffe_id);
      }
      const w = lbe.load_balancing_weight?.value;
      if (w && w > 1) ep.weight = Math.min(w, 10000);
      if (em.labels && typeof em.labels === 'object') ep.labels = Object.fromEntries(Object.entries(em.labels).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      endpoints.push(ep);
    }
  }
  const th = c.circuit_breakers?.thresholds?.[0];
  const od = c.outlier_detection;
  const spec: ClusterSpec = {
    name: c.name,
    endpoints,
    lb: LB[c.lb_policy] ?? 'p2c-ewma',
    peerProtocol: m.meshed ? 'h2' : 'plain',
    protocol: PROTOCOL[m.protocol] ?? 'auto',
  };
  if (spec.lb === 'ring-hash' && hashHeader) spec.hashHeader = hashHeader;
  const connect = ms(c.connect_timeout);
  if (connect) spec.connectTimeoutMs = connect;
  if (th) spec.pool = { ...(th.max_connections ? { maxConnections: th.max_connections.value } : {}), ...(th.max_pending_requests ? { maxPending: th.max_pending_requests.value } : {}) };
  if (od?.consecutive_gateway_failure?.value) spec.ejectAfterFailures = od.consecutive_gateway_failure.value;
  const base = ms(od?.base_ejection_time);
  if (base) spec.ejectBaseMs = base;
  return spec;
}

function parseVh(name: string): { name: string; namespace: string; port: number } | undefined {
  const m = /^([^.]+)\.([^:]+):(\d+)$/.exec(name);
  return m ? { name: m[1]!, namespace: m[2]!, port: Number(m[3]) } : undefined;
}

/**
 * Builds the proxy spec: `base` carries the local parts (workload identity and inbound app ports,
 * listener addresses, limits); the set supplies services, routes, clusters and inbound policy.
 */
export function translateXds(set: XdsResourceSet, base: ProxyConfigSpec): TranslateResult {
  const warnings: string[] = [];
  const clusterNames = new Set([...set.clusters.keys()].filter((n) => !n.startsWith('inbound|')));
  // Weft sidecars get one route configuration per service port (`outbound|<port>|<name>.<ns>`);
  // Envoy-style configs put every virtual host in one (`outbound`). Both read the same way.
  const services = new Map<string, ServiceSpec>();
  const hashHeaders = new Map<string, string>();
  const seen = new Set<string>();
  const vhosts = [...set.routes.values()].flatMap((rc: any) => (String(rc.name).startsWith('outbound') ? (rc.virtual_hosts ?? []) : []));
  for (const vh of vhosts) {
    if (seen.has(vh.name)) continue;
    seen.add(vh.name);
    const id = parseVh(vh.name);
    if (!id) {
      warnings.push(`virtual host ${vh.name}: not a weft service name; left out`);
      continue;
    }
    const routes: RouteSpec[] = [];
    for (const r of vh.routes ?? []) {
      const spec = routeSpec(r, clusterNames, `${vh.name}/${r.name ?? routes.length}`, warnings);
      if (spec) routes.push(spec);
      for (const h of r.route?.hash_policy ?? []) if (h.header?.header_name) for (const b of spec?.backends ?? []) hashHeaders.set(b.cluster, h.header.header_name);
    }
    const standard = new Set([id.name, `${id.name}.${id.namespace}`, `${id.name}.${id.namespace}.svc`]);
    const hosts = [...new Set((vh.domains as string[]).map((d) => d.replace(/:\d+$/, '')).filter((d) => !standard.has(d) && !d.startsWith(`${id.name}.${id.namespace}.svc.`)))];
    const key = `${id.namespace}/${id.name}`;
    let svc = services.get(key);
    if (!svc) services.set(key, (svc = { name: id.name, namespace: id.namespace, ports: [] }));
    if (hosts.length) svc.hosts = [...new Set([...(svc.hosts ?? []), ...hosts])];
    const ownCluster = `outbound|${id.port}||${id.name}.${id.namespace}`;
    const cm = meta((set.clusters.get(ownCluster) as any)?.metadata);
    svc.ports.push({ port: id.port, protocol: PROTOCOL[cm.protocol] ?? 'auto', routes });
  }
  const clusters: ClusterSpec[] = [];
  for (const name of clusterNames) clusters.push(clusterSpec(set.clusters.get(name), set.endpoints.get(name), hashHeaders.get(name)));

  const spec: ProxyConfigSpec = {
    ...base,
    version: `${set.versions.CDS}.${set.versions.EDS}.${set.versions.LDS}.${set.versions.RDS}`,
    services: [...services.values()],
    clusters,
  };
  const inbound = set.listeners.get('inbound') as any;
  if (inbound && base.workload.inbound) {
    const chains = inbound.filter_chains ?? [];
    const tlsChain = chains.find((c: any) => c.filter_chain_match?.transport_protocol === 'tls');
    const permissive = chains.some((c: any) => c.filter_chain_match?.transport_protocol === 'raw_buffer');
    const tls = tlsChain?.transport_socket?.typed_config;
    let allowedPeers: string[] | undefined;
    if (tls) {
      // The transport socket is an Any: the ADS client decodes only the top-level resources.
      const sans = decodeSans(tls);
      const td = `spiffe://${base.workload.trustDomain ?? 'cluster.local'}/`;
      if (sans.length && !(sans.length === 1 && sans[0] === `${td}*`)) allowedPeers = sans;
    }
    const next: InboundSpec = { ...base.workload.inbound, mtlsMode: base.workload.inbound.mtlsMode === 'DISABLED' ? 'DISABLED' : permissive ? 'PERMISSIVE' : 'STRICT' };
    if (allowedPeers) next.allowedPeers = allowedPeers;
    else delete next.allowedPeers;
    spec.workload = { ...base.workload, inbound: next };
  }
  return { spec, warnings };
}

function decodeSans(any: { type_url: string; value: Uint8Array }): string[] {
  const ctx = unpackAny<any>(any);
  const vc = ctx.common_tls_context?.validation_context;
  const out: string[] = [];
  for (const s of vc?.match_typed_subject_alt_names ?? []) {
    const m = s.matcher ?? {};
    if (m.exact) out.push(m.exact);
    else if (m.prefix) out.push(m.prefix.endsWith('/') ? `${m.prefix}*` : `${m.prefix}*`);
  }
  return out;
}
