// Virtual hosts and routes for a service port: HTTPRoute and GRPCRoute rules attached to the
// service (GAMMA) become Envoy routes in Gateway API precedence order — exact path, then longest
// prefix, then regex; then method, most header matches, most query matches; ties by route key and
// rule order. Filters map to header edits, redirects, rewrites and mirrors; timeouts to `timeout` and
// `max_stream_duration` (gRPC clients read only the latter); retries to `retry_policy`.
import type {
  GRPCRouteConfig,
  GRPCRouteMatchConfig,
  HTTPRouteConfig,
  HTTPRouteFilterConfig,
  HTTPRouteMatchConfig,
  HTTPRouteRetryConfig,
  HTTPRouteTimeoutsConfig,
  HeaderMatchConfig,
  HeaderModifierConfig,
  BackendObjectRefConfig,
} from '../../config/types.ts';
import type { ProxyKind } from '../node-metadata.ts';
import type { MeshIndex, ServicePortModel } from './mesh-index.ts';
import { jsonToStruct } from '../../xds/node.ts';
import { duration, type XdsObject } from './clusters.ts';
import { outboundClusterName, virtualHostName } from './names.ts';

/** A route problem the compiler worked around (surfaced in the admin API as a config warning). */
export interface CompileNote {
  readonly resource: string;
  readonly message: string;
}

interface Candidate {
  readonly routeKey: string;
  readonly kind: 'HTTPRoute' | 'GRPCRoute';
  readonly ruleIndex: number;
  readonly matchIndex: number;
  readonly ruleName: string | undefined;
  readonly pathType: 'Exact' | 'PathPrefix' | 'RegularExpression';
  readonly path: string;
  readonly method: string | undefined;
  readonly headers: readonly HeaderMatchConfig[];
  readonly query: readonly HeaderMatchConfig[];
  readonly filters: readonly HTTPRouteFilterConfig[];
  readonly backends: readonly { ref: BackendObjectRefConfig; weight: number; filters: readonly HTTPRouteFilterConfig[] }[];
  readonly timeouts: HTTPRouteTimeoutsConfig | undefined;
  readonly retry: HTTPRouteRetryConfig | undefined;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A GRPCRoute method match as a path match on `/<service>/<method>`. */
function grpcPath(m: GRPCRouteMatchConfig): { pathType: Candidate['pathType']; path: string } {
  const svc = m.method?.service;
  const method = m.method?.method;
  if (m.method === undefined || (svc === undefined && method === undefined)) return { pathType: 'PathPrefix', path: '/' };
  if (m.method.type === 'RegularExpression') return { pathType: 'RegularExpression', path: `/${svc ?? '[^/]+'}/${method ?? '[^/]+'}` };
  if (svc !== undefined && method !== undefined) return { pathType: 'Exact', path: `/${svc}/${method}` };
  if (svc !== undefined) return { pathType: 'PathPrefix', path: `/${svc}/` };
  return { pathType: 'RegularExpression', path: `/[^/]+/${escapeRegex(method!)}` };
}

function candidates(sp: ServicePortModel): Candidate[] {
  const out: Candidate[] = [];
  for (const attached of sp.routes) {
    if (attached.kind === 'HTTPRoute') {
      const r = attached.route as HTTPRouteConfig;
      r.rules.forEach((rule, ruleIndex) => {
        const matches: readonly HTTPRouteMatchConfig[] = rule.matches.length ? rule.matches : [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [], method: undefined }];
        matches.forEach((m, matchIndex) =>
          out.push({
            routeKey: r.key,
            kind: 'HTTPRoute',
            ruleIndex,
            matchIndex,
            ruleName: rule.name,
            pathType: m.path.type,
            path: m.path.value,
            method: m.method,
            headers: m.headers,
            query: m.queryParams,
            filters: rule.filters,
            backends: rule.backendRefs.map((b) => ({ ref: b, weight: b.weight, filters: b.filters })),
            timeouts: rule.timeouts,
            retry: rule.retry,
          }),
        );
      });
    } else {
      const r = attached.route as GRPCRouteConfig;
      r.rules.forEach((rule, ruleIndex) => {
        const matches: readonly GRPCRouteMatchConfig[] = rule.matches.length ? rule.matches : [{ method: undefined, headers: [] }];
        matches.forEach((m, matchIndex) =>
          out.push({
            routeKey: r.key,
            kind: 'GRPCRoute',
            ruleIndex,
            matchIndex,
            ruleName: rule.name,
            ...grpcPath(m),
            method: undefined,
            headers: m.headers,
            query: [],
            filters: rule.filters,
            backends: rule.backendRefs.map((b) => ({ ref: b, weight: b.weight, filters: b.filters })),
            timeouts: undefined,
            retry: undefined,
          }),
        );
      });
    }
  }
  const typeRank = { Exact: 0, PathPrefix: 1, RegularExpression: 2 } as const;
  return out.sort(
    (a, b) =>
      typeRank[a.pathType] - typeRank[b.pathType] ||
      (a.pathType === 'PathPrefix' ? b.path.length - a.path.length : 0) ||
      (a.method ? 0 : 1) - (b.method ? 0 : 1) ||
      b.headers.length - a.headers.length ||
      b.query.length - a.query.length ||
      (a.routeKey < b.routeKey ? -1 : a.routeKey > b.routeKey ? 1 : 0) ||
      a.ruleIndex - b.ruleIndex ||
      a.matchIndex - b.matchIndex,
  );
}

