// A small traffic simulator over compiled xDS resources (Istio's pilot/pkg/simulation is the model):
// given what a proxy received and a request (authority, path, method, headers), report the listener,
// route configuration, virtual host and route chosen, the cluster(s) with weights, and the policies
// in force (timeouts, retries, mirrors, header edits, hashing; the cluster's LB, circuit breakers,
// outlier detection, TLS peers) — or the reason nothing matched. It follows Envoy's matching rules
// for the subset of fields the compiler emits; it reads plain objects, so it also explains configs
// received by a proxy (`weft config`).
import type { XdsObject } from './compiler/clusters.ts';
import { SIDECAR_OUTBOUND_ROUTE } from './compiler/names.ts';

export interface SimRequest {
  /** Host / :authority, with or without port. */
  readonly authority: string;
  /** Path with optional query string. */
  readonly path: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The resources a proxy holds (CompiledProxy has this shape). */
export interface SimResources {
  readonly listeners: ReadonlyMap<string, XdsObject>;
  readonly routes: ReadonlyMap<string, XdsObject>;
  readonly clusters: ReadonlyMap<string, XdsObject>;
  readonly endpoints: ReadonlyMap<string, XdsObject>;
}

export interface SimClusterPolicy {
  readonly name: string;
  readonly weight: number;
  readonly lbPolicy: string;
  readonly connectTimeoutMs: number | undefined;
  readonly circuitBreakers: XdsObject | undefined;
  readonly outlierDetection: XdsObject | undefined;
  /** SPIFFE IDs the upstream must present (mTLS); undefined = plaintext. */
  readonly tlsPeers: readonly string[] | undefined;
  readonly endpoints: number;
  readonly healthyEndpoints: number;
}

export type SimResult =
  | {
      readonly matched: true;
      readonly listener: string | undefined;
      readonly routeConfig: string;
      readonly virtualHost: string;
      readonly route: string;
      readonly action: 'route' | 'redirect' | 'direct_response';
      readonly clusters: readonly SimClusterPolicy[];
      readonly redirect?: XdsObject;
      readonly directResponseStatus?: number;
      readonly timeoutMs?: number;
      readonly maxStreamDurationMs?: number;
      readonly retry?: { readonly retryOn: string; readonly numRetries: number; readonly perTryTimeoutMs?: number; readonly statusCodes: readonly number[] };
      readonly mirrors: readonly { readonly cluster: string; readonly percent: number }[];
      readonly requestHeadersToAdd: readonly { key: string; value: string; append: boolean }[];
      readonly requestHeadersToRemove: readonly string[];
      readonly responseHeadersToAdd: readonly { key: string; value: string; append: boolean }[];
      readonly hashOn: readonly string[];
      readonly rewrite?: { readonly host?: string; readonly prefix?: string; readonly regex?: string; readonly substitution?: string };
    }
  | { readonly matched: false; readonly reason: string };

function ms(d: unknown): number | undefined {
  if (!d || typeof d !== 'object') return undefined;
  const x = d as { seconds?: string | number; nanos?: number };
  return Number(x.seconds ?? 0) * 1000 + (x.nanos ?? 0) / 1e6;
}

function fullMatch(regex: string, value: string): boolean {
  try {
    return new RegExp(`^(?:${regex})$`).test(value);
  } catch {
    return false;
  }
}

function stringMatches(m: XdsObject | undefined, value: string | undefined): boolean {
  if (m === undefined) return value !== undefined;
  if (value === undefined) return false;
  if (typeof m.exact === 'string') return value === m.exact;
  if (typeof m.prefix === 'string') return value.startsWith(m.prefix);
  if (typeof m.suffix === 'string') return value.endsWith(m.suffix);
  if (m.safe_regex) return fullMatch((m.safe_regex as { regex: string }).regex, value);
  return false;
}

/** Envoy's domain selection: exact, then longest suffix wildcard, then prefix wildcard, then `*`. */
function pickVirtualHost(vhosts: XdsObject[], authority: string): XdsObject | undefined {
  const host = authority.toLowerCase();
  let best: { vh: XdsObject; rank: number; len: number } | undefined;
  for (const vh of vhosts) {
    for (const d of (vh.domains as string[]) ?? []) {
      let rank = -1;
      if (d === host) rank = 3;
      else if (d === '*') rank = 0;
      else if (d.startsWith('*') && host.endsWith(d.slice(1))) rank = 2;
      else if (d.endsWith('*') && host.startsWith(d.slice(0, -1))) rank = 1;
      if (rank < 0) continue;
      if (!best || rank > best.rank || (rank === best.rank && d.length > best.len)) best = { vh, rank, len: d.length };
    }
  }
  return best?.vh;
}

function routeMatches(match: XdsObject, req: SimRequest, path: string, query: URLSearchParams): boolean {
  if (typeof match.path === 'string' && path !== match.path) return false;
  if (typeof match.prefix === 'string' && !path.startsWith(match.prefix)) return false;
  if (typeof match.path_separated_prefix === 'string') {
    const p = match.path_separated_prefix;
    if (!(path === p || path.startsWith(p + '/'))) return false;
  }
  if (match.safe_regex && !fullMatch((match.safe_regex as { regex: string }).regex, path)) return false;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  headers[':method'] = (req.method ?? 'GET').toUpperCase();
  headers[':authority'] = req.authority;
  headers[':path'] = req.path;
  for (const h of (match.headers as XdsObject[] | undefined) ?? []) {
    const value = headers[(h.name as string).toLowerCase()];
    const ok = h.present_match !== undefined ? value !== undefined : stringMatches(h.string_match as XdsObject | undefined, value);
    if (ok === Boolean(h.invert_match)) return false;
  }
  for (const q of (match.query_parameters as XdsObject[] | undefined) ?? []) {
    const value = query.get(q.name as string) ?? undefined;
    if (!stringMatches(q.string_match as XdsObject | undefined, value)) return false;
  }
  return true;
}

function clusterPolicy(res: SimResources, name: string, weight: number): SimClusterPolicy {
  const c = res.clusters.get(name);
  const cla = res.endpoints.get(name) ?? (c?.load_assignment as XdsObject | undefined);
  const eps = ((cla?.endpoints as XdsObject[] | undefined) ?? []).flatMap((g) => (g.lb_endpoints as XdsObject[]) ?? []);
  const tls = (c?.transport_socket as XdsObject | undefined)?.typed_config as XdsObject | undefined;
  const sans = ((tls?.common_tls_context as XdsObject | undefined)?.validation_context as XdsObject | undefined)?.match_typed_subject_alt_names as XdsObject[] | undefined;
  return {
    name,
    weight,
    lbPolicy: (c?.lb_policy as string | undefined) ?? (c ? 'ROUND_ROBIN' : 'MISSING'),
    connectTimeoutMs: ms(c?.connect_timeout),
    circuitBreakers: ((c?.circuit_breakers as XdsObject | undefined)?.thresholds as XdsObject[] | undefined)?.[0],
    outlierDetection: c?.outlier_detection as XdsObject | undefined,
    tlsPeers: tls ? (sans ?? []).map((s) => ((s.matcher as XdsObject).exact ?? `${(s.matcher as XdsObject).prefix}*`) as string) : undefined,
    endpoints: eps.length,
    healthyEndpoints: eps.filter((e) => (e.health_status ?? 'HEALTHY') === 'HEALTHY' || e.health_status === 'UNKNOWN').length,
  };
}

function edits(list: XdsObject[] | undefined): { key: string; value: string; append: boolean }[] {
  return (list ?? []).map((h) => ({
    key: (h.header as XdsObject).key as string,
    value: (h.header as XdsObject).value as string,
    append: h.append_action !== 'OVERWRITE_IF_EXISTS_OR_ADD' && h.append_action !== 'OVERWRITE_IF_EXISTS',
  }));
}

/**
 * The route configurations a request may use: a listener named like the authority (gRPC clients),
 * else Envoy's single `outbound` route configuration, else (weft sidecars, one route configuration
 * per service port) all of them.
 */
function routeConfigsFor(res: SimResources, authority: string): { listener: string | undefined; rcs: XdsObject[]; reason?: string } {
  const l = res.listeners.get(authority) ?? res.listeners.get(authority.replace(/:80$/, ''));
  if (l && (l.api_listener as XdsObject | undefined)) {
    const api = (l.api_listener as XdsObject).api_listener as XdsObject | undefined;
    const name = (api?.rds as XdsObject | undefined)?.route_config_name as string | undefined;
    if (name === undefined) return { listener: l.name as string, rcs: api?.route_config ? [api.route_config as XdsObject] : [] };
    const rc = res.routes.get(name);
    return { listener: l.name as string, rcs: rc ? [rc] : [], reason: `listener ${l.name} names route configuration ${name}, which the proxy does not have` };
  }
  const outbound = res.routes.get(SIDECAR_OUTBOUND_ROUTE);
  if (outbound) return { listener: res.listeners.has('outbound') ? 'outbound' : undefined, rcs: [outbound] };
  const all = [...res.routes.values()].filter((rc) => String(rc.name).startsWith('outbound|'));
  return { listener: undefined, rcs: all, reason: `no listener named ${authority} and no outbound route configuration` };
}

export function simulate(res: SimResources, req: SimRequest): SimResult {
  const found = routeConfigsFor(res, req.authority);
  if (found.rcs.length === 0) return { matched: false, reason: found.reason ?? 'no route configuration' };
  const owner = new Map<XdsObject, XdsObject>();
  for (const rc of found.rcs) for (const v of (rc.virtual_hosts as XdsObject[]) ?? []) owner.set(v, rc);
  const vh = pickVirtualHost([...owner.keys()], req.authority);
  if (!vh) return { matched: false, reason: `no virtual host in ${found.rcs.length === 1 ? found.rcs[0]!.name : 'any route configuration'} matches authority ${req.authority}` };
  const rc = owner.get(vh)!;
  const listener = found.listener ?? (res.listeners.has(rc.name as string) ? (rc.name as string) : undefined);
  const q = req.path.indexOf('?');
  const path = q < 0 ? req.path : req.path.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : req.path.slice(q + 1));
  const route = ((vh.routes as XdsObject[]) ?? []).find((r) => routeMatches(r.match as XdsObject, req, path, query));
  if (!route) return { matched: false, reason: `virtual host ${vh.name} has no route matching ${req.method ?? 'GET'} ${req.path} (404)` };
  const base = {
    matched: true as const,
    listener,
    routeConfig: rc.name as string,
    virtualHost: vh.name as string,
    route: (route.name as string) ?? '',
    requestHeadersToAdd: edits(route.request_headers_to_add as XdsObject[] | undefined),
    requestHeadersToRemove: (route.request_headers_to_remove as string[] | undefined) ?? [],
    responseHeadersToAdd: edits(route.response_headers_to_add as XdsObject[] | undefined),
  };
  if (route.redirect) return { ...base, action: 'redirect', clusters: [], redirect: route.redirect as XdsObject, mirrors: [], hashOn: [] };
  if (route.direct_response) return { ...base, action: 'direct_response', clusters: [], directResponseStatus: (route.direct_response as XdsObject).status as number, mirrors: [], hashOn: [] };
  const a = route.route as XdsObject;
  const clusters: SimClusterPolicy[] = a.cluster
    ? [clusterPolicy(res, a.cluster as string, 1)]
    : ((a.weighted_clusters as XdsObject).clusters as XdsObject[]).map((c) => clusterPolicy(res, c.name as string, ((c.weight as XdsObject | undefined)?.value as number) ?? 0));
  const rp = a.retry_policy as XdsObject | undefined;
  const mirrors = ((a.request_mirror_policies as XdsObject[] | undefined) ?? []).map((m) => {
    const dv = (m.runtime_fraction as XdsObject | undefined)?.default_value as XdsObject | undefined;
    const denom = dv?.denominator === 'MILLION' ? 1e6 : dv?.denominator === 'TEN_THOUSAND' ? 1e4 : 100;
    return { cluster: m.cluster as string, percent: dv ? ((dv.numerator as number) / denom) * 100 : 100 };
  });
  const rewrite =
    a.host_rewrite_literal || a.prefix_rewrite || a.regex_rewrite
      ? {
          ...(a.host_rewrite_literal ? { host: a.host_rewrite_literal as string } : {}),
          ...(a.prefix_rewrite ? { prefix: a.prefix_rewrite as string } : {}),
          ...(a.regex_rewrite ? { regex: ((a.regex_rewrite as XdsObject).pattern as XdsObject).regex as string, substitution: (a.regex_rewrite as XdsObject).substitution as string } : {}),
        }
      : undefined;
  return {
    ...base,
    action: 'route',
    clusters,
    ...(a.timeout !== undefined ? { timeoutMs: ms(a.timeout) } : {}),
    ...(a.max_stream_duration ? { maxStreamDurationMs: ms((a.max_stream_duration as XdsObject).max_stream_duration) } : {}),
    ...(rp
      ? {
          retry: {
            retryOn: rp.retry_on as string,
            numRetries: ((rp.num_retries as XdsObject | undefined)?.value as number) ?? 1,
            ...(rp.per_try_timeout ? { perTryTimeoutMs: ms(rp.per_try_timeout) } : {}),
            statusCodes: (rp.retriable_status_codes as number[] | undefined) ?? [],
          },
        }
      : {}),
    mirrors,
    hashOn: ((a.hash_policy as XdsObject[] | undefined) ?? []).map((h) => (h.header ? `header:${(h.header as XdsObject).header_name}` : 'source_ip')),
    ...(rewrite ? { rewrite } : {}),
  };
}

/** Picks a cluster by weight with a number in [0, 1) — lets tests check weighted splits deterministically. */
export function pickWeighted(clusters: readonly SimClusterPolicy[], r: number): string | undefined {
  const total = clusters.reduce((n, c) => n + c.weight, 0);
  if (total <= 0) return undefined;
  let x = r * total;
  for (const c of clusters) {
    if (x < c.weight) return c.name;
    x -= c.weight;
  }
  return clusters[clusters.length - 1]!.name;
}
