// weft's own kinds (weft.dev/v1alpha1): Mesh, Service, Workload, MTLSPolicy, AuthorizationPolicy,
// BackendTrafficPolicy, RateLimitPolicy; and the Kubernetes core v1 Service, read into the same ServiceConfig.
import { s, req, type IntegerSchema, type NumberSchema, type ValidationContext } from './schema.ts';
import {
  DNS_SUBDOMAIN,
  WEFT_API_VERSION,
  headerName,
  hostname,
  name,
  namespaceName,
  port,
  targetRefsSchema,
  type KindDefinition,
  type ResourceBaseFields,
  NONE,
  EMPTY_RECORD,
} from './kinds-common.ts';
import type {
  AppProtocol,
  AuthorizationPolicyConfig,
  BackendTrafficPolicyConfig,
  MeshSettingsConfig,
  MTLSPolicyConfig,
  PolicyTargetRefConfig,
  RateLimitPolicyConfig,
  RateLimitRuleConfig,
  ServiceConfig,
  WorkloadConfig,
} from './types.ts';

const percent = (description: string, dflt: number): NumberSchema => s.number({ description, minimum: 0, maximum: 100, default: dflt });
const fraction = (description: string, dflt: number): NumberSchema =>
  s.number({
    description,
    default: dflt,
    check: (v: number, ctx) => {
      if (!(v > 0 && v < 1)) ctx.issue('INVALID_VALUE', `${v} is out of range; expected a number strictly between 0 and 1`, { expected: 'a number strictly between 0 and 1', found: `number ${v}` });
    },
  });

const retryBudgetSchema = (dflt: boolean) =>
  s.object(
    {
      percent: percent('Retries may add at most this percentage of the request rate. Default 20.', 20),
      minRetriesPerSecond: s.integer({ description: 'Retries always allowed per second. Default 10.', minimum: 0, maximum: 1_000_000, default: 10 }),
      ttl: s.duration({ description: 'Window over which requests and retries are counted. Default 10s.', default: '10s' }),
    },
    { description: 'Retry budget: retries are allowed while they stay under `percent` of requests, plus `minRetriesPerSecond`.', ...(dflt ? { default: {} } : {}) },
  );

function buildRetryBudget(v: any) {
  return { percent: v.percent, minRetriesPerSecond: v.minRetriesPerSecond, ttlMs: v.ttl };
}

function buildTargetRefs(v: any): PolicyTargetRefConfig[] {
  return (v ?? NONE).map((t: any) => ({ group: t.group, kind: t.kind, name: t.name, sectionName: t.sectionName, port: t.port }));
}

// ───────────────────────────── Mesh ─────────────────────────────