function stringMatch(h: HeaderMatchConfig): XdsObject {
  return h.type === 'RegularExpression' ? { safe_regex: { regex: h.value } } : { exact: h.value };
}

function routeMatch(c: Candidate, kind: ProxyKind): XdsObject {
  const match: XdsObject = {};
  if (c.pathType === 'Exact') match.path = c.path;
  else if (c.pathType === 'RegularExpression') match.safe_regex = { regex: c.path };
  else {
    const trimmed = c.path.length > 1 && c.path.endsWith('/') && c.kind === 'HTTPRoute' ? c.path.slice(0, -1) : c.path;
    // Gateway API prefixes match whole path segments; gRPC clients only know `prefix`.
    if (kind === 'sidecar' && trimmed !== '/' && !trimmed.endsWith('/')) match.path_separated_prefix = trimmed;
    else match.prefix = trimmed;
  }
  const headers: XdsObject[] = c.headers.map((h) => ({ name: h.name.toLowerCase(), string_match: stringMatch(h) }));
  if (c.method) headers.unshift({ name: ':method', string_match: { exact: c.method } });
  if (headers.length) match.headers = headers;
  if (c.query.length) match.query_parameters = c.query.map((q) => ({ name: q.name, string_match: stringMatch(q) }));
  return match;
}

