// The proxy config spec: the raw, serialisable description of everything one proxy needs
// (listeners, services, routes, clusters, the local workload, mTLS mode). It is what a static
// bootstrap file contains and what the xDS client produces from LDS/RDS/CDS/EDS/SDS; `compileSnapshot`
// (snapshot.ts) validates it into the immutable `RuntimeSnapshot` the request path reads.
//
// Conventions: every field is plain JSON (no Maps, no functions) so the spec can be dumped, diffed
// and written as YAML. Durations are milliseconds (`…Ms`). Optional fields have the documented
// default applied by the compiler, never by the request path.

/** Application protocol of a port. `auto` = detect from the first bytes (outbound only). */
export type PortProtocol = 'http1' | 'http2' | 'grpc' | 'tcp' | 'auto';

/**
 * mTLS mode of the inbound listener.
 * STRICT: only mesh mTLS is accepted. PERMISSIVE: mesh mTLS and plaintext on the same port
 * (ClientHello vs plaintext is detected). DISABLED: plaintext only (tests, non-mesh workloads).
 */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLED';

/** Load-balancing policy of a cluster. Default `p2c-ewma`. */
export type LbPolicy = 'p2c-ewma' | 'round-robin' | 'ring-hash';

/**
 * How HTTP travels between this proxy and a peer proxy (always mTLS).
 * `http1` (default for meshed clusters): HTTP/1.1 requests go over pooled HTTP/1.1 mTLS connections on
 *   the HTTP/1 engine's byte-forwarding fast path; HTTP/2 and gRPC requests still use the shared h2
 *   connection. Chosen as default because it costs several times less CPU per HTTP/1 request in Node
 *   than bridging to HTTP/2 (measured; see docs/PROXY.md).
 * `h2`: every HTTP/1.1 and HTTP/2 request to that peer is a stream on one shared HTTP/2 mTLS connection
 *   (one handshake per pair of proxies, fewest connections).
 * `plain`: no peer proxy; connect to the endpoint directly without TLS (non-mesh upstreams).
 */
export type PeerProtocol = 'h2' | 'http1' | 'plain';

/**
 * The `version` of the placeholder spec a controlled proxy serves between binding its listeners and
 * receiving its first configuration from the control plane; `/ready` answers 503 while it is in force.
 */
export const AWAITING_CONTROL_PLANE_VERSION = 'awaiting-control-plane';

/** Root of the spec. `version` is opaque (the xDS version info or the file's hash). */
export interface ProxyConfigSpec {
  version?: string;
  workload: WorkloadSpec;
  listeners?: ListenersSpec;
  services?: ServiceSpec[];
  clusters?: ClusterSpec[];
  limits?: LimitsSpec;
  /** How long in-flight requests may finish after SIGTERM before the proxy exits. Default 10000. */
  drainTimeoutMs?: number;
}

/** The workload this proxy sits beside. */
export interface WorkloadSpec {
  /** Workload (service) name, e.g. `catalog`. */
  name: string;
  /** Namespace; short host names (`catalog`) resolve in this namespace first. Default `default`. */
  namespace?: string;
  /** Trust domain of SPIFFE IDs. Default `cluster.local`. */
  trustDomain?: string;
  /** DNS suffix after `<svc>.<ns>.svc`. Default `cluster.local`. */
  clusterDomain?: string;
  /** The local identity (certificates). Absent: no mTLS possible (inbound mtlsMode must be DISABLED). */
  identity?: IdentitySpec;
  inbound?: InboundSpec;
}

/** Certificates of the local workload, inline PEM or file paths (files are read by the loader). */
export interface IdentitySpec {
  certChainPem?: string;
  certChainFile?: string;
  keyPem?: string;
  keyFile?: string;
  trustBundlePem?: string;
  trustBundleFile?: string;
}

/** What the inbound listener forwards to, and whom it accepts. */
export interface InboundSpec {
  /** Default `STRICT`. */
  mtlsMode?: MtlsMode;
  /** Loopback address of the application. Default `127.0.0.1`. */
  appAddress?: string;
  /** Ports the application serves; a peer can only reach these. */
  ports: InboundPortSpec[];
  /**
   * SPIFFE IDs (exact, or a prefix ending in `/*`) allowed to connect over mTLS.
   * Absent: any identity from the trust bundle's trust domain.
   */
  allowedPeers?: string[];
}

export interface InboundPortSpec {
  port: number;
  /** Default `http1`. `grpc` and `http2` forward as h2c to the app. */
  protocol?: PortProtocol;
}

/** Listener addresses. Port 0 = any free port (tests). */
export interface ListenersSpec {
  /** app → mesh by Host / :authority (also usable as HTTP_PROXY). Default 127.0.0.1:15001. */
  outbound?: AddressSpec | null;
  /** mesh → app, mTLS. Default 0.0.0.0:15006. */
  inbound?: AddressSpec | null;
  /** Admin server. Default 127.0.0.1:15000. */
  admin?: AddressSpec | null;
  /** One local port per upstream service port (works for any protocol, including opaque TCP). */
  upstreams?: UpstreamListenerSpec[];
}

export interface AddressSpec {
  address?: string;
  port: number;
}

export interface UpstreamListenerSpec {
  /** Service host as in ServiceSpec (`catalog.shop` or `catalog`). */
  service: string;
  /** The service port to reach. */
  servicePort: number;
  /** Local listening port (0 = any). */
  localPort: number;
  /** Default 127.0.0.1. */
  localAddress?: string;
  /** Overrides the service port's declared protocol. */
  protocol?: PortProtocol;
}

/** A destination service, e.g. `catalog` in namespace `shop`. */
export interface ServiceSpec {
  name: string;
  /** Default: the workload's namespace. */
  namespace?: string;
  /** Extra host names that resolve to this service (e.g. `api.example.com`). */
  hosts?: string[];
  ports: ServicePortSpec[];
}