export const meshKind = {
  kind: 'Mesh',
  apiVersions: [WEFT_API_VERSION],
  namespaced: false,
  description: 'Mesh-wide settings (at most one per mesh): trust domain, default mTLS mode, certificate lifetimes and rotation, default retry budget, telemetry.',
  specRequired: false,
  collection: 'mesh',
  schemaFile: 'mesh.json',
  spec: s.object(
    {
      trustDomain: s.string({ description: 'SPIFFE trust domain. Default `cluster.local`.', default: 'cluster.local', pattern: DNS_SUBDOMAIN, patternName: 'trust domain (lower-case DNS name)', maxLength: 253 }),
      mtls: s.object({ mode: s.enum(['STRICT', 'PERMISSIVE'], { description: 'Default `STRICT`.', default: 'STRICT' }) }, { description: 'Default mTLS mode.', default: {} }),
      certificates: s.object(
        {
          leafTtl: s.duration({ description: 'Workload certificate lifetime. Default 24h.', default: '24h' }),
          issuerTtl: s.duration({ description: 'Issuing (intermediate) CA lifetime. Default 720h (30 days).', default: '720h' }),
          rootTtl: s.duration({ description: 'Root CA lifetime. Default 8760h (1 year).', default: '8760h' }),
          rotation: s.object(
            {
              leafRenewFraction: fraction('Renew a leaf when this fraction of its lifetime has elapsed. Default 0.5.', 0.5),
              issuerRenewFraction: fraction('Renew the issuer at this fraction. Default 0.75.', 0.75),
              rootRenewFraction: fraction('Start root rotation when this fraction of the root lifetime has elapsed (0.667: a third of its life left). Default 0.667.', 0.667),
            },
            { description: 'When certificates are renewed.', default: {} },
          ),
        },
        {
          description: 'Certificate lifetimes and rotation.',
          default: {},
          check: (v: { leafTtl: number; issuerTtl: number; rootTtl: number }, ctx) => {
            if (v.leafTtl < 60_000) ctx.issue('INVALID_VALUE', `leafTtl ${v.leafTtl} ms is too short; expected at least 1m`, { at: ['leafTtl'], expected: 'at least 1m', found: `${v.leafTtl} ms` });
            else if (v.leafTtl >= v.issuerTtl) ctx.issue('INVALID_VALUE', 'leafTtl must be shorter than issuerTtl', { at: ['leafTtl'], expected: `less than ${v.issuerTtl} ms`, found: `${v.leafTtl} ms` });
            if (v.issuerTtl > v.rootTtl) ctx.issue('INVALID_VALUE', 'issuerTtl must not be longer than rootTtl', { at: ['issuerTtl'], expected: `at most ${v.rootTtl} ms`, found: `${v.issuerTtl} ms` });
          },
        },
      ),
      retryBudget: retryBudgetSchema(true),
      telemetry: s.object(
        {
          tracing: s.object(
            {
              samplingPercent: percent('Percentage of requests traced. Default 1.', 1),
              otlpEndpoint: s.string({ description: 'OTLP/HTTP endpoint for spans. Default: not exported.', pattern: /^https?:\/\/[^\s/]+(\/\S*)?$/, patternName: 'http(s) URL' }),
            },
            { default: {} },
          ),
          accessLog: s.object({ format: s.enum(['json', 'text', 'off'], { description: 'Default `json`.', default: 'json' }) }, { default: {} }),
        },
        { description: 'Telemetry settings.', default: {} },
      ),
    },
    { description: 'Mesh spec.', default: {} },
  ),
  build(spec: any, base: ResourceBaseFields): MeshSettingsConfig {
    return {
      name: base.metadata.name,
      trustDomain: spec.trustDomain,
      mtlsMode: spec.mtls.mode,
      certificates: {
        leafTtlMs: spec.certificates.leafTtl,
        issuerTtlMs: spec.certificates.issuerTtl,
        rootTtlMs: spec.certificates.rootTtl,
        rotation: { ...spec.certificates.rotation },
      },
      retryBudget: buildRetryBudget(spec.retryBudget),
      telemetry: {
        traceSamplingPercent: spec.telemetry.tracing.samplingPercent,
        otlpEndpoint: spec.telemetry.tracing.otlpEndpoint,
        accessLogFormat: spec.telemetry.accessLog.format,
      },
      source: base.source,
    };
  },
} satisfies KindDefinition;

// ───────────────────────────── Service (weft and Kubernetes) ─────────────────────────────

function uniquePorts(ports: readonly { port: number; name?: string }[] | undefined, ctx: ValidationContext): void {
  if (ports === undefined) return;
  const numbers = new Set<number>();
  const names = new Set<string>();
  ports.forEach((p, i) => {
    if (numbers.has(p.port)) ctx.issue('INVALID_VALUE', `port ${p.port} is declared twice`, { at: ['ports', i, 'port'], expected: 'unique port numbers', found: `integer ${p.port}` });
    numbers.add(p.port);
    if (p.name !== undefined) {
      if (names.has(p.name)) ctx.issue('INVALID_VALUE', `port name \`${p.name}\` is used twice`, { at: ['ports', i, 'name'], expected: 'unique port names', found: p.name });
      names.add(p.name);
    }
  });
}

const portName = s.string({ description: 'Port name (DNS-1123 label).', pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, patternName: 'port name (lower-case letters, digits and `-`)', maxLength: 63 });

