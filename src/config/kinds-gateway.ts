// The Gateway API kinds weft models (gateway.networking.k8s.io): Gateway, HTTPRoute, GRPCRoute
// and ReferenceGrant, following the upstream spec's fields, defaults and validation rules.
import { s, req, type ObjectSchema, type ValidationContext } from './schema.ts';
import {
  GATEWAY_GROUP,
  backendObjectRefSchema,
  backendRefFieldsWith,
  checkRegex,
  group,
  headerMatchSchema,
  headerModifierSchema,
  hostname,
  kind,
  name,
  namespaceName,
  parentRefSchema,
  port,
  sectionName,
  type KindDefinition,
  type ResourceBaseFields,
  NONE,
  EMPTY_RECORD,
} from './kinds-common.ts';
import type {
  BackendObjectRefConfig,
  GatewayConfig,
  GRPCRouteConfig,
  HTTPRouteConfig,
  HTTPRouteFilterConfig,
  HTTPRouteRuleConfig,
  ParentRefConfig,
  ReferenceGrantConfig,
} from './types.ts';

// ───────────────────────────── filters ─────────────────────────────

const FILTER_FIELD: Record<string, string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
};

const pathModifierSchema = s.object(
  {
    type: req(s.enum(['ReplaceFullPath', 'ReplacePrefixMatch'], { description: 'Replace the whole path, or the prefix that the PathPrefix match matched.' })),
    replaceFullPath: s.string({ description: 'The new path (type ReplaceFullPath).', maxLength: 1024 }),
    replacePrefixMatch: s.string({ description: 'The new prefix (type ReplacePrefixMatch).', maxLength: 1024 }),
  },
  {
    description: 'How to modify the path.',
    check: (v: { type: string; replaceFullPath?: string; replacePrefixMatch?: string }, ctx) => {
      const field = v.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
      const other = v.type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
      if (v[field] === undefined) ctx.issue('MISSING_FIELD', `missing required field \`${field}\` (required when type is ${v.type})`, { at: [field], expected: 'string' });
      if (v[other] !== undefined) ctx.issue('INVALID_VALUE', `field \`${other}\` must not be set when type is ${v.type}`, { at: [other], atKey: true, expected: `only \`${field}\``, found: other });
    },
  },
);

const requestRedirectSchema = s.object(
  {
    scheme: s.enum(['http', 'https'], { description: 'Scheme of the Location header. Default: the request scheme.' }),
    hostname: hostname('Hostname of the Location header. Default: the request host.'),
    path: pathModifierSchema,
    port: port('Port of the Location header.'),
    statusCode: s.enum([301, 302, 303, 307, 308], { description: 'Redirect status code. Default 302.', default: 302 }),
  },
  { description: 'Responds with a redirect.' },
);

const urlRewriteSchema = s.object(
  {
    hostname: hostname('Replaces the Host header.'),
    path: pathModifierSchema,
  },
  { description: 'Rewrites the request before forwarding.' },
);

const requestMirrorSchema = s.object(
  {
    backendRef: req(backendObjectRefSchema),
    percent: s.integer({ description: 'Percentage of requests mirrored (0-100). Default: all.', minimum: 0, maximum: 100 }),
    fraction: s.object(
      {
        numerator: req(s.integer({ minimum: 0 })),
        denominator: s.integer({ minimum: 1, default: 100 }),
      },
      {
        description: 'Fraction of requests mirrored (numerator/denominator).',
        check: (v: { numerator: number; denominator: number }, ctx) => {
          if (v.numerator > v.denominator) {
            ctx.issue('INVALID_VALUE', `numerator ${v.numerator} exceeds denominator ${v.denominator}`, { at: ['numerator'], expected: `an integer <= ${v.denominator}`, found: `integer ${v.numerator}` });
          }
        },
      },
    ),
  },
  {
    description: 'Sends a copy of each request to another backend; the response is ignored.',
    check: (v: { percent?: number; fraction?: unknown }, ctx) => {
      if (v.percent !== undefined && v.fraction !== undefined) {
        ctx.issue('INVALID_VALUE', 'only one of `percent` and `fraction` may be set', { at: ['fraction'], atKey: true, expected: 'percent or fraction', found: 'both' });
      }
    },
  },
);