export interface ServicePortSpec {
  port: number;
  /** Default `auto` (detect). Declare `tcp` for server-speaks-first protocols. */
  protocol?: PortProtocol;
  /** Routes tried in order; the first match wins. Absent: everything goes to `cluster`. */
  routes?: RouteSpec[];
  /** Default cluster when no route is given. Default `<name>.<namespace>:<port>`. */
  cluster?: string;
}

export interface RouteSpec {
  name?: string;
  match?: RouteMatchSpec;
  /** Weighted backends; weights are relative (default 1 each). */
  backends: WeightedClusterSpec[];
  /** Whole-request deadline (headers to end of response). Default: the cluster's `requestTimeoutMs`. */
  timeoutMs?: number;
  requestHeaders?: HeaderEditSpec;
  responseHeaders?: HeaderEditSpec;
  /** Answer with a redirect instead of forwarding (then `backends` must be empty). */
  redirect?: RedirectSpec;
}

/** HTTPRoute RequestRedirect: each part not given keeps the request's own. */
export interface RedirectSpec {
  scheme?: 'http' | 'https';
  host?: string;
  port?: number;
  /** Replace the whole path. */
  path?: string;
  /** Replace the prefix the route matched (`match.pathPrefix` required). */
  prefix?: string;
  /** 301 (default), 302, 303, 307 or 308. */
  statusCode?: number;
}

export interface RouteMatchSpec {
  /** Exactly one of pathExact / pathPrefix / pathRegex, or none (match all paths). */
  pathExact?: string;
  pathPrefix?: string;
  pathRegex?: string;
  /** Upper-case method, e.g. `GET`. */
  method?: string;
  /** All must match. Header names are case-insensitive. */
  headers?: HeaderMatchSpec[];
  /** All must match, on the first value of each query parameter. Names are case-sensitive. */
  query?: QueryMatchSpec[];
}

export interface QueryMatchSpec {
  name: string;
  /** Exactly one of exact / regex / present. */
  exact?: string;
  regex?: string;
  present?: boolean;
}

export interface HeaderMatchSpec {
  name: string;
  /** Exactly one of exact / regex / present. */
  exact?: string;
  regex?: string;
  present?: boolean;
}

export interface WeightedClusterSpec {
  cluster: string;
  weight?: number;
}

export interface HeaderEditSpec {
  /** Replace (or add) these headers. */
  set?: Record<string, string>;
  /** Append these headers. */
  add?: Record<string, string>;
  /** Remove these headers (names). */
  remove?: string[];
}

/** An upstream cluster: a set of endpoints and how to reach them. */
export interface ClusterSpec {
  name: string;
  endpoints: EndpointSpec[];
  /** Default `p2c-ewma`. */
  lb?: LbPolicy;
  /** For `ring-hash`: the request header to hash (e.g. `x-session-id`); absent = client address. */
  hashHeader?: string;
  /** Default `h2` (weft's own HTTP/2 codec, one multiplexed mTLS connection per peer) when endpoints carry a `spiffeId`, else `plain`. `http1`: pooled HTTP/1.1 over mTLS. */
  peerProtocol?: PeerProtocol;
  /** Protocol the upstream application speaks, used for `plain` peers. Default: the service port's. */
  protocol?: PortProtocol;
  /** Default 1000. */
  connectTimeoutMs?: number;
  /** Close idle upstream connections after this long. Default 60000. */
  idleTimeoutMs?: number;
  /** Default request deadline. 0 = none. Default 15000. */
  requestTimeoutMs?: number;
  pool?: PoolSpec;
  /** Passive health: after this many consecutive connect failures an endpoint is ejected. Default 1. */
  ejectAfterFailures?: number;
  /** First probe-back after this long; doubles per failed probe up to 30 s. Default 1000. */
  ejectBaseMs?: number;
}

export interface PoolSpec {
  /** Max connections per endpoint (HTTP/1 and TCP). Default 1024. */
  maxConnections?: number;
  /** Max requests waiting for a connection per cluster. Default 1024. */
  maxPending?: number;
  /** Max concurrent streams per h2 peer connection before a second one is opened. Default 1000. */
  maxStreamsPerConnection?: number;
}

export interface EndpointSpec {
  /** IP address (or host name) of the endpoint. */
  address: string;
  /** The application's port at that address (the service's target port). */
  port: number;
  /** Port of the peer proxy's inbound listener; required when the peer is meshed (peerProtocol h2/http1). */
  proxyPort?: number;
  /** The SPIFFE ID the peer must present; required when meshed. */
  spiffeId?: string;
  /** Relative weight (round robin, ring hash). Default 1. */
  weight?: number;
  /** Free-form labels (zone, version) for later policies. */
  labels?: Record<string, string>;
}

/** Protective limits (hardening). */
export interface LimitsSpec {
  /** Total request-head bytes (HTTP/1) / header list size (HTTP/2). Default 65536. */
  maxHeaderBytes?: number;
  /** Time to receive a complete request head (slowloris). Default 10000. */
  headerTimeoutMs?: number;
  /** Max accepted downstream connections per listener. Default 10000. */
  maxConnections?: number;
  /** Max concurrent HTTP/2 streams per downstream connection. Default 250. */
  maxConcurrentStreams?: number;
  /** RST_STREAMs per downstream h2 connection per 10 s before GOAWAY (rapid reset). Default 200. */
  maxResetsPer10s?: number;
  /** Idle downstream connection timeout. Default 300000. */
  idleTimeoutMs?: number;
  /** Time to wait for the first bytes on an undeclared port before falling back to TCP. Default 300. */
  detectTimeoutMs?: number;
}