function headerEdits(mod: HeaderModifierConfig): { add: XdsObject[]; remove: string[] } {
  return {
    add: [
      ...mod.set.map((h) => ({ header: { key: h.name.toLowerCase(), value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
      ...mod.add.map((h) => ({ header: { key: h.name.toLowerCase(), value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
    ],
    remove: mod.remove.map((n) => n.toLowerCase()),
  };
}

const REDIRECT_CODES: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };
/** HTTP statuses a retry policy names → the gRPC status names gRPC clients retry on. */
const GRPC_RETRY_ON: Record<number, string> = { 500: 'internal', 503: 'unavailable', 504: 'deadline-exceeded', 429: 'resource-exhausted', 499: 'cancelled' };

export function backendCluster(index: MeshIndex, ref: BackendObjectRefConfig, parent: ServicePortModel): string | undefined {
  if (ref.kind !== 'Service') return undefined;
  const ports = index.services.get(`${ref.namespace}/${ref.name}`);
  if (!ports || ports.length === 0) return undefined;
  const port = ref.port ?? (ports.some((p) => p.port.port === parent.port.port) ? parent.port.port : ports[0]!.port.port);
  if (!ports.some((p) => p.port.port === port)) return undefined;
  return outboundClusterName(ref.namespace, ref.name, port);
}

function retryPolicy(retry: HTTPRouteRetryConfig, perTryMs: number | undefined): XdsObject {
  const on = ['connect-failure', 'refused-stream', 'reset'];
  if (retry.codes.length) on.push('retriable-status-codes');
  for (const code of retry.codes) if (GRPC_RETRY_ON[code]) on.push(GRPC_RETRY_ON[code]);
  return {
    retry_on: on.join(','),
    num_retries: { value: retry.attempts },
    ...(retry.codes.length ? { retriable_status_codes: [...retry.codes] } : {}),
    ...(perTryMs !== undefined ? { per_try_timeout: duration(perTryMs) } : {}),
    retry_back_off: { base_interval: duration(retry.backoffMs), max_interval: duration(retry.backoffMs * 10) },
  };
}

function buildRoute(index: MeshIndex, sp: ServicePortModel, c: Candidate, kind: ProxyKind, notes: CompileNote[]): XdsObject {
  const name = `${c.kind}/${c.routeKey}/rule${c.ruleIndex}${c.ruleName ? `(${c.ruleName})` : ''}/match${c.matchIndex}`;
  const route: XdsObject = { name, match: routeMatch(c, kind) };
  const reqAdd: XdsObject[] = [];
  const reqRemove: string[] = [];
  const respAdd: XdsObject[] = [];
  const respRemove: string[] = [];
  const mirrors: XdsObject[] = [];
  let redirect: XdsObject | undefined;
  let hostRewrite: string | undefined;
  let pathRewrite: XdsObject | undefined;
  for (const f of c.filters) {
    switch (f.type) {
      case 'RequestHeaderModifier': {
        const e = headerEdits(f.requestHeaderModifier);
        reqAdd.push(...e.add);
        reqRemove.push(...e.remove);
        break;
      }
      case 'ResponseHeaderModifier': {
        const e = headerEdits(f.responseHeaderModifier);
        respAdd.push(...e.add);
        respRemove.push(...e.remove);
        break;
      }
      case 'RequestRedirect': {
        const r = f.requestRedirect;
        redirect = {
          ...(r.scheme ? { scheme_redirect: r.scheme } : {}),
          ...(r.hostname ? { host_redirect: r.hostname } : {}),
          ...(r.port ? { port_redirect: r.port } : {}),
          ...(r.path?.type === 'ReplaceFullPath' ? { path_redirect: r.path.replaceFullPath ?? '/' } : {}),
          ...(r.path?.type === 'ReplacePrefixMatch' ? { prefix_rewrite: r.path.replacePrefixMatch ?? '/' } : {}),
          response_code: REDIRECT_CODES[r.statusCode] ?? 'FOUND',
        };
        break;
      }
      case 'URLRewrite': {
        const r = f.urlRewrite;
        if (r.hostname) hostRewrite = r.hostname;
        if (r.path?.type === 'ReplaceFullPath') pathRewrite = { regex_rewrite: { pattern: { regex: '^/.*$' }, substitution: r.path.replaceFullPath ?? '/' } };
        else if (r.path?.type === 'ReplacePrefixMatch') pathRewrite = { prefix_rewrite: r.path.replacePrefixMatch ?? '/' };
        break;
      }
      case 'RequestMirror': {
        const cluster = backendCluster(index, f.requestMirror.backendRef, sp);
        if (cluster === undefined) notes.push({ resource: c.routeKey, message: `mirror backend ${f.requestMirror.backendRef.namespace}/${f.requestMirror.backendRef.name} not found; mirror dropped` });
        else mirrors.push({ cluster, runtime_fraction: { default_value: { numerator: Math.round(f.requestMirror.ratio * 1_000_000), denominator: 'MILLION' } } });
        break;
      }
      case 'CORS':
      case 'ExtensionRef':
        notes.push({ resource: c.routeKey, message: `filter ${f.type} is not compiled to xDS yet; ignored` });
        break;
    }
  }
  if (reqAdd.length) route.request_headers_to_add = reqAdd;
  if (reqRemove.length) route.request_headers_to_remove = reqRemove;
  if (respAdd.length) route.response_headers_to_add = respAdd;
  if (respRemove.length) route.response_headers_to_remove = respRemove;
  route.metadata = { filter_metadata: { weft: jsonToStruct({ route: c.routeKey, kind: c.kind, rule: c.ruleIndex }) } };
  if (redirect) {
    route.redirect = redirect;
    return route;
  }
  const backends: XdsObject[] = [];
  for (const b of c.backends) {
    const cluster = backendCluster(index, b.ref, sp);
    if (cluster === undefined) {
      notes.push({ resource: c.routeKey, message: `backend ${b.ref.kind} ${b.ref.namespace}/${b.ref.name} not found` });
      continue;
    }
    backends.push({ name: cluster, weight: { value: b.weight } });
  }
  const total = backends.reduce((n, b) => n + ((b.weight as { value: number }).value ?? 0), 0);
  if (backends.length === 0 || total === 0) {
    // Gateway API: a rule with no usable backend answers 500.
    route.direct_response = { status: 500 };
    return route;
  }
  const action: XdsObject = backends.length === 1 ? { cluster: backends[0]!.name } : { weighted_clusters: { clusters: backends } };
  const requestMs = c.timeouts?.requestMs;
  if (requestMs !== undefined) {
    action.timeout = duration(requestMs);
    action.max_stream_duration = { max_stream_duration: duration(requestMs) };
  } else if (sp.port.appProtocol === 'grpc') {
    // Streaming RPCs must not be cut by Envoy's default 15 s route timeout.
    action.timeout = duration(0);
  }
  if (c.retry) action.retry_policy = retryPolicy(c.retry, c.timeouts?.backendRequestMs);
  else if (c.timeouts?.backendRequestMs !== undefined) action.retry_policy = { retry_on: 'connect-failure', num_retries: { value: 0 }, per_try_timeout: duration(c.timeouts.backendRequestMs) };
  if (mirrors.length) action.request_mirror_policies = mirrors;
  if (hostRewrite) action.host_rewrite_literal = hostRewrite;
  if (pathRewrite) Object.assign(action, pathRewrite);
  const lb = sp.traffic.loadBalancer;
  if (lb.type === 'RingHash') action.hash_policy = [lb.hashHeader ? { header: { header_name: lb.hashHeader.toLowerCase() } } : { connection_properties: { source_ip: true } }];
  route.route = action;
  return route;
}

/** Host names a service port answers to (with and without `:port`; bare names only on the service's first port). */
export function serviceDomains(index: MeshIndex, sp: ServicePortModel, includeShortName: boolean): string[] {
  const svc = sp.service;
  const ns = svc.metadata.namespace;
  const n = svc.metadata.name;
  const hosts = [`${n}.${ns}`, `${n}.${ns}.svc`, `${n}.${ns}.svc.${index.clusterDomain}`, ...svc.hosts];
  if (includeShortName) hosts.unshift(n);
  const first = svc.ports[0]?.port === sp.port.port;
  const out: string[] = [];
  for (const h of hosts) {
    if (first) out.push(h);
    out.push(`${h}:${sp.port.port}`);
  }
  return out;
}

/** The virtual host of a service port, for one proxy kind. */
export function virtualHost(index: MeshIndex, sp: ServicePortModel, kind: ProxyKind, includeShortName: boolean, notes: CompileNote[]): XdsObject {
  const svc = sp.service;
  const own = outboundClusterName(svc.metadata.namespace, svc.metadata.name, sp.port.port);
  const list = candidates(sp);
  const routes =
    list.length === 0
      ? [{ name: 'default', match: { prefix: '/' }, route: { cluster: own, ...(sp.port.appProtocol === 'grpc' ? { timeout: duration(0) } : {}), ...ringHash(sp) } }]
      : list.map((c) => buildRoute(index, sp, c, kind, notes));
  return { name: virtualHostName(svc.metadata.namespace, svc.metadata.name, sp.port.port), domains: serviceDomains(index, sp, includeShortName), routes };
}

function ringHash(sp: ServicePortModel): XdsObject {
  const lb = sp.traffic.loadBalancer;
  if (lb.type !== 'RingHash') return {};
  return { hash_policy: [lb.hashHeader ? { header: { header_name: lb.hashHeader.toLowerCase() } } : { connection_properties: { source_ip: true } }] };
}