const extensionRefSchema = s.object(
  {
    group: req(group('API group of the extension resource.')),
    kind: req(kind('Kind of the extension resource.')),
    name: req(name('Name of the extension resource.')),
  },
  { description: 'An implementation-specific filter (weft reports it as unsupported at compile time).' },
);

const corsSchema = s.object(
  {
    allowOrigins: s.array(s.string({ minLength: 1, maxLength: 253 }), { description: 'Allowed origins (`*` and `https://*.example.com` wildcards).', maxItems: 64 }),
    allowMethods: s.array(s.string({ minLength: 1 }), { description: 'Allowed methods, or `*`.', maxItems: 9 }),
    allowHeaders: s.array(s.string({ minLength: 1 }), { description: 'Allowed request headers, or `*`.', maxItems: 64 }),
    exposeHeaders: s.array(s.string({ minLength: 1 }), { description: 'Response headers exposed to the page.', maxItems: 64 }),
    allowCredentials: s.boolean({ description: 'Access-Control-Allow-Credentials. Default false.', default: false }),
    maxAge: s.integer({ description: 'Seconds a preflight may be cached. Default 5.', minimum: 1, default: 5 }),
  },
  { description: 'Cross-origin resource sharing.' },
);

function filterSchema(types: readonly string[], description: string): ObjectSchema {
  const fields: Record<string, ReturnType<typeof s.object>> = {
    requestHeaderModifier: headerModifierSchema,
    responseHeaderModifier: headerModifierSchema,
    requestRedirect: requestRedirectSchema,
    urlRewrite: urlRewriteSchema,
    requestMirror: requestMirrorSchema,
    extensionRef: extensionRefSchema,
    cors: corsSchema,
  };
  const allowed = new Set(types.map((t) => FILTER_FIELD[t] as string));
  return s.object(
    {
      type: req(s.enum(types, { description: 'Filter type; the field of the same name (lower camel case) holds its settings.' })),
      ...Object.fromEntries(Object.entries(fields).filter(([k]) => allowed.has(k))),
    },
    {
      description,
      check: (v: Record<string, unknown> & { type: string }, ctx) => {
        const field = FILTER_FIELD[v.type] as string;
        if (v[field] === undefined) ctx.issue('MISSING_FIELD', `missing required field \`${field}\` (required when type is ${v.type})`, { at: [field], expected: 'mapping' });
        for (const other of allowed) {
          if (other !== field && v[other] !== undefined) {
            ctx.issue('INVALID_VALUE', `field \`${other}\` must not be set when type is ${v.type}`, { at: [other], atKey: true, expected: `only \`${field}\``, found: other });
          }
        }
      },
    },
  );
}

const HTTP_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'CORS', 'ExtensionRef'];
const GRPC_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'ExtensionRef'];
const httpFilterSchema = filterSchema(HTTP_FILTER_TYPES, 'A filter applied to matching requests.');
const grpcFilterSchema = filterSchema(GRPC_FILTER_TYPES, 'A filter applied to matching gRPC requests.');

/** Each filter type but RequestMirror and ExtensionRef may appear once per list; redirect and rewrite exclude each other. */
function checkFilterList(filters: readonly { type: string }[] | undefined, ctx: ValidationContext, at: readonly (string | number)[]): void {
  if (filters === undefined) return;
  const seen = new Map<string, number>();
  filters.forEach((f, i) => {
    if (f.type === 'RequestMirror' || f.type === 'ExtensionRef') return;
    const first = seen.get(f.type);
    if (first !== undefined) {
      ctx.issue('INVALID_VALUE', `filter type ${f.type} appears twice (also at index ${first}); it may appear at most once`, { at: [...at, i, 'type'], expected: 'each filter type at most once', found: f.type });
    } else seen.set(f.type, i);
  });
  if (seen.has('RequestRedirect') && seen.has('URLRewrite')) {
    ctx.issue('INVALID_VALUE', 'RequestRedirect and URLRewrite filters cannot be used together', { at: [...at, seen.get('URLRewrite') as number, 'type'], expected: 'either RequestRedirect or URLRewrite', found: 'both' });
  }
}