export const serviceKind = {
  kind: 'Service',
  apiVersions: [WEFT_API_VERSION],
  namespaced: true,
  description: 'A service for hosts without Kubernetes: its ports and application protocols; workloads join it by name or selector.',
  specRequired: true,
  collection: 'services',
  schemaFile: 'service.json',
  spec: s.object(
    {
      ports: req(
        s.array(
          s.object({
            name: portName,
            port: req(port('Service port.')),
            targetPort: s.integer({ description: "Workload port. Default: `port`.", minimum: 1, maximum: 65535 }),
            appProtocol: s.enum(['http', 'http2', 'grpc', 'tcp'], { description: 'Application protocol. `tcp` for server-speaks-first protocols. Default `http`.', default: 'http' }),
          }),
          { description: 'Ports.', minItems: 1, maxItems: 64 },
        ),
      ),
      selector: s.map(s.string(), { description: 'Workloads with all these labels belong to the service (besides those naming it in `spec.service`).' }),
      hosts: s.array(hostname('Host name.'), { description: 'Extra host names that resolve to this service.', maxItems: 16 }),
    },
    { description: 'Service spec.', check: (v: { ports: { port: number; name?: string }[] }, ctx) => uniquePorts(v.ports, ctx) },
  ),
  build(spec: any, base: ResourceBaseFields): ServiceConfig {
    return {
      kind: 'Service',
      ...base,
      origin: 'weft',
      ports: spec.ports.map((p: any) => ({ name: p.name ?? '', port: p.port, targetPort: p.targetPort ?? p.port, appProtocol: p.appProtocol })),
      selector: spec.selector ?? EMPTY_RECORD,
      hosts: spec.hosts ?? NONE,
      clusterIP: undefined,
    };
  },
} satisfies KindDefinition;

/** Kubernetes appProtocol values → weft's. Unknown values read as `http` (with a warning). */
const K8S_APP_PROTOCOL: Record<string, AppProtocol> = {
  http: 'http',
  'kubernetes.io/h2c': 'http2',
  h2c: 'http2',
  http2: 'http2',
  grpc: 'grpc',
  tcp: 'tcp',
  'kubernetes.io/ws': 'http',
  'kubernetes.io/wss': 'tcp',
  https: 'tcp',
};

export const kubernetesServiceKind = {
  kind: 'Service',
  apiVersions: ['v1'],
  namespaced: true,
  description: 'A Kubernetes core v1 Service (as in Kubernetes manifests); read into the same ServiceConfig as weft Services.',
  specRequired: false,
  collection: 'services',
  schemaFile: 'kubernetes-service.json',
  spec: s.object(
    {
      ports: s.array(
        s.object(
          {
            name: portName,
            protocol: s.enum(['TCP', 'UDP', 'SCTP'], { description: 'Default `TCP`.', default: 'TCP' }),
            port: req(port('Service port.')),
            targetPort: s.intOrString({ description: 'Pod port number or name. Default: `port`.', minimum: 1, maximum: 65535 }),
            appProtocol: s.string({ description: 'Application protocol (`http`, `kubernetes.io/h2c`, `grpc`, `tcp`…). Default: http.' }),
            nodePort: s.integer({ minimum: 1, maximum: 65535 }),
          },
          { description: 'A service port.' },
        ),
        { description: 'Ports.' },
      ),
      selector: s.map(s.string(), { description: 'Pod label selector.' }),
      clusterIP: s.string({ description: 'Cluster IP, or `None` for a headless service.' }),
      type: s.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'], { description: 'Default `ClusterIP`.', default: 'ClusterIP' }),
    },
    { description: 'Kubernetes Service spec (other fields are accepted and ignored).', open: true, default: {}, check: (v: { ports?: { port: number; name?: string }[] }, ctx) => uniquePorts(v.ports, ctx) },
  ),
  build(spec: any, base: ResourceBaseFields, ctx: ValidationContext): ServiceConfig {
    return {
      kind: 'Service',
      ...base,
      origin: 'kubernetes',
      ports: (spec.ports ?? NONE).map((p: any, i: number) => {
        let appProtocol: AppProtocol = p.protocol === 'TCP' && p.appProtocol === undefined ? 'http' : 'tcp';
        if (p.appProtocol !== undefined) {
          const mapped = K8S_APP_PROTOCOL[p.appProtocol];
          if (mapped === undefined) {
            ctx.issue('INVALID_VALUE', `appProtocol ${JSON.stringify(p.appProtocol)} is not known to weft; treated as http`, {
              at: ['ports', i, 'appProtocol'],
              severity: 'warning',
              expected: 'http, kubernetes.io/h2c, grpc, tcp, kubernetes.io/ws',
              found: `string ${JSON.stringify(p.appProtocol)}`,
            });
            appProtocol = 'http';
          } else appProtocol = mapped;
        }
        return { name: p.name ?? '', port: p.port, targetPort: p.targetPort ?? p.port, appProtocol };
      }),
      selector: spec.selector ?? EMPTY_RECORD,
      hosts: [],
      clusterIP: spec.clusterIP,
    };
  },
} satisfies KindDefinition;

