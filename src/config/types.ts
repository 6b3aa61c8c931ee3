// The validated configuration model: the TypeScript shape of every resource kind after validation
// (`XConfig`, deep-frozen, defaults applied, durations in milliseconds) and of the whole `MeshConfig`,
// plus the issue and result types of the loading API. `XSpec` types (raw input) live in the schemas.
//
// Stability: other subsystems code against these interfaces. Changes must be additive.
import type { Ok, Err } from '../core/result.ts';

// ───────────────────────────── common ─────────────────────────────

/** A duration in milliseconds (written in YAML as a Gateway API duration: `10s`, `1h30m`, `500ms`). */
export type DurationMs = number;

/** Where a resource (or a problem) sits in its source. Lines and columns are 1-based. */
export interface SourceLocation {
  /** File path as given to the loader, or the `source` of an in-memory document. */
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface ObjectMetaConfig {
  readonly name: string;
  /** Default `default`. For the cluster-scoped `Mesh` kind this is `''`. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** Fields every validated resource carries. */
export interface ResourceBase<K extends string> {
  readonly kind: K;
  readonly apiVersion: string;
  readonly metadata: ObjectMetaConfig;
  /** `namespace/name` (for Mesh: `name`). Unique per kind. */
  readonly key: string;
  /** Where the resource's document starts. */
  readonly source: SourceLocation;
}

/** Key used by every map in MeshConfig: `namespace/name`. */
export function resourceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Same as resourceKey, named for the most common lookup. */
export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

// ───────────────────────────── weft.dev/v1alpha1 Mesh ─────────────────────────────

export type MtlsMode = 'STRICT' | 'PERMISSIVE';

export interface RetryBudgetConfig {
  /** Retries may add at most this percentage of the live request rate (0–100). Default 20. */
  readonly percent: number;
  /** Retries always allowed per second regardless of the percentage. Default 10. */
  readonly minRetriesPerSecond: number;
  /** Window over which requests and retries are counted. Default 10 s. */
  readonly ttlMs: DurationMs;
}

export interface CertificateRotationConfig {
  /** Renew a leaf when this fraction of its lifetime has elapsed. Default 0.5. */
  readonly leafRenewFraction: number;
  /** Renew the issuing (intermediate) certificate at this fraction. Default 0.75. */
  readonly issuerRenewFraction: number;
  /** Start root rotation (add the new root to bundles) at this fraction of its life: 0.667 = a third left. Default 0.667. */
  readonly rootRenewFraction: number;
}

export interface CertificatesConfig {
  /** Workload leaf lifetime. Default 24 h. */
  readonly leafTtlMs: DurationMs;
  /** Issuer (intermediate CA) lifetime. Default 30 d (720h). */
  readonly issuerTtlMs: DurationMs;
  /** Root CA lifetime. Default 1 y (8760h). */
  readonly rootTtlMs: DurationMs;
  readonly rotation: CertificateRotationConfig;
}

export type AccessLogFormat = 'json' | 'text' | 'off';

export interface TelemetryConfig {
  /** Percentage of requests sampled for tracing (0–100). Default 1. */
  readonly traceSamplingPercent: number;
  /** OTLP/HTTP endpoint for spans, e.g. `http://127.0.0.1:4318`. Absent: spans are not exported. */
  readonly otlpEndpoint: string | undefined;
  /** Access-log format. Default `json`. */
  readonly accessLogFormat: AccessLogFormat;
}

/** Mesh-wide settings: from the (single, optional) `Mesh` resource, with defaults applied. */
export interface MeshSettingsConfig {
  /** Name of the Mesh resource, `default` when none was given. */
  readonly name: string;
  /** SPIFFE trust domain. Default `cluster.local`. */
  readonly trustDomain: string;
  /** Default mTLS mode for every workload. Default `STRICT`. */
  readonly mtlsMode: MtlsMode;
  readonly certificates: CertificatesConfig;
  /** Default retry budget for every route/backend without one. */
  readonly retryBudget: RetryBudgetConfig;
  readonly telemetry: TelemetryConfig;
  /** Where the Mesh resource was; undefined when all defaults. */
  readonly source: SourceLocation | undefined;
}

// ───────────────────────────── Service / Workload ─────────────────────────────

/** Application protocol of a service port. `tcp` for opaque or server-speaks-first protocols. */
export type AppProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

export interface ServicePortConfig {
  /** Port name (`http`, `grpc`…); `''` when none. */
  readonly name: string;
  readonly port: number;
  /** Port of the workload the service forwards to; a number, or a named port (Kubernetes). Default: `port`. */
  readonly targetPort: number | string;
  /** Default `http`. Kubernetes `appProtocol` values are mapped (kubernetes.io/h2c → http2, unknown → http with a warning). */
  readonly appProtocol: AppProtocol;
}

export interface ServiceConfig extends ResourceBase<'Service'> {
  /** `weft` for weft.dev/v1alpha1 Service, `kubernetes` for core v1 Service. */
  readonly origin: 'weft' | 'kubernetes';
  readonly ports: readonly ServicePortConfig[];
  /** Workloads whose labels contain all of these belong to the service. Empty: workloads naming the service in `spec.service`. */
  readonly selector: Readonly<Record<string, string>>;
  /** Extra host names that resolve to this service (weft Service `spec.hosts`). */
  readonly hosts: readonly string[];
  /** Kubernetes `clusterIP` (e.g. `None` for headless); undefined for weft Services. */
  readonly clusterIP: string | undefined;
}

export interface WorkloadPortConfig {
  readonly name: string;
  readonly port: number;
}

export interface WorkloadConfig extends ResourceBase<'Workload'> {
  /** Name of the Service (same namespace) this workload serves. */
  readonly service: string;
  /** Service account; the SPIFFE ID is spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>. Default `default`. */
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** IP address or host name where the workload (or its proxy) is reached. */
  readonly address: string;
  /** The application's port. */
  readonly port: number;
  /** Extra named application ports, when the workload serves more than one. */
  readonly ports: readonly WorkloadPortConfig[];
  /** Port of this workload's inbound proxy listener; undefined when not known from config (the registry learns it). */
  readonly proxyPort: number | undefined;
}

// ───────────────────────────── Gateway API common ─────────────────────────────

/** A parentRef of a route: a Gateway (north-south) or a Service (east-west, GAMMA). */
export interface ParentRefConfig {
  /** Default `gateway.networking.k8s.io`. Services use `''` (core). */
  readonly group: string;
  /** Default `Gateway`. */
  readonly kind: string;
  /** Default: the route's namespace. */
  readonly namespace: string;
  readonly name: string;
  readonly sectionName: string | undefined;
  readonly port: number | undefined;
}

/** A reference to a backend (default kind `Service`, group `''`). */
export interface BackendObjectRefConfig {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  /** Default: the route's namespace. */
  readonly namespace: string;
  readonly port: number | undefined;
}

export interface HTTPHeaderConfig {
  readonly name: string;
  readonly value: string;
}

export interface HeaderModifierConfig {
  readonly set: readonly HTTPHeaderConfig[];
  readonly add: readonly HTTPHeaderConfig[];
  readonly remove: readonly string[];
}

export type StringMatchType = 'Exact' | 'RegularExpression';

export interface HeaderMatchConfig {
  /** Default `Exact`. */
  readonly type: StringMatchType;
  readonly name: string;
  readonly value: string;
}

// ───────────────────────────── Gateway ─────────────────────────────

export type ListenerProtocol = 'HTTP' | 'HTTPS' | 'TLS' | 'TCP' | 'UDP';

export interface SecretObjectRefConfig {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
}

export interface GatewayTLSConfig {
  /** Default `Terminate`. */
  readonly mode: 'Terminate' | 'Passthrough';
  readonly certificateRefs: readonly SecretObjectRefConfig[];
  readonly options: Readonly<Record<string, string>>;
}

export interface LabelSelectorConfig {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly { readonly key: string; readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; readonly values: readonly string[] }[];
}

export interface AllowedRoutesConfig {
  /** Default `Same`. */
  readonly namespacesFrom: 'All' | 'Same' | 'Selector' | 'None';
  readonly namespaceSelector: LabelSelectorConfig | undefined;
  /** Empty: the kinds matching the listener protocol. */
  readonly kinds: readonly { readonly group: string; readonly kind: string }[];
}

export interface ListenerConfig {
  readonly name: string;
  readonly hostname: string | undefined;
  readonly port: number;
  readonly protocol: ListenerProtocol;
  readonly tls: GatewayTLSConfig | undefined;
  readonly allowedRoutes: AllowedRoutesConfig;
}

export interface GatewayConfig extends ResourceBase<'Gateway'> {
  readonly gatewayClassName: string;
  readonly listeners: readonly ListenerConfig[];
  readonly addresses: readonly { readonly type: string; readonly value: string }[];
}

// ───────────────────────────── HTTPRoute ─────────────────────────────

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';

export interface HTTPPathMatchConfig {
  /** Default `PathPrefix`. */
  readonly type: PathMatchType;
  /** Default `/`. */
  readonly value: string;
}

export interface HTTPRouteMatchConfig {
  /** Default `{ type: 'PathPrefix', value: '/' }`. */
  readonly path: HTTPPathMatchConfig;
  readonly headers: readonly HeaderMatchConfig[];
  readonly queryParams: readonly HeaderMatchConfig[];
  /** Upper-case HTTP method; undefined = any. */
  readonly method: string | undefined;
}

export interface HTTPPathModifierConfig {
  readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  readonly replaceFullPath: string | undefined;
  readonly replacePrefixMatch: string | undefined;
}

export interface HTTPRequestRedirectConfig {
  readonly scheme: 'http' | 'https' | undefined;
  readonly hostname: string | undefined;
  readonly path: HTTPPathModifierConfig | undefined;
  readonly port: number | undefined;
  /** Default 302. */
  readonly statusCode: 301 | 302 | 303 | 307 | 308;
}

export interface HTTPURLRewriteConfig {
  readonly hostname: string | undefined;
  readonly path: HTTPPathModifierConfig | undefined;
}

export interface HTTPRequestMirrorConfig {
  readonly backendRef: BackendObjectRefConfig;
  /** Fraction of requests mirrored, 0..1, from `percent` or `fraction` (default: all, 1). */
  readonly ratio: number;
}

export interface LocalObjectRefConfig {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
}

export interface HTTPCORSConfig {
  readonly allowOrigins: readonly string[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowCredentials: boolean;
  /** Seconds. Default 5. */
  readonly maxAge: number;
}

/** One filter; exactly the field matching `type` is set. */
export type HTTPRouteFilterConfig =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifierConfig }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifierConfig }
  | { readonly type: 'RequestRedirect'; readonly requestRedirect: HTTPRequestRedirectConfig }
  | { readonly type: 'URLRewrite'; readonly urlRewrite: HTTPURLRewriteConfig }
  | { readonly type: 'RequestMirror'; readonly requestMirror: HTTPRequestMirrorConfig }
  | { readonly type: 'CORS'; readonly cors: HTTPCORSConfig }
  | { readonly type: 'ExtensionRef'; readonly extensionRef: LocalObjectRefConfig };

export type HTTPRouteFilterType = HTTPRouteFilterConfig['type'];

export interface HTTPBackendRefConfig extends BackendObjectRefConfig {
  /** Relative weight. Default 1; 0 = receives no traffic. */
  readonly weight: number;
  readonly filters: readonly HTTPRouteFilterConfig[];
}

export interface HTTPRouteTimeoutsConfig {
  /** Whole request deadline; undefined = none configured (0 in YAML also means none → undefined). */
  readonly requestMs: DurationMs | undefined;
  /** Per attempt to a backend; never larger than requestMs (validated). */
  readonly backendRequestMs: DurationMs | undefined;
}

export interface HTTPRouteRetryConfig {
  /** HTTP status codes that are retried (e.g. 500, 502, 503, 504). Empty: connection errors only. */
  readonly codes: readonly number[];
  /** Max retries (not counting the first attempt). Default 1 (the experimental channel leaves it to the implementation). */
  readonly attempts: number;
  /** Base backoff between attempts. Default 25 ms. */
  readonly backoffMs: DurationMs;
}

export interface HTTPRouteRuleConfig {
  /** Rule name (`spec.rules[].name`); undefined when not given. */
  readonly name: string | undefined;
  /** Default one match: PathPrefix `/`. */
  readonly matches: readonly HTTPRouteMatchConfig[];
  readonly filters: readonly HTTPRouteFilterConfig[];
  /** Empty: requests matching the rule get a 500 (per spec, no backend). */
  readonly backendRefs: readonly HTTPBackendRefConfig[];
  readonly timeouts: HTTPRouteTimeoutsConfig;
  /** undefined: no retries configured on the route. Retries always spend the (mesh default) retry budget. */
  readonly retry: HTTPRouteRetryConfig | undefined;
}

export interface HTTPRouteConfig extends ResourceBase<'HTTPRoute'> {
  readonly parentRefs: readonly ParentRefConfig[];
  readonly hostnames: readonly string[];
  /** Default one rule matching everything with no backends (spec default). */
  readonly rules: readonly HTTPRouteRuleConfig[];
}

// ───────────────────────────── GRPCRoute ─────────────────────────────

export interface GRPCMethodMatchConfig {
  /** Default `Exact`. */
  readonly type: StringMatchType;
  readonly service: string | undefined;
  readonly method: string | undefined;
}

export interface GRPCRouteMatchConfig {
  readonly method: GRPCMethodMatchConfig | undefined;
  readonly headers: readonly HeaderMatchConfig[];
}

export type GRPCRouteFilterConfig = Extract<
  HTTPRouteFilterConfig,
  { type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestMirror' | 'ExtensionRef' }
>;

export interface GRPCBackendRefConfig extends BackendObjectRefConfig {
  readonly weight: number;
  readonly filters: readonly GRPCRouteFilterConfig[];
}

export interface GRPCRouteRuleConfig {
  readonly name: string | undefined;
  /** Empty: matches every request. */
  readonly matches: readonly GRPCRouteMatchConfig[];
  readonly filters: readonly GRPCRouteFilterConfig[];
  readonly backendRefs: readonly GRPCBackendRefConfig[];
}

export interface GRPCRouteConfig extends ResourceBase<'GRPCRoute'> {
  readonly parentRefs: readonly ParentRefConfig[];
  readonly hostnames: readonly string[];
  readonly rules: readonly GRPCRouteRuleConfig[];
}

// ───────────────────────────── ReferenceGrant ─────────────────────────────

export interface ReferenceGrantFromConfig {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
}

export interface ReferenceGrantToConfig {
  readonly group: string;
  readonly kind: string;
  /** undefined: every object of that kind in the grant's namespace. */
  readonly name: string | undefined;
}

export interface ReferenceGrantConfig extends ResourceBase<'ReferenceGrant'> {
  readonly from: readonly ReferenceGrantFromConfig[];
  readonly to: readonly ReferenceGrantToConfig[];
}

// ───────────────────────────── policies (weft.dev/v1alpha1) ─────────────────────────────

/**
 * A policy target (Gateway API policy attachment). Kinds: `Namespace` (group `''`, name = a namespace),
 * `Service` (group `''` or `weft.dev`), `Gateway`, `HTTPRoute`, `GRPCRoute` (group `gateway.networking.k8s.io`).
 * Targets other than Namespace are in the policy's namespace.
 */
export interface PolicyTargetRefConfig {
  readonly group: string;
  readonly kind: 'Namespace' | 'Service' | 'Gateway' | 'HTTPRoute' | 'GRPCRoute';
  readonly name: string;
  /** A port name (Service) or listener/rule name. */
  readonly sectionName: string | undefined;
  /** A Service port number (weft extension). */
  readonly port: number | undefined;
}

export interface PolicyBase<K extends string> extends ResourceBase<K> {
  /** Empty: the policy applies to its whole namespace. */
  readonly targetRefs: readonly PolicyTargetRefConfig[];
}

export interface MTLSPolicyConfig extends PolicyBase<'MTLSPolicy'> {
  readonly mode: MtlsMode;
}

export type AuthorizationAction = 'ALLOW' | 'DENY';

export interface AuthorizationHeaderMatchConfig {
  readonly name: string;
  /** Any of these values matches; `*` prefix/suffix wildcards allowed. */
  readonly values: readonly string[];
}

export interface AuthorizationRuleConfig {
  /** SPIFFE IDs; a trailing `*` matches a prefix. Empty: any identity. */
  readonly identities: readonly string[];
  /** Source namespaces. Empty: any. */
  readonly namespaces: readonly string[];
  /** Upper-case methods. Empty: any. */
  readonly methods: readonly string[];
  /** Exact paths, or prefixes ending in `*`. Empty: any. */
  readonly paths: readonly string[];
  /** Destination ports. Empty: any. */
  readonly ports: readonly number[];
  /** All must match. */
  readonly headers: readonly AuthorizationHeaderMatchConfig[];
}

export interface AuthorizationPolicyConfig extends PolicyBase<'AuthorizationPolicy'> {
  readonly action: AuthorizationAction;
  /** A request matches the policy when it matches any rule. Empty list: matches nothing (ALLOW with no rules denies all). */
  readonly rules: readonly AuthorizationRuleConfig[];
}

export type LoadBalancerType = 'P2CEWMA' | 'RoundRobin' | 'RingHash';

export interface LoadBalancerConfig {
  /** Default `P2CEWMA`. */
  readonly type: LoadBalancerType;
  /** RingHash: the request header hashed; undefined = the client address. */
  readonly hashHeader: string | undefined;
  /** RingHash: minimum ring size. Default 1024. */
  readonly minRingSize: number;
}

export interface CircuitBreakerConfig {
  /** Default 1024. */
  readonly maxConnections: number;
  /** Default 1024. */
  readonly maxPendingRequests: number;
  /** Default 1024. */
  readonly maxRequests: number;
  /** Concurrent retries. Default 3. */
  readonly maxRetries: number;
}

export interface OutlierDetectionConfig {
  /** Default 5. 0 disables this check. */
  readonly consecutive5xx: number;
  /** 502/503/504 and connect failures. Default 5. 0 disables. */
  readonly consecutiveGatewayErrors: number;
  /** Default 10 s. */
  readonly intervalMs: DurationMs;
  /** Default 30 s; multiplied by the number of times the endpoint was ejected. */
  readonly baseEjectionTimeMs: DurationMs;
  /** Default 10. */
  readonly maxEjectionPercent: number;
}

export interface BackendTimeoutsConfig {
  /** Default 1 s. */
  readonly connectMs: DurationMs;
  /** Default 1 h. */
  readonly idleMs: DurationMs;
}

/**
 * Each section is undefined when the policy does not set it; resolution takes each section from the
 * most specific policy that sets it (service < namespace), and the defaults otherwise.
 */
export interface BackendTrafficPolicyConfig extends PolicyBase<'BackendTrafficPolicy'> {
  readonly loadBalancer: LoadBalancerConfig | undefined;
  readonly circuitBreaker: CircuitBreakerConfig | undefined;
  readonly outlierDetection: OutlierDetectionConfig | undefined;
  readonly retryBudget: RetryBudgetConfig | undefined;
  readonly timeouts: BackendTimeoutsConfig | undefined;
}

export type RateLimitKeyType = 'None' | 'SourceIdentity' | 'Header' | 'Path';
export type RateLimitUnit = 'Second' | 'Minute' | 'Hour';

export interface RateLimitRuleConfig {
  /** What each bucket is keyed by. Default `None` (one bucket for the target). */
  readonly key: RateLimitKeyType;
  /** For key `Header`: the header name (lower-case). */
  readonly header: string | undefined;
  readonly requests: number;
  readonly unit: RateLimitUnit;
  /** Bucket size. Default = requests. */
  readonly burst: number;
}

export interface RateLimitPolicyConfig extends PolicyBase<'RateLimitPolicy'> {
  /** Enforced by each proxy alone. */
  readonly local: readonly RateLimitRuleConfig[];
  /** Enforced across proxies (needs the global limiter). */
  readonly global: readonly RateLimitRuleConfig[];
}

// ───────────────────────────── the whole config ─────────────────────────────

export type ValidatedResource =
  | ServiceConfig
  | WorkloadConfig
  | GatewayConfig
  | HTTPRouteConfig
  | GRPCRouteConfig
  | ReferenceGrantConfig
  | MTLSPolicyConfig
  | AuthorizationPolicyConfig
  | BackendTrafficPolicyConfig
  | RateLimitPolicyConfig;

/** A document of a kind weft accepts but does not model (Namespace, Deployment…); it is reported as an info warning. */
export interface IgnoredResourceConfig {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  /** metadata.labels when they are all strings (Namespace labels drive Gateway allowedRoutes selectors). */
  readonly labels: Readonly<Record<string, string>>;
  readonly source: SourceLocation;
}

/**
 * The whole validated mesh configuration: immutable (deep-frozen; maps refuse `set`), defaults applied.
 * Every map is keyed by `namespace/name` (see resourceKey) and iterates in sorted key order.
 */
export interface MeshConfig {
  readonly mesh: MeshSettingsConfig;
  readonly services: ReadonlyMap<string, ServiceConfig>;
  readonly workloads: ReadonlyMap<string, WorkloadConfig>;
  readonly gateways: ReadonlyMap<string, GatewayConfig>;
  readonly httpRoutes: ReadonlyMap<string, HTTPRouteConfig>;
  readonly grpcRoutes: ReadonlyMap<string, GRPCRouteConfig>;
  readonly referenceGrants: ReadonlyMap<string, ReferenceGrantConfig>;
  readonly mtlsPolicies: ReadonlyMap<string, MTLSPolicyConfig>;
  readonly authorizationPolicies: ReadonlyMap<string, AuthorizationPolicyConfig>;
  readonly backendTrafficPolicies: ReadonlyMap<string, BackendTrafficPolicyConfig>;
  readonly rateLimitPolicies: ReadonlyMap<string, RateLimitPolicyConfig>;
  /** Accepted-but-unmodelled documents. */
  readonly ignored: readonly IgnoredResourceConfig[];
  /** Number of modelled resources (Mesh included). */
  readonly resourceCount: number;
}

// ───────────────────────────── issues and results ─────────────────────────────

export type ConfigIssueSeverity = 'error' | 'warning';

/** Stable issue codes; documented in docs/CONFIG.md. */
export type ConfigIssueCode =
  // reading
  | 'FILE_NOT_FOUND'
  | 'FILE_READ_FAILED'
  | 'FILE_TOO_LARGE'
  | 'INVALID_UTF8'
  | 'BINARY_CONTENT'
  | 'NO_RESOURCES'
  // YAML
  | 'YAML_SYNTAX'
  | 'DUPLICATE_KEY'
  | 'ALIAS_LIMIT'
  | 'DEPTH_LIMIT'
  | 'DOCUMENT_LIMIT'
  // shape
  | 'NOT_AN_OBJECT'
  | 'MISSING_FIELD'
  | 'UNKNOWN_FIELD'
  | 'WRONG_TYPE'
  | 'INVALID_VALUE'
  | 'UNKNOWN_KIND'
  | 'UNSUPPORTED_API_VERSION'
  | 'IGNORED_KIND'
  // whole-config checks
  | 'DUPLICATE_RESOURCE'
  | 'MULTIPLE_MESH'
  | 'BACKEND_NOT_FOUND'
  | 'BACKEND_PORT_NOT_FOUND'
  | 'BACKEND_KIND_UNSUPPORTED'
  | 'REF_NOT_PERMITTED'
  | 'PARENT_NOT_FOUND'
  | 'ROUTE_NOT_ALLOWED'
  | 'TARGET_NOT_FOUND'
  | 'SERVICE_NOT_FOUND'
  | 'TIMEOUT_ORDER'
  | 'TOO_MANY_ISSUES';

export interface ConfigIssue {
  readonly code: ConfigIssueCode;
  readonly severity: ConfigIssueSeverity;
  /** File path (or in-memory source name). */
  readonly file: string;
  /** 1-based; 0 when the issue is about the whole file. */
  readonly line: number;
  /** 1-based; 0 when the issue is about the whole file. */
  readonly column: number;
  /** Field path inside the resource, e.g. `spec.rules[0].backendRefs[1].weight`; `''` for the document/file. */
  readonly path: string;
  /** The whole sentence, e.g. "unknown field `retires`; did you mean `retry`?". */
  readonly message: string;
  /** What was expected, e.g. `integer between 0 and 1000000`. */
  readonly expected?: string;
  /** What was found, e.g. `string "ten"`. */
  readonly found?: string;
  /** A corrected spelling for a misspelt field or enum value. */
  readonly suggestion?: string;
  /** `Kind namespace/name` of the resource, when known. */
  readonly resource?: string;
}

/** One document source held in memory: a path (or store key) and its text. Same shape as the control plane's store. */
export interface SourceDocument {
  readonly source: string;
  readonly text: string;
}

export interface ConfigLoadStats {
  readonly files: number;
  readonly documents: number;
  readonly resources: number;
  readonly bytes: number;
}

/**
 * The outcome of loading: the config, or every error (never a half-applied config). Warnings (and
 * informational notes) are reported either way.
 */
export type ConfigLoadResult = (Ok<MeshConfig> | Err<readonly ConfigIssue[]>) & {
  readonly warnings: readonly ConfigIssue[];
  readonly stats: ConfigLoadStats;
};

export interface ConfigLoadOptions {
  /** Largest file accepted, bytes; a larger file is refused before it is read. Default 8 MiB. */
  readonly maxFileBytes?: number;
  /** Deepest nesting of mappings/sequences accepted. Default 64. */
  readonly maxDepth?: number;
  /** Most YAML alias expansions per document. Default 100. */
  readonly maxAliasCount?: number;
  /** Most documents per file. Default 100000. */
  readonly maxDocumentsPerFile?: number;
  /** Errors reported before the rest are summarised in one TOO_MANY_ISSUES line. Default 1000. */
  readonly maxIssues?: number;
  /** `auto` (default): the fast parser when the text allows it, else the precise one; `precise`: always `yaml`. */
  readonly parser?: 'auto' | 'precise';
}