type FilterInput = { type: string; urlRewrite?: { path?: { type: string } }; requestRedirect?: { path?: { type: string } } };

/** Per spec, ReplacePrefixMatch only makes sense when every match of the rule is a PathPrefix match. */
function checkPrefixRewrite(matches: readonly { path: { type: string } }[], filters: readonly FilterInput[] | undefined, ctx: ValidationContext): void {
  filters?.forEach((f, i) => {
    const field = f.type === 'URLRewrite' ? 'urlRewrite' : f.type === 'RequestRedirect' ? 'requestRedirect' : undefined;
    if (field === undefined || f[field]?.path?.type !== 'ReplacePrefixMatch') return;
    const j = matches.findIndex((m) => m.path.type !== 'PathPrefix');
    if (j >= 0) {
      ctx.issue('INVALID_VALUE', `ReplacePrefixMatch needs PathPrefix matches, but matches[${j}] is ${matches[j]?.path.type}`, {
        at: ['filters', i, field, 'path', 'type'],
        expected: 'PathPrefix path matches',
        found: matches[j]?.path.type as string,
      });
    }
  });
}

/** Header names (case-insensitive) and query parameter names (case-sensitive) appear once per match. */
function uniqueMatchNames(list: readonly { name: string }[] | undefined, field: string, caseSensitive: boolean, ctx: ValidationContext): void {
  if (list === undefined) return;
  const seen = new Map<string, number>();
  list.forEach((m, i) => {
    const key = caseSensitive ? m.name : m.name.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) {
      ctx.issue('INVALID_VALUE', `\`${m.name}\` is matched twice in \`${field}\` (also at index ${first}); each name may appear once per match`, { at: [field, i, 'name'], expected: 'unique names', found: m.name });
    } else seen.set(key, i);
  });
}

// ───────────────────────────── common route parts ─────────────────────────────

const parentRefsSchema = s.array(parentRefSchema, { description: 'Gateways or Services (GAMMA) this route attaches to.', maxItems: 32 });
const hostnamesSchema = s.array(hostname('A hostname.'), { description: 'Hostnames matched against the Host header / :authority. Empty: all.', maxItems: 16 });

function buildParentRef(v: any, namespace: string): ParentRefConfig {
  return {
    group: v.group,
    kind: v.kind,
    namespace: v.namespace ?? namespace,
    name: v.name,
    sectionName: v.sectionName,
    port: v.port,
  };
}

function buildBackendRef(v: any, namespace: string): BackendObjectRefConfig {
  return { group: v.group, kind: v.kind, name: v.name, namespace: v.namespace ?? namespace, port: v.port };
}

function buildWeightedBackendRef(b: any, namespace: string) {
  return {
    group: b.group,
    kind: b.kind,
    name: b.name,
    namespace: b.namespace ?? namespace,
    port: b.port,
    weight: b.weight,
    filters: b.filters === undefined ? NONE : b.filters.map((f: any) => buildFilter(f, namespace)),
  };
}

function buildHeaderModifier(v: any) {
  return { set: v.set ?? NONE, add: v.add ?? NONE, remove: v.remove ?? NONE };
}

function buildPathModifier(v: any) {
  return v === undefined ? undefined : { type: v.type, replaceFullPath: v.replaceFullPath, replacePrefixMatch: v.replacePrefixMatch };
}