// ───────────────────────────── Workload ─────────────────────────────

export const workloadKind = {
  kind: 'Workload',
  apiVersions: [WEFT_API_VERSION],
  namespaced: true,
  description: 'One instance of a service on a host without Kubernetes: its address, port, service account and labels (from metadata.labels).',
  specRequired: true,
  collection: 'workloads',
  schemaFile: 'workload.json',
  spec: s.object(
    {
      service: req(name('Name of the Service (same namespace) this workload serves.')),
      serviceAccount: s.string({ description: 'Service account (the identity). Default `default`.', default: 'default', pattern: DNS_SUBDOMAIN, patternName: 'service account name (DNS-1123)', maxLength: 253 }),
      address: req(s.string({ description: 'IP address or host name of the workload.', pattern: /^[A-Za-z0-9.:-]+$/, patternName: 'IP address or host name', minLength: 1, maxLength: 253 })),
      port: req(port('The application port.')),
      ports: s.array(s.object({ name: req(portName), port: req(port('Port.')) }), { description: 'Further named application ports.', maxItems: 64 }),
      proxyPort: port("Port of the workload's inbound proxy listener. Default: learnt when the proxy registers."),
    },
    { description: 'Workload spec.' },
  ),
  build(spec: any, base: ResourceBaseFields): WorkloadConfig {
    return {
      kind: 'Workload',
      ...base,
      service: spec.service,
      serviceAccount: spec.serviceAccount,
      labels: base.metadata.labels,
      address: spec.address,
      port: spec.port,
      ports: spec.ports ?? NONE,
      proxyPort: spec.proxyPort,
    };
  },
} satisfies KindDefinition;

// ───────────────────────────── MTLSPolicy ─────────────────────────────

export const mtlsPolicyKind = {
  kind: 'MTLSPolicy',
  apiVersions: [WEFT_API_VERSION],
  namespaced: true,
  description: 'Sets the mTLS mode (STRICT or PERMISSIVE) of a namespace, a service or one service port.',
  specRequired: true,
  collection: 'mtlsPolicies',
  schemaFile: 'mtlspolicy.json',
  spec: s.object(
    {
      targetRefs: targetRefsSchema,
      mode: req(s.enum(['STRICT', 'PERMISSIVE'], { description: 'STRICT: mesh mTLS only. PERMISSIVE: mTLS and plaintext.' })),
    },
    { description: 'MTLSPolicy spec.' },
  ),
  build(spec: any, base: ResourceBaseFields): MTLSPolicyConfig {
    return { kind: 'MTLSPolicy', ...base, targetRefs: buildTargetRefs(spec.targetRefs), mode: spec.mode };
  },
} satisfies KindDefinition;

// ───────────────────────────── AuthorizationPolicy ─────────────────────────────

const authzRuleSchema = s.object(
  {
    from: s.object(
      {
        identities: s.array(
          s.string({ pattern: /^(spiffe:\/\/[^\s]+|\*)$/, patternName: 'SPIFFE ID (spiffe://…, a trailing `*` matches a prefix)' }),
          { description: 'Source SPIFFE IDs; a trailing `*` matches a prefix.', maxItems: 64 },
        ),
        namespaces: s.array(namespaceName('Namespace.'), { description: 'Source namespaces.', maxItems: 64 }),
      },
      { description: 'Who sends the request. Absent: anyone.' },
    ),
    to: s.object(
      {
        methods: s.array(s.string({ pattern: /^[A-Z]+$/, patternName: 'upper-case HTTP method' }), { description: 'HTTP methods.', maxItems: 16 }),
        paths: s.array(s.string({ pattern: /^(\/\S*|\*)$/, patternName: 'path starting with `/` (a trailing `*` matches a prefix)' }), { description: 'Paths; a trailing `*` matches a prefix.', maxItems: 64 }),
        ports: s.array(port('Port.'), { description: 'Destination ports.', maxItems: 16 }),
      },
      { description: 'What the request is for. Absent: anything.' },
    ),
    headers: s.array(
      s.object({ name: req(headerName('Header name.')), values: req(s.array(s.string(), { minItems: 1, maxItems: 16, description: 'Accepted values; `*` prefix/suffix wildcards.' })) }),
      { description: 'Request headers; all must match.', maxItems: 16 },
    ),
  },
  { description: 'A rule: a request matches when every condition given matches.' },
);