function buildFilter(v: any, namespace: string): HTTPRouteFilterConfig {
  switch (v.type) {
    case 'RequestHeaderModifier':
      return { type: 'RequestHeaderModifier', requestHeaderModifier: buildHeaderModifier(v.requestHeaderModifier) };
    case 'ResponseHeaderModifier':
      return { type: 'ResponseHeaderModifier', responseHeaderModifier: buildHeaderModifier(v.responseHeaderModifier) };
    case 'RequestRedirect': {
      const r = v.requestRedirect;
      return { type: 'RequestRedirect', requestRedirect: { scheme: r.scheme, hostname: r.hostname, path: buildPathModifier(r.path), port: r.port, statusCode: r.statusCode } };
    }
    case 'URLRewrite':
      return { type: 'URLRewrite', urlRewrite: { hostname: v.urlRewrite.hostname, path: buildPathModifier(v.urlRewrite.path) } };
    case 'RequestMirror': {
      const m = v.requestMirror;
      const ratio = m.percent !== undefined ? m.percent / 100 : m.fraction !== undefined ? m.fraction.numerator / m.fraction.denominator : 1;
      return { type: 'RequestMirror', requestMirror: { backendRef: buildBackendRef(m.backendRef, namespace), ratio } };
    }
    case 'CORS': {
      const c = v.cors;
      return {
        type: 'CORS',
        cors: { allowOrigins: c.allowOrigins ?? NONE, allowMethods: c.allowMethods ?? NONE, allowHeaders: c.allowHeaders ?? NONE, exposeHeaders: c.exposeHeaders ?? NONE, allowCredentials: c.allowCredentials, maxAge: c.maxAge },
      };
    }
    default:
      return { type: 'ExtensionRef', extensionRef: { group: v.extensionRef.group, kind: v.extensionRef.kind, name: v.extensionRef.name } };
  }
}

const weight = s.integer({ description: 'Relative share of requests (0-1000000). Default 1.', minimum: 0, maximum: 1_000_000, default: 1 });

// ───────────────────────────── HTTPRoute ─────────────────────────────

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

const httpRouteMatchSchema = s.object(
  {
    path: s.object(
      {
        type: s.enum(['Exact', 'PathPrefix', 'RegularExpression'], { description: 'Default `PathPrefix`.', default: 'PathPrefix' }),
        value: s.string({ description: 'The path (or regular expression). Default `/`.', default: '/', maxLength: 1024 }),
      },
      {
        description: 'Path match. Default: PathPrefix `/`.',
        default: { type: 'PathPrefix', value: '/' },
        check: (v: { type: string; value: string }, ctx) => {
          if (v.type === 'RegularExpression') checkRegex(v.value, ['value'], ctx);
          else if (!v.value.startsWith('/')) {
            ctx.issue('INVALID_VALUE', `path ${JSON.stringify(v.value)} must start with \`/\``, { at: ['value'], expected: 'a path starting with /', found: `string ${JSON.stringify(v.value)}` });
          }
        },
      },
    ),
    headers: s.array(headerMatchSchema('header'), { description: 'Header matches; all must match.', maxItems: 16 }),
    queryParams: s.array(headerMatchSchema('query parameter'), { description: 'Query parameter matches; all must match.', maxItems: 16 }),
    method: s.enum(METHODS, { description: 'HTTP method. Default: any.' }),
  },
  {
    description: 'Conditions a request must meet (all of them) to match the rule.',
    check: (v: { headers?: { name: string }[]; queryParams?: { name: string }[] }, ctx) => {
      uniqueMatchNames(v.headers, 'headers', false, ctx);
      uniqueMatchNames(v.queryParams, 'queryParams', true, ctx);
    },
  },
);

const httpRouteRuleSchema = s.object(
  {
    name: sectionName('Rule name (for policy targeting and status).'),
    matches: s.array(httpRouteMatchSchema, { description: 'A request matching any of these matches the rule. Default: PathPrefix `/`.', maxItems: 64, default: [{}] }),
    filters: s.array(httpFilterSchema, { description: 'Filters applied to matching requests.', maxItems: 16 }),
    backendRefs: s.array(backendRefFieldsWith({ weight, filters: s.array(httpFilterSchema, { description: 'Filters applied when this backend is chosen.', maxItems: 16 }) }), {
      description: 'Weighted backends. Empty: matching requests get HTTP 500.',
      maxItems: 16,
    }),
    timeouts: s.object(
      {
        request: s.duration({ description: 'Whole-request deadline (`0s`: none).' }),
        backendRequest: s.duration({ description: 'Deadline of each attempt to a backend; at most `request`.' }),
      },
      {
        description: 'Timeouts.',
        check: (v: { request?: number; backendRequest?: number }, ctx) => {
          if (v.request !== undefined && v.request > 0 && v.backendRequest !== undefined && v.backendRequest > v.request) {
            ctx.issue('TIMEOUT_ORDER', `backendRequest timeout (${v.backendRequest} ms) exceeds the request timeout (${v.request} ms)`, {
              at: ['backendRequest'],
              expected: `a duration <= ${v.request} ms`,
              found: `${v.backendRequest} ms`,
            });
          }
        },
      },
    ),
    retry: s.object(
      {
        codes: s.array(s.integer({ minimum: 400, maximum: 599 }), { description: 'HTTP status codes retried.', maxItems: 32 }),
        attempts: s.integer({ description: 'Retries after the first attempt. Default 1.', minimum: 0, maximum: 10, default: 1 }),
        backoff: s.duration({ description: 'Base backoff between attempts. Default 25ms.', default: '25ms' }),
      },
      { description: 'Retries (Gateway API experimental channel). Retries spend the retry budget (the mesh default unless a BackendTrafficPolicy sets one).' },
    ),
  },
  {
    description: 'A routing rule.',
    check: (v: { matches: { path: { type: string } }[]; filters?: FilterInput[]; backendRefs?: { filters?: FilterInput[] }[] }, ctx) => {
      checkFilterList(v.filters, ctx, ['filters']);
      checkPrefixRewrite(v.matches, v.filters, ctx);
      v.backendRefs?.forEach((b, i) => checkFilterList(b.filters, ctx, ['backendRefs', i, 'filters']));
    },
  },
);

function uniqueRuleNames(rules: readonly { name?: string }[], ctx: ValidationContext): void {
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (r.name === undefined) return;
    if (seen.has(r.name)) ctx.issue('INVALID_VALUE', `rule name \`${r.name}\` is used twice; rule names must be unique`, { at: ['rules', i, 'name'], expected: 'unique rule names', found: r.name });
    seen.add(r.name);
  });
}

export const httpRouteKind = {
  kind: 'HTTPRoute',
  apiVersions: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
  namespaced: true,
  description: 'HTTP routing: matches on path, headers, query and method; filters; weighted backends; timeouts; retries.',
  specRequired: true,
  collection: 'httpRoutes',
  schemaFile: 'httproute.json',
  spec: s.object(
    {
      parentRefs: parentRefsSchema,
      hostnames: hostnamesSchema,
      rules: s.array(httpRouteRuleSchema, { description: 'Rules, matched by the most specific match. Default: one rule matching everything.', maxItems: 16, default: [{}] }),
    },
    { description: 'HTTPRoute spec.', check: (v: { rules: { name?: string }[] }, ctx) => uniqueRuleNames(v.rules, ctx) },
  ),
  build(spec: any, base: ResourceBaseFields): HTTPRouteConfig {
    const ns = base.metadata.namespace;
    return {
      kind: 'HTTPRoute',
      ...base,
      parentRefs: (spec.parentRefs ?? NONE).map((p: any) => buildParentRef(p, ns)),
      hostnames: spec.hostnames ?? NONE,
      rules: spec.rules.map(
        (r: any): HTTPRouteRuleConfig => ({
          name: r.name,
          matches: r.matches.map((m: any) => ({
            path: m.path,
            headers: m.headers ?? NONE,
            queryParams: m.queryParams ?? NONE,
            method: m.method,
          })),
          filters: (r.filters ?? NONE).map((f: any) => buildFilter(f, ns)),
          backendRefs: (r.backendRefs ?? NONE).map((b: any) => buildWeightedBackendRef(b, ns)),
          timeouts: {
            requestMs: r.timeouts?.request === 0 ? undefined : r.timeouts?.request,
            backendRequestMs: r.timeouts?.backendRequest === 0 ? undefined : r.timeouts?.backendRequest,
          },
          retry: r.retry === undefined ? undefined : { codes: r.retry.codes ?? NONE, attempts: r.retry.attempts, backoffMs: r.retry.backoff },
        }),
      ),
    };
  },
} satisfies KindDefinition;

// ───────────────────────────── GRPCRoute ─────────────────────────────