export const authorizationPolicyKind = {
  kind: 'AuthorizationPolicy',
  apiVersions: [WEFT_API_VERSION],
  namespaced: true,
  description: 'Allows or denies requests to its targets by source identity and namespace, method, path, port and header.',
  specRequired: true,
  collection: 'authorizationPolicies',
  schemaFile: 'authorizationpolicy.json',
  spec: s.object(
    {
      targetRefs: targetRefsSchema,
      action: s.enum(['ALLOW', 'DENY'], { description: 'Default `ALLOW`.', default: 'ALLOW' }),
      rules: s.array(authzRuleSchema, { description: 'The policy matches a request that matches any rule.', maxItems: 64, default: [] }),
    },
    { description: 'AuthorizationPolicy spec.' },
  ),
  build(spec: any, base: ResourceBaseFields): AuthorizationPolicyConfig {
    return {
      kind: 'AuthorizationPolicy',
      ...base,
      targetRefs: buildTargetRefs(spec.targetRefs),
      action: spec.action,
      rules: spec.rules.map((r: any) => ({
        identities: r.from?.identities ?? NONE,
        namespaces: r.from?.namespaces ?? NONE,
        methods: r.to?.methods ?? NONE,
        paths: r.to?.paths ?? NONE,
        ports: r.to?.ports ?? NONE,
        headers: r.headers ?? NONE,
      })),
    };
  },
} satisfies KindDefinition;

// ───────────────────────────── BackendTrafficPolicy ─────────────────────────────

const count = (description: string, dflt: number): IntegerSchema => s.integer({ description, minimum: 0, maximum: 1_000_000_000, default: dflt });

export const backendTrafficPolicyKind = {
  kind: 'BackendTrafficPolicy',
  apiVersions: [WEFT_API_VERSION],
  namespaced: true,
  description: 'How clients talk to a backend: load balancing, circuit breaking, outlier detection, retry budget, connect and idle timeouts.',
  specRequired: true,
  collection: 'backendTrafficPolicies',
  schemaFile: 'backendtrafficpolicy.json',
  spec: s.object(
    {
      targetRefs: targetRefsSchema,
      loadBalancer: s.object(
        {
          type: s.enum(['P2CEWMA', 'RoundRobin', 'RingHash'], { description: 'Default `P2CEWMA` (power of two choices on peak EWMA latency).', default: 'P2CEWMA' }),
          hashHeader: headerName('RingHash: the request header hashed. Default: the client address.'),
          minRingSize: s.integer({ description: 'RingHash: minimum ring size. Default 1024.', minimum: 1, maximum: 8_388_608, default: 1024 }),
        },
        {
          description: 'Load balancer.',
          check: (v: { type: string; hashHeader?: string }, ctx) => {
            if (v.hashHeader !== undefined && v.type !== 'RingHash') {
              ctx.issue('INVALID_VALUE', `field \`hashHeader\` only applies to type RingHash, not ${v.type}`, { at: ['hashHeader'], atKey: true, expected: 'type RingHash', found: v.type });
            }
          },
        },
      ),
      circuitBreaker: s.object(
        {
          maxConnections: count('Default 1024.', 1024),
          maxPendingRequests: count('Default 1024.', 1024),
          maxRequests: count('Default 1024.', 1024),
          maxRetries: count('Concurrent retries. Default 3.', 3),
        },
        { description: 'Circuit breaker limits per backend.' },
      ),
      outlierDetection: s.object(
        {
          consecutive5xx: count('Eject after this many consecutive 5xx. Default 5; 0 disables.', 5),
          consecutiveGatewayErrors: count('Eject after this many consecutive 502/503/504 or connect failures. Default 5; 0 disables.', 5),
          interval: s.duration({ description: 'Analysis interval. Default 10s.', default: '10s' }),
          baseEjectionTime: s.duration({ description: 'Base ejection time (times the ejection count). Default 30s.', default: '30s' }),
          maxEjectionPercent: s.integer({ description: 'Most endpoints ejected at once, percent. Default 10.', minimum: 0, maximum: 100, default: 10 }),
        },
        { description: 'Passive health checking.' },
      ),
      retryBudget: retryBudgetSchema(false),
      timeouts: s.object(
        {
          connect: s.duration({ description: 'Connect timeout. Default 1s.', default: '1s' }),
          idle: s.duration({ description: 'Idle connection timeout. Default 1h.', default: '1h' }),
        },
        { description: 'Connection timeouts.' },
      ),
    },
    { description: 'BackendTrafficPolicy spec.' },
  ),
  build(spec: any, base: ResourceBaseFields): BackendTrafficPolicyConfig {
    const od = spec.outlierDetection;
    return {
      kind: 'BackendTrafficPolicy',
      ...base,
      targetRefs: buildTargetRefs(spec.targetRefs),
      loadBalancer: spec.loadBalancer === undefined ? undefined : { type: spec.loadBalancer.type, hashHeader: spec.loadBalancer.hashHeader?.toLowerCase(), minRingSize: spec.loadBalancer.minRingSize },
      circuitBreaker: spec.circuitBreaker === undefined ? undefined : { ...spec.circuitBreaker },
      outlierDetection:
        od === undefined
          ? undefined
          : { consecutive5xx: od.consecutive5xx, consecutiveGatewayErrors: od.consecutiveGatewayErrors, intervalMs: od.interval, baseEjectionTimeMs: od.baseEjectionTime, maxEjectionPercent: od.maxEjectionPercent },
      retryBudget: spec.retryBudget === undefined ? undefined : buildRetryBudget(spec.retryBudget),
      timeouts: spec.timeouts === undefined ? undefined : { connectMs: spec.timeouts.connect, idleMs: spec.timeouts.idle },
    };
  },
} satisfies KindDefinition;