const grpcMatchSchema = s.object(
  {
    method: s.object(
      {
        type: s.enum(['Exact', 'RegularExpression'], { description: 'Default `Exact`.', default: 'Exact' }),
        service: s.string({ description: 'Fully qualified service name, e.g. `foo.bar.Baz`. Default: any.', minLength: 1, maxLength: 1024 }),
        method: s.string({ description: 'Method name. Default: any.', minLength: 1, maxLength: 1024 }),
      },
      {
        description: 'gRPC method match; at least one of service and method.',
        check: (v: { type: string; service?: string; method?: string }, ctx) => {
          if (v.service === undefined && v.method === undefined) {
            ctx.issue('MISSING_FIELD', 'missing required field `service` or `method` (at least one must be set)', { at: ['service'], expected: 'string' });
          }
          if (v.type === 'RegularExpression') {
            if (v.service !== undefined) checkRegex(v.service, ['service'], ctx);
            if (v.method !== undefined) checkRegex(v.method, ['method'], ctx);
          } else {
            if (v.service !== undefined && !/^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/.test(v.service)) {
              ctx.issue('INVALID_VALUE', `${JSON.stringify(v.service)} is not a valid gRPC service name`, { at: ['service'], expected: 'a name like foo.bar.Baz', found: `string ${JSON.stringify(v.service)}` });
            }
            if (v.method !== undefined && !/^[A-Za-z_][A-Za-z_0-9]*$/.test(v.method)) {
              ctx.issue('INVALID_VALUE', `${JSON.stringify(v.method)} is not a valid gRPC method name`, { at: ['method'], expected: 'a name like Echo', found: `string ${JSON.stringify(v.method)}` });
            }
          }
        },
      },
    ),
    headers: s.array(headerMatchSchema('header'), { description: 'Header (metadata) matches; all must match.', maxItems: 16 }),
  },
  { description: 'Conditions a gRPC request must meet.', check: (v: { headers?: { name: string }[] }, ctx) => uniqueMatchNames(v.headers, 'headers', false, ctx) },
);

const grpcRouteRuleSchema = s.object(
  {
    name: sectionName('Rule name.'),
    matches: s.array(grpcMatchSchema, { description: 'A request matching any of these matches the rule. Empty: every request.', maxItems: 64 }),
    filters: s.array(grpcFilterSchema, { description: 'Filters applied to matching requests.', maxItems: 16 }),
    backendRefs: s.array(backendRefFieldsWith({ weight, filters: s.array(grpcFilterSchema, { description: 'Filters applied when this backend is chosen.', maxItems: 16 }) }), {
      description: 'Weighted backends.',
      maxItems: 16,
    }),
  },
  {
    description: 'A gRPC routing rule.',
    check: (v: { filters?: { type: string }[]; backendRefs?: { filters?: { type: string }[] }[] }, ctx) => {
      checkFilterList(v.filters, ctx, ['filters']);
      v.backendRefs?.forEach((b, i) => checkFilterList(b.filters, ctx, ['backendRefs', i, 'filters']));
    },
  },
);

export const grpcRouteKind = {
  kind: 'GRPCRoute',
  apiVersions: ['gateway.networking.k8s.io/v1'],
  namespaced: true,
  description: 'gRPC routing: matches on service/method and metadata; filters; weighted backends.',
  specRequired: true,
  collection: 'grpcRoutes',
  schemaFile: 'grpcroute.json',
  spec: s.object(
    {
      parentRefs: parentRefsSchema,
      hostnames: hostnamesSchema,
      rules: s.array(grpcRouteRuleSchema, { description: 'Rules.', maxItems: 16, default: [{}] }),
    },
    { description: 'GRPCRoute spec.', check: (v: { rules: { name?: string }[] }, ctx) => uniqueRuleNames(v.rules, ctx) },
  ),
  build(spec: any, base: ResourceBaseFields): GRPCRouteConfig {
    const ns = base.metadata.namespace;
    return {
      kind: 'GRPCRoute',
      ...base,
      parentRefs: (spec.parentRefs ?? NONE).map((p: any) => buildParentRef(p, ns)),
      hostnames: spec.hostnames ?? NONE,
      rules: spec.rules.map((r: any) => ({
        name: r.name,
        matches: (r.matches ?? NONE).map((m: any) => ({
          method: m.method === undefined ? undefined : { type: m.method.type, service: m.method.service, method: m.method.method },
          headers: m.headers ?? NONE,
        })),
        filters: (r.filters ?? NONE).map((f: any) => buildFilter(f, ns)),
        backendRefs: (r.backendRefs ?? NONE).map((b: any) => buildWeightedBackendRef(b, ns)),
      })),
    } as GRPCRouteConfig;
  },
} satisfies KindDefinition;

// ───────────────────────────── Gateway ─────────────────────────────

const listenerSchema = s.object(
  {
    name: req(sectionName('Listener name, unique in the Gateway.')),
    hostname: hostname('Hostname the listener serves. Default: all.'),
    port: req(port('Port.')),
    protocol: req(s.enum(['HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP'], { description: 'Protocol.' })),
    tls: s.object(
      {
        mode: s.enum(['Terminate', 'Passthrough'], { description: 'Default `Terminate`.', default: 'Terminate' }),
        certificateRefs: s.array(
          s.object({
            group: group('Default `""`.', ''),
            kind: kind('Default `Secret`.', 'Secret'),
            name: req(name('Name of the certificate Secret.')),
            namespace: namespaceName("Default: the Gateway's namespace."),
          }),
          { description: 'Certificates (Secrets) served by the listener.', maxItems: 64 },
        ),
        options: s.map(s.string({ maxLength: 4096 }), { description: 'Implementation-specific TLS options.', maxProperties: 16 }),
      },
      { description: 'TLS settings (HTTPS and TLS listeners).' },
    ),
    allowedRoutes: s.object(
      {
        namespaces: s.object(
          {
            from: s.enum(['All', 'Same', 'Selector', 'None'], { description: 'Default `Same`.', default: 'Same' }),
            selector: s.object({
              matchLabels: s.map(s.string()),
              matchExpressions: s.array(
                s.object({
                  key: req(s.string({ minLength: 1 })),
                  operator: req(s.enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])),
                  values: s.array(s.string()),
                }),
              ),
            }),
          },
          { description: 'Namespaces whose routes may attach.', default: {} },
        ),
        kinds: s.array(s.object({ group: group('Default `gateway.networking.k8s.io`.', GATEWAY_GROUP), kind: req(kind('Route kind.')) }), { description: 'Route kinds allowed.', maxItems: 8 }),
      },
      { description: 'Which routes may attach. Default: routes from the same namespace.', default: {} },
    ),
  },
  {
    description: 'A listener.',
    check: (v: { protocol: string; tls?: { mode: string; certificateRefs?: unknown[] } }, ctx) => {
      if ((v.protocol === 'HTTPS' || v.protocol === 'TLS') && v.tls === undefined) {
        ctx.issue('MISSING_FIELD', `missing required field \`tls\` (required when protocol is ${v.protocol})`, { at: ['tls'], expected: 'mapping' });
      }
      if (v.protocol === 'HTTPS' && v.tls !== undefined && v.tls.mode === 'Terminate' && (v.tls.certificateRefs?.length ?? 0) === 0) {
        ctx.issue('MISSING_FIELD', 'missing required field `certificateRefs` (an HTTPS listener that terminates TLS needs a certificate)', { at: ['tls', 'certificateRefs'], expected: 'sequence' });
      }
      if ((v.protocol === 'HTTP' || v.protocol === 'TCP' || v.protocol === 'UDP') && v.tls !== undefined) {
        ctx.issue('INVALID_VALUE', `field \`tls\` must not be set when protocol is ${v.protocol}`, { at: ['tls'], atKey: true, expected: 'no tls', found: 'tls' });
      }
    },
  },
);