// ───────────────────────────── RateLimitPolicy ─────────────────────────────

const rateLimitRuleSchema = s.object(
  {
    key: s.enum(['None', 'SourceIdentity', 'Header', 'Path'], { description: 'What each bucket is keyed by. Default `None` (one bucket).', default: 'None' }),
    header: headerName('For key `Header`: the header name.'),
    requests: req(s.integer({ description: 'Requests allowed per unit.', minimum: 1, maximum: 1_000_000_000 })),
    unit: req(s.enum(['Second', 'Minute', 'Hour'], { description: 'Time unit.' })),
    burst: s.integer({ description: 'Bucket size. Default: `requests`.', minimum: 1, maximum: 1_000_000_000 }),
  },
  {
    description: 'A token bucket.',
    check: (v: { key: string; header?: string }, ctx) => {
      if (v.key === 'Header' && v.header === undefined) ctx.issue('MISSING_FIELD', 'missing required field `header` (required when key is Header)', { at: ['header'], expected: 'string' });
      if (v.key !== 'Header' && v.header !== undefined) ctx.issue('INVALID_VALUE', `field \`header\` only applies to key Header, not ${v.key}`, { at: ['header'], atKey: true, expected: 'key Header', found: v.key });
    },
  },
);

function buildRateLimitRules(list: any[] | undefined): RateLimitRuleConfig[] {
  return (list ?? NONE).map((r: any) => ({ key: r.key, header: r.header?.toLowerCase(), requests: r.requests, unit: r.unit, burst: r.burst ?? r.requests }));
}

export const rateLimitPolicyKind = {
  kind: 'RateLimitPolicy',
  apiVersions: [WEFT_API_VERSION],
  namespaced: true,
  description: 'Rate limits (token buckets) on its targets, local to each proxy or global, keyed by source identity, header or path.',
  specRequired: true,
  collection: 'rateLimitPolicies',
  schemaFile: 'ratelimitpolicy.json',
  spec: s.object(
    {
      targetRefs: targetRefsSchema,
      local: s.array(rateLimitRuleSchema, { description: 'Limits enforced by each proxy alone.', maxItems: 16 }),
      global: s.array(rateLimitRuleSchema, { description: 'Limits enforced across all proxies.', maxItems: 16 }),
    },
    {
      description: 'RateLimitPolicy spec.',
      check: (v: { local?: unknown[]; global?: unknown[] }, ctx) => {
        if ((v.local?.length ?? 0) + (v.global?.length ?? 0) === 0) ctx.issue('MISSING_FIELD', 'missing required field `local` or `global` (a rate limit policy needs at least one limit)', { at: ['local'], expected: 'sequence' });
      },
    },
  ),
  build(spec: any, base: ResourceBaseFields): RateLimitPolicyConfig {
    return { kind: 'RateLimitPolicy', ...base, targetRefs: buildTargetRefs(spec.targetRefs), local: buildRateLimitRules(spec.local), global: buildRateLimitRules(spec.global) };
  },
} satisfies KindDefinition;