export const gatewayKind = {
  kind: 'Gateway',
  apiVersions: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
  namespaced: true,
  description: 'A north-south entry point: listeners (port, protocol, hostname, TLS) that routes attach to.',
  specRequired: true,
  collection: 'gateways',
  schemaFile: 'gateway.json',
  spec: s.object(
    {
      gatewayClassName: req(s.string({ description: 'GatewayClass (weft accepts any).', minLength: 1, maxLength: 253 })),
      listeners: req(s.array(listenerSchema, { description: 'Listeners.', minItems: 1, maxItems: 64 })),
      addresses: s.array(
        s.object({ type: s.string({ description: 'Default `IPAddress`.', default: 'IPAddress', minLength: 1 }), value: req(s.string({ minLength: 1, maxLength: 253 })) }),
        { description: 'Requested addresses.', maxItems: 16 },
      ),
      infrastructure: s.any({ description: 'Infrastructure labels/annotations (accepted, not used).' }),
    },
    {
      description: 'Gateway spec.',
      check: (v: { listeners: { name: string }[] }, ctx) => {
        const seen = new Set<string>();
        v.listeners.forEach((l, i) => {
          if (seen.has(l.name)) ctx.issue('INVALID_VALUE', `listener name \`${l.name}\` is used twice; listener names must be unique`, { at: ['listeners', i, 'name'], expected: 'unique listener names', found: l.name });
          seen.add(l.name);
        });
      },
    },
  ),
  build(spec: any, base: ResourceBaseFields): GatewayConfig {
    const ns = base.metadata.namespace;
    return {
      kind: 'Gateway',
      ...base,
      gatewayClassName: spec.gatewayClassName,
      listeners: spec.listeners.map((l: any) => ({
        name: l.name,
        hostname: l.hostname,
        port: l.port,
        protocol: l.protocol,
        tls:
          l.tls === undefined
            ? undefined
            : {
                mode: l.tls.mode,
                certificateRefs: (l.tls.certificateRefs ?? NONE).map((c: any) => ({ group: c.group, kind: c.kind, name: c.name, namespace: c.namespace ?? ns })),
                options: l.tls.options ?? EMPTY_RECORD,
              },
        allowedRoutes: {
          namespacesFrom: l.allowedRoutes.namespaces.from,
          namespaceSelector:
            l.allowedRoutes.namespaces.selector === undefined
              ? undefined
              : {
                  matchLabels: l.allowedRoutes.namespaces.selector.matchLabels ?? EMPTY_RECORD,
                  matchExpressions: (l.allowedRoutes.namespaces.selector.matchExpressions ?? NONE).map((e: any) => ({ key: e.key, operator: e.operator, values: e.values ?? NONE })),
                },
          kinds: l.allowedRoutes.kinds ?? NONE,
        },
      })),
      addresses: spec.addresses ?? NONE,
    };
  },
} satisfies KindDefinition;

// ───────────────────────────── ReferenceGrant ─────────────────────────────

export const referenceGrantKind = {
  kind: 'ReferenceGrant',
  apiVersions: ['gateway.networking.k8s.io/v1beta1', 'gateway.networking.k8s.io/v1'],
  namespaced: true,
  description: "Allows resources in other namespaces to reference resources in this grant's namespace.",
  specRequired: true,
  collection: 'referenceGrants',
  schemaFile: 'referencegrant.json',
  spec: s.object(
    {
      from: req(
        s.array(
          s.object({
            group: req(group('Group of the referring kind, e.g. `gateway.networking.k8s.io`.')),
            kind: req(kind('Referring kind, e.g. `HTTPRoute`.')),
            namespace: req(namespaceName('Namespace of the referring resources.')),
          }),
          { description: 'Who may refer.', minItems: 1, maxItems: 16 },
        ),
      ),
      to: req(
        s.array(
          s.object({
            group: req(group('Group of the referent, `""` for Service.')),
            kind: req(kind('Kind of the referent, e.g. `Service`.')),
            name: name('Name of the referent. Default: all of that kind.'),
          }),
          { description: 'What may be referred to (in this namespace).', minItems: 1, maxItems: 16 },
        ),
      ),
    },
    { description: 'ReferenceGrant spec.' },
  ),
  build(spec: any, base: ResourceBaseFields): ReferenceGrantConfig {
    return {
      kind: 'ReferenceGrant',
      ...base,
      from: spec.from.map((f: any) => ({ group: f.group, kind: f.kind, namespace: f.namespace })),
      to: spec.to.map((t: any) => ({ group: t.group, kind: t.kind, name: t.name })),
    };
  },
} satisfies KindDefinition;
