// The runtime snapshot: the immutable, compiled proxy config the request path reads from a
// `Watch<RuntimeSnapshot>`. `compileSnapshot(spec)` validates a raw `ProxyConfigSpec` (spec.ts) —
// every problem is reported with its field path, nothing is half-applied — applies defaults,
// resolves host names and pre-compiles route matchers, then freezes the result.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { WeftError } from '../../core/errors.ts';
import { err, ok, type Result } from '../../core/result.ts';
import type { IdentityMaterial } from '../../identity/material.ts';
import type {
  LbPolicy,
  MtlsMode,
  PeerProtocol,
  PortProtocol,
} from './spec.ts';

/** One validation problem: where (`path`, e.g. `clusters[2].endpoints[0].port`) and what was expected. */
export interface ConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Raised (or returned) when a spec does not validate; `details.issues` lists every problem. */
export class ProxyConfigInvalidError extends WeftError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], source?: string) {
    const first = issues.slice(0, 5).map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ');
    super('PROXY_CONFIG_INVALID', `invalid proxy config${source ? ` in ${source}` : ''}: ${first}${issues.length > 5 ? ` (+${issues.length - 5} more)` : ''}`, {
      details: { issues: issues.map((i) => ({ path: formatPath(i.path), message: i.message })) },
    });
    this.issues = issues;
  }
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out || '(root)';
}

// ---------------------------------------------------------------------------------------------
// Compiled types (all readonly; frozen at runtime)

/** The local workload's certificates (src/identity's IdentityMaterial). */
export type LocalIdentity = IdentityMaterial;

export interface InboundPortConfig {
  readonly port: number;
  readonly protocol: Exclude<PortProtocol, 'auto'>;
}

export interface InboundConfig {
  readonly mtlsMode: MtlsMode;
  readonly appAddress: string;
  readonly ports: ReadonlyMap<number, InboundPortConfig>;
  /** Exact IDs or prefixes (ending in `/`) allowed; empty = anyone in the trust domain. */
  readonly allowedPeers: readonly string[];
}

export interface WorkloadConfig {
  readonly name: string;
  readonly namespace: string;
  readonly trustDomain: string;
  readonly clusterDomain: string;
  readonly identity: LocalIdentity | undefined;
  readonly inbound: InboundConfig;
}

export interface AddressConfig {
  readonly address: string;
  readonly port: number;
}

export interface UpstreamListenerConfig {
  readonly service: ServiceConfig;
  readonly servicePort: ServicePortConfig;
  readonly localAddress: string;
  readonly localPort: number;
  readonly protocol: PortProtocol;
}

export interface ListenersConfig {
  readonly outbound: AddressConfig | undefined;
  readonly inbound: AddressConfig | undefined;
  readonly admin: AddressConfig | undefined;
  readonly upstreams: readonly UpstreamListenerConfig[];
}

/** The view of a request that route matching needs (built by each protocol without copying headers). */
export interface RequestView {
  readonly method: string;
  readonly path: string;
  /** Lower-case name; first value or undefined. */
  header(name: string): string | undefined;
}

export interface HeaderEditConfig {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

export interface WeightedClusterConfig {
  readonly cluster: string;
  readonly weight: number;
}

export interface RouteConfig {
  readonly name: string;
  readonly matches: (req: RequestView) => boolean;
  readonly backends: readonly WeightedClusterConfig[];
  readonly totalWeight: number;
  /** Route deadline: -1 = use the cluster's `requestTimeoutMs`, 0 = none (see `requestTimeoutFor`). */
  readonly timeoutMs: number;
  readonly requestHeaders: HeaderEditConfig | undefined;
  readonly responseHeaders: HeaderEditConfig | undefined;
  /** Set on a route that answers with a redirect (it has no backends). */
  readonly redirect: RedirectConfig | undefined;
}

export interface RedirectConfig {
  readonly scheme: 'http' | 'https' | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly path: string | undefined;
  /** [the prefix the route matched, its replacement] */
  readonly prefix: readonly [string, string] | undefined;
  readonly status: number;
}

/**
 * The Location of a redirect for a request (`authority` as received, `target` with its query).
 * The port follows Gateway API: given → kept unless it is the scheme's default; else dropped when
 * the scheme changes, else the request's own.
 */
export function redirectLocation(r: RedirectConfig, authority: string, target: string): string {
  const colon = authority.lastIndexOf(':');
  const hasPort = colon > 0 && !authority.endsWith(']');
  const requestHost = hasPort ? authority.slice(0, colon) : authority;
  const requestPort = hasPort ? authority.slice(colon + 1) : '';
  const scheme = r.scheme ?? 'http';
  let port = r.port !== undefined ? String(r.port) : r.scheme !== undefined ? '' : requestPort;
  if ((scheme === 'http' && port === '80') || (scheme === 'https' && port === '443')) port = '';
  const q = target.indexOf('?');
  const query = q < 0 ? '' : target.slice(q);
  let path = q < 0 ? target : target.slice(0, q);
  if (r.path !== undefined) path = r.path;
  else if (r.prefix !== undefined) {
    const [matched, replacement] = r.prefix;
    const rest = matched === '/' ? path : path.slice(matched.length);
    path = replacement.endsWith('/') && rest.startsWith('/') ? replacement + rest.slice(1) : replacement + rest;
    if (path === '') path = '/';
  }
  return `${scheme}://${r.host ?? requestHost}${port ? `:${port}` : ''}${path}${query}`;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface ServicePortConfig {
  /** `catalog.shop:8080` — for errors and metrics. */
  readonly id: string;
  readonly port: number;
  readonly protocol: PortProtocol;
  readonly routes: readonly RouteConfig[];
}

export interface ServiceConfig {
  readonly name: string;
  readonly namespace: string;
  /** `catalog.shop` */
  readonly id: string;
  /** Every host name that resolves here (lower case, no port). */
  readonly hosts: readonly string[];
  readonly ports: ReadonlyMap<number, ServicePortConfig>;
  /** The port used when a Host carries none: port 80 if declared, else the only port. */
  readonly defaultPort: ServicePortConfig | undefined;
}

export interface EndpointConfig {
  /** `address:port` — stable key for balancer state across snapshots. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly proxyPort: number | undefined;
  readonly spiffeId: string | undefined;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ClusterConfig {
  readonly name: string;
  readonly endpoints: readonly EndpointConfig[];
  readonly lb: LbPolicy;
  readonly hashHeader: string | undefined;
  readonly peerProtocol: PeerProtocol;
  /** Protocol spoken to a `plain` upstream (or forwarded by the peer to its app). */
  readonly protocol: PortProtocol;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxPending: number;
  readonly maxStreamsPerConnection: number;
  readonly ejectAfterFailures: number;
  readonly ejectBaseMs: number;
}

export interface LimitsConfig {
  readonly maxHeaderBytes: number;
  readonly headerTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConcurrentStreams: number;
  readonly maxResetsPer10s: number;
  readonly idleTimeoutMs: number;
  readonly detectTimeoutMs: number;
}

export interface RuntimeSnapshot {
  readonly version: string;
  readonly workload: WorkloadConfig;
  readonly listeners: ListenersConfig;
  readonly services: readonly ServiceConfig[];
  /** Lower-case host (no port) → service. Short names resolve in the workload's namespace first. */
  readonly hosts: ReadonlyMap<string, ServiceConfig>;
  readonly clusters: ReadonlyMap<string, ClusterConfig>;
  readonly limits: LimitsConfig;
  readonly drainTimeoutMs: number;
  /** The source spec with private keys redacted (for /config_dump). */
  readonly redactedSpec: unknown;
}

// ---------------------------------------------------------------------------------------------
// Lookups used on the request path

/**
 * Resolves a Host / :authority value (`catalog`, `catalog.shop:8080`, `catalog.shop.svc.cluster.local`,
 * `[::1]:80`) to a service port. `undefined` = no route.
 */
export function resolveAuthority(
  snapshot: RuntimeSnapshot,
  authority: string,
): { service: ServiceConfig; port: ServicePortConfig } | undefined {
  let host = authority;
  let port: number | undefined;
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && authority.indexOf(']') < colon) {
    host = authority.slice(0, colon);
    const n = Number(authority.slice(colon + 1));
    if (!Number.isInteger(n)) return undefined;
    port = n;
  }
  const service = snapshot.hosts.get(host.toLowerCase());
  if (service === undefined) return undefined;
  const sp = port === undefined ? service.defaultPort : service.ports.get(port);
  if (sp === undefined) return undefined;
  return { service, port: sp };
}

/**
 * The first value of query parameter `name` in a request target, decoded, or undefined. Only routes
 * with a query match call it, so requests of other routes never parse their query string.
 */
export function queryParam(target: string, name: string): string | undefined {
  const q = target.indexOf('?');
  if (q < 0) return undefined;
  const value = new URLSearchParams(target.slice(q + 1)).get(name);
  return value === null ? undefined : value;
}

/** First matching route of a service port, or undefined. */
export function selectRoute(port: ServicePortConfig, req: RequestView): RouteConfig | undefined {
  const routes = port.routes;
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    if (r.matches(req)) return r;
  }
  return undefined;
}

/** Picks a backend cluster by weight; `random` in [0,1). */
export function pickBackend(route: RouteConfig, random: number = Math.random()): string {
  const b = route.backends;
  if (b.length === 1) return b[0]!.cluster;
  let x = random * route.totalWeight;
  for (let i = 0; i < b.length; i++) {
    x -= b[i]!.weight;
    if (x < 0) return b[i]!.cluster;
  }
  return b[b.length - 1]!.cluster;
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

type Path = (string | number)[];

class Checker {
  readonly issues: ConfigIssue[] = [];
  fail(path: Path, message: string): void {
    this.issues.push({ path: [...path], message });
  }
  obj(v: unknown, path: Path, required = true): Record<string, unknown> | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(path, 'is required (an object)');
      return undefined;
    }
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.fail(path, `expected an object, got ${describe(v)}`);
      return undefined;
    }
    return v as Record<string, unknown>;
  }
  known(o: Record<string, unknown>, path: Path, keys: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) this.fail([...path, k], `unknown field (expected one of: ${keys.join(', ')})`);
    }
  }
  arr(v: unknown, path: Path, required = false): unknown[] {
    if (v === undefined || v === null) {
      if (required) this.fail(path, 'is required (a list)');
      return [];
    }
    if (!Array.isArray(v)) {
      this.fail(path, `expected a list, got ${describe(v)}`);
      return [];
    }
    return v;
  }
  str(v: unknown, path: Path, required: true): string;
  str(v: unknown, path: Path, required?: boolean): string | undefined;
  str(v: unknown, path: Path, required = false): string | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(path, 'is required (a string)');
      return required ? '' : undefined;
    }
    if (typeof v !== 'string' || (required && v === '')) {
      this.fail(path, `expected a non-empty string, got ${describe(v)}`);
      return required ? '' : undefined;
    }
    return v;
  }
  int(v: unknown, path: Path, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `expected an integer in [${min}, ${max}], got ${describe(v)}`);
      return def;
    }
    return v;
  }
  port(v: unknown, path: Path, allowZero = false): number {
    if (v === undefined || v === null) {
      this.fail(path, 'is required (a port number)');
      return 0;
    }
    return this.int(v, path, 0, allowZero ? 0 : 1, 65535);
  }
  oneOf<T extends string>(v: unknown, path: Path, allowed: readonly T[], def: T): T {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string' || !allowed.includes(v as T)) {
      this.fail(path, `expected one of ${allowed.join(' | ')}, got ${describe(v)}`);
      return def;
    }
    return v as T;
  }
  regex(v: string, path: Path): RegExp | undefined {
    try {
      return new RegExp(`^(?:${v})$`);
    } catch (e) {
      this.fail(path, `invalid regular expression: ${(e as Error).message}`);
      return undefined;
    }
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

const PROTOCOLS: readonly PortProtocol[] = ['http1', 'http2', 'grpc', 'tcp', 'auto'];
const MTLS_MODES: readonly MtlsMode[] = ['STRICT', 'PERMISSIVE', 'DISABLED'];
const LB_POLICIES: readonly LbPolicy[] = ['p2c-ewma', 'round-robin', 'ring-hash'];
const PEER_PROTOCOLS: readonly PeerProtocol[] = ['h2', 'http1', 'plain'];
const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const HEADER_RE = /^[!#$%&'*+.^_`|~0-9a-zA-Z-]+$/;
const SPIFFE_RE = /^spiffe:\/\/[a-zA-Z0-9.\-_]+(\/[^/\s]+)*$/;

/**
 * Reads the SPIFFE ID, validity and serial of the leaf (first PEM block) of a chain. Uses node:crypto
 * only: the proxy must not load the CA's ASN.1 libraries (memory: the sidecar's idle RSS counts).
 */
export function describeLeaf(certChainPem: string): { spiffeId: string | undefined; notBefore: Date; notAfter: Date; serial: string } {
  const end = certChainPem.indexOf('-----END CERTIFICATE-----');
  const cert = new X509Certificate(end < 0 ? certChainPem : certChainPem.slice(0, end + 25));
  const uris = (cert.subjectAltName ?? '').split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
  return { spiffeId: uris.find((u) => u.startsWith('spiffe://')), notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo), serial: cert.serialNumber.toLowerCase() };
}

/** Options a loader passes: identity PEM already read from files. */
export interface CompileOptions {
  /** Used when the spec carries no version. */
  defaultVersion?: string;
}

/**
 * Validates and compiles a spec (`unknown`, straight from YAML/JSON/xDS) into a frozen snapshot.
 * Identity `…File` fields must already have been read into `…Pem` by the caller (bootstrap.ts does).
 */
export function compileSnapshot(input: unknown, options: CompileOptions = {}): Result<RuntimeSnapshot, ProxyConfigInvalidError> {
  const c = new Checker();
  const root = c.obj(input, []) ?? {};
  c.known(root, [], ['version', 'workload', 'listeners', 'services', 'clusters', 'limits', 'drainTimeoutMs']);

  // workload
  const w = c.obj(root.workload, ['workload']) ?? {};
  c.known(w, ['workload'], ['name', 'namespace', 'trustDomain', 'clusterDomain', 'identity', 'inbound']);
  const wName = c.str(w.name, ['workload', 'name'], true);
  const wNs = c.str(w.namespace, ['workload', 'namespace']) ?? 'default';
  const trustDomain = c.str(w.trustDomain, ['workload', 'trustDomain']) ?? 'cluster.local';
  const clusterDomain = c.str(w.clusterDomain, ['workload', 'clusterDomain']) ?? 'cluster.local';
  let identity: LocalIdentity | undefined;
  const idSpec = c.obj(w.identity, ['workload', 'identity'], false);
  if (idSpec) {
    c.known(idSpec, ['workload', 'identity'], ['certChainPem', 'certChainFile', 'keyPem', 'keyFile', 'trustBundlePem', 'trustBundleFile']);
    const certChainPem = c.str(idSpec.certChainPem, ['workload', 'identity', 'certChainPem'], true);
    const keyPem = c.str(idSpec.keyPem, ['workload', 'identity', 'keyPem'], true);
    const trustBundlePem = c.str(idSpec.trustBundlePem, ['workload', 'identity', 'trustBundlePem'], true);
    if (certChainPem && keyPem && trustBundlePem) {
      try {
        const leaf = describeLeaf(certChainPem);
        if (leaf.spiffeId === undefined) c.fail(['workload', 'identity', 'certChainPem'], 'the leaf certificate has no spiffe:// URI SAN');
        else identity = Object.freeze({ spiffeId: leaf.spiffeId, certChainPem, keyPem, trustBundlePem, notBefore: leaf.notBefore, notAfter: leaf.notAfter, bundleVersion: 0, serial: leaf.serial });
      } catch (e) {
        c.fail(['workload', 'identity', 'certChainPem'], `not a PEM certificate: ${(e as Error).message}`);
      }
    }
  }
  const inb = c.obj(w.inbound, ['workload', 'inbound'], false) ?? { ports: [] };
  c.known(inb, ['workload', 'inbound'], ['mtlsMode', 'appAddress', 'ports', 'allowedPeers']);
  const mtlsMode = c.oneOf(inb.mtlsMode, ['workload', 'inbound', 'mtlsMode'], MTLS_MODES, 'STRICT');
  if (mtlsMode !== 'DISABLED' && idSpec === undefined && w.inbound !== undefined) {
    c.fail(['workload', 'inbound', 'mtlsMode'], `${mtlsMode} needs workload.identity (certificates); set mtlsMode: DISABLED for plaintext`);
  }
  const inboundPorts = new Map<number, InboundPortConfig>();
  c.arr(inb.ports, ['workload', 'inbound', 'ports']).forEach((p, i) => {
    const path = ['workload', 'inbound', 'ports', i];
    const o = c.obj(p, path);
    if (!o) return;
    c.known(o, path, ['port', 'protocol']);
    const port = c.port(o.port, [...path, 'port']);
    const protocol = c.oneOf(o.protocol, [...path, 'protocol'], PROTOCOLS, 'http1');
    if (protocol === 'auto') c.fail([...path, 'protocol'], 'inbound ports must declare their protocol (http1, http2, grpc or tcp)');
    if (inboundPorts.has(port)) c.fail([...path, 'port'], `duplicate inbound port ${port}`);
    inboundPorts.set(port, Object.freeze({ port, protocol: protocol === 'auto' ? 'http1' : protocol }));
  });
  const allowedPeers = c.arr(inb.allowedPeers, ['workload', 'inbound', 'allowedPeers']).map((p, i) => {
    const s = c.str(p, ['workload', 'inbound', 'allowedPeers', i], true);
    const id = s.endsWith('/*') ? s.slice(0, -1) : s;
    if (!id.startsWith('spiffe://')) c.fail(['workload', 'inbound', 'allowedPeers', i], `expected a spiffe:// ID or prefix ending in /*, got ${describe(s)}`);
    return id;
  });
  const workload: WorkloadConfig = Object.freeze({
    name: wName,
    namespace: wNs,
    trustDomain,
    clusterDomain,
    identity,
    inbound: Object.freeze({
      mtlsMode,
      appAddress: c.str(inb.appAddress, ['workload', 'inbound', 'appAddress']) ?? '127.0.0.1',
      ports: inboundPorts,
      allowedPeers: Object.freeze(allowedPeers),
    }),
  });

  // clusters
  const clusters = new Map<string, ClusterConfig>();
  c.arr(root.clusters, ['clusters']).forEach((raw, i) => {
    const path: Path = ['clusters', i];
    const o = c.obj(raw, path);
    if (!o) return;
    c.known(o, path, ['name', 'endpoints', 'lb', 'hashHeader', 'peerProtocol', 'protocol', 'connectTimeoutMs', 'idleTimeoutMs', 'requestTimeoutMs', 'pool', 'ejectAfterFailures', 'ejectBaseMs']);
    const name = c.str(o.name, [...path, 'name'], true);
    if (clusters.has(name)) c.fail([...path, 'name'], `duplicate cluster name ${JSON.stringify(name)}`);
    const endpoints: EndpointConfig[] = [];
    const keys = new Set<string>();
    c.arr(o.endpoints, [...path, 'endpoints'], true).forEach((e, j) => {
      const ep: Path = [...path, 'endpoints', j];
      const eo = c.obj(e, ep);
      if (!eo) return;
      c.known(eo, ep, ['address', 'port', 'proxyPort', 'spiffeId', 'weight', 'labels']);
      const address = c.str(eo.address, [...ep, 'address'], true);
      const port = c.port(eo.port, [...ep, 'port']);
      const proxyPort = eo.proxyPort === undefined ? undefined : c.port(eo.proxyPort, [...ep, 'proxyPort']);
      const spiffeId = c.str(eo.spiffeId, [...ep, 'spiffeId']);
      if (spiffeId !== undefined && !SPIFFE_RE.test(spiffeId)) c.fail([...ep, 'spiffeId'], `expected spiffe://<trust-domain>/<path>, got ${describe(spiffeId)}`);
      const labels = c.obj(eo.labels, [...ep, 'labels'], false) ?? {};
      const key = `${address.includes(':') && isIP(address) === 6 ? `[${address}]` : address}:${port}`;
      if (keys.has(key)) c.fail(ep, `duplicate endpoint ${key}`);
      keys.add(key);
      endpoints.push(Object.freeze({ key, address, port, proxyPort, spiffeId, weight: c.int(eo.weight, [...ep, 'weight'], 1, 1, 10000), labels: Object.freeze({ ...(labels as Record<string, string>) }) }));
    });
    const meshed = endpoints.some((e) => e.spiffeId !== undefined);
    const peerProtocol = c.oneOf(o.peerProtocol, [...path, 'peerProtocol'], PEER_PROTOCOLS, meshed ? 'h2' : 'plain');
    if (peerProtocol !== 'plain') {
      endpoints.forEach((e, j) => {
        if (e.spiffeId === undefined) c.fail([...path, 'endpoints', j, 'spiffeId'], `is required when peerProtocol is ${peerProtocol} (the peer's identity is verified)`);
        if (e.proxyPort === undefined) c.fail([...path, 'endpoints', j, 'proxyPort'], `is required when peerProtocol is ${peerProtocol} (the peer proxy's inbound port)`);
      });
    }
    const lb = c.oneOf(o.lb, [...path, 'lb'], LB_POLICIES, 'p2c-ewma');
    const hashHeader = c.str(o.hashHeader, [...path, 'hashHeader'])?.toLowerCase();
    if (hashHeader !== undefined && !HEADER_RE.test(hashHeader)) c.fail([...path, 'hashHeader'], 'not a valid header name');
    const pool = c.obj(o.pool, [...path, 'pool'], false) ?? {};
    c.known(pool, [...path, 'pool'], ['maxConnections', 'maxPending', 'maxStreamsPerConnection']);
    clusters.set(
      name,
      Object.freeze({
        name,
        endpoints: Object.freeze(endpoints),
        lb,
        hashHeader,
        peerProtocol,
        protocol: c.oneOf(o.protocol, [...path, 'protocol'], PROTOCOLS, 'auto'),
        connectTimeoutMs: c.int(o.connectTimeoutMs, [...path, 'connectTimeoutMs'], 1000, 1),
        idleTimeoutMs: c.int(o.idleTimeoutMs, [...path, 'idleTimeoutMs'], 60000, 1),
        requestTimeoutMs: c.int(o.requestTimeoutMs, [...path, 'requestTimeoutMs'], 15000, 0),
        maxConnections: c.int(pool.maxConnections, [...path, 'pool', 'maxConnections'], 1024, 1),
        maxPending: c.int(pool.maxPending, [...path, 'pool', 'maxPending'], 1024, 0),
        maxStreamsPerConnection: c.int(pool.maxStreamsPerConnection, [...path, 'pool', 'maxStreamsPerConnection'], 1000, 1),
        ejectAfterFailures: c.int(o.ejectAfterFailures, [...path, 'ejectAfterFailures'], 1, 1),
        ejectBaseMs: c.int(o.ejectBaseMs, [...path, 'ejectBaseMs'], 1000, 1),
      }),
    );
  });

  // services
  const services: ServiceConfig[] = [];
  const hosts = new Map<string, ServiceConfig>();
  const shortOwners = new Map<string, ServiceConfig>();
  c.arr(root.services, ['services']).forEach((raw, i) => {
    const path: Path = ['services', i];
    const o = c.obj(raw, path);
    if (!o) return;
    c.known(o, path, ['name', 'namespace', 'hosts', 'ports']);
    const name = c.str(o.name, [...path, 'name'], true);
    if (name && !NAME_RE.test(name)) c.fail([...path, 'name'], `expected a DNS label (lower case, digits, '-'), got ${describe(name)}`);
    const namespace = c.str(o.namespace, [...path, 'namespace']) ?? wNs;
    const id = `${name}.${namespace}`;
    const ports = new Map<number, ServicePortConfig>();
    c.arr(o.ports, [...path, 'ports'], true).forEach((p, j) => {
      const pp: Path = [...path, 'ports', j];
      const po = c.obj(p, pp);
      if (!po) return;
      c.known(po, pp, ['port', 'protocol', 'routes', 'cluster']);
      const port = c.port(po.port, [...pp, 'port']);
      if (ports.has(port)) c.fail([...pp, 'port'], `duplicate port ${port} in service ${id}`);
      const protocol = c.oneOf(po.protocol, [...pp, 'protocol'], PROTOCOLS, 'auto');
      const defaultCluster = c.str(po.cluster, [...pp, 'cluster']) ?? `${id}:${port}`;
      const routesRaw = c.arr(po.routes, [...pp, 'routes']);
      const routes: RouteConfig[] = [];
      if (routesRaw.length === 0) {
        if (!clusters.has(defaultCluster)) c.fail([...pp, po.cluster === undefined ? 'port' : 'cluster'], `cluster ${JSON.stringify(defaultCluster)} is not defined in clusters`);
        routes.push(compileRoute(c, { backends: [{ cluster: defaultCluster }] }, [...pp], `${id}:${port}/default`, clusters));
      } else {
        routesRaw.forEach((r, k) => routes.push(compileRoute(c, r, [...pp, 'routes', k], `${id}:${port}/${k}`, clusters)));
      }
      ports.set(port, Object.freeze({ id: `${id}:${port}`, port, protocol, routes: Object.freeze(routes) }));
    });
    const extra = c.arr(o.hosts, [...path, 'hosts']).map((h, k) => c.str(h, [...path, 'hosts', k], true).toLowerCase());
    const fq = [id, `${id}.svc`, `${id}.svc.${clusterDomain}`];
    const all = [...fq, ...extra];
    const svc: ServiceConfig = Object.freeze({
      name,
      namespace,
      id,
      hosts: Object.freeze(all),
      ports,
      defaultPort: ports.get(80) ?? (ports.size === 1 ? [...ports.values()][0] : undefined),
    });
    for (const h of all) {
      if (hosts.has(h) && hosts.get(h) !== svc) c.fail([...path, 'hosts'], `host ${h} is already used by service ${hosts.get(h)!.id}`);
      hosts.set(h, svc);
    }
    // Short name: the workload's namespace wins; otherwise the first service declaring it.
    const prev = shortOwners.get(name);
    if (prev === undefined || (namespace === wNs && prev.namespace !== wNs)) shortOwners.set(name, svc);
    services.push(svc);
  });
  for (const [short, svc] of shortOwners) if (!hosts.has(short)) hosts.set(short, svc);

  // listeners
  const l = c.obj(root.listeners, ['listeners'], false) ?? {};
  c.known(l, ['listeners'], ['outbound', 'inbound', 'admin', 'upstreams']);
  const addr = (v: unknown, key: string, defAddress: string, defPort: number): AddressConfig | undefined => {
    if (v === null) return undefined;
    if (v === undefined) return Object.freeze({ address: defAddress, port: defPort });
    const o = c.obj(v, ['listeners', key]);
    if (!o) return undefined;
    c.known(o, ['listeners', key], ['address', 'port']);
    return Object.freeze({ address: c.str(o.address, ['listeners', key, 'address']) ?? defAddress, port: c.port(o.port, ['listeners', key, 'port'], true) });
  };
  const upstreams: UpstreamListenerConfig[] = [];
  c.arr(l.upstreams, ['listeners', 'upstreams']).forEach((raw, i) => {
    const path: Path = ['listeners', 'upstreams', i];
    const o = c.obj(raw, path);
    if (!o) return;
    c.known(o, path, ['service', 'servicePort', 'localPort', 'localAddress', 'protocol']);
    const host = c.str(o.service, [...path, 'service'], true).toLowerCase();
    const servicePortN = c.port(o.servicePort, [...path, 'servicePort']);
    const service = hosts.get(host);
    const sp = service?.ports.get(servicePortN);
    if (host && service === undefined) c.fail([...path, 'service'], `no service ${JSON.stringify(host)} in services`);
    else if (service && sp === undefined) c.fail([...path, 'servicePort'], `service ${service.id} has no port ${servicePortN}`);
    const localPort = c.port(o.localPort, [...path, 'localPort'], true);
    const protocol = c.oneOf(o.protocol, [...path, 'protocol'], PROTOCOLS, sp?.protocol ?? 'auto');
    if (service && sp) {
      upstreams.push(Object.freeze({ service, servicePort: sp, localAddress: c.str(o.localAddress, [...path, 'localAddress']) ?? '127.0.0.1', localPort, protocol }));
    }
  });
  const listeners: ListenersConfig = Object.freeze({
    outbound: addr(l.outbound, 'outbound', '127.0.0.1', 15001),
    inbound: addr(l.inbound, 'inbound', '0.0.0.0', 15006),
    admin: addr(l.admin, 'admin', '127.0.0.1', 15000),
    upstreams: Object.freeze(upstreams),
  });

  const lim = c.obj(root.limits, ['limits'], false) ?? {};
  c.known(lim, ['limits'], ['maxHeaderBytes', 'headerTimeoutMs', 'maxConnections', 'maxConcurrentStreams', 'maxResetsPer10s', 'idleTimeoutMs', 'detectTimeoutMs']);
  const limits: LimitsConfig = Object.freeze({
    maxHeaderBytes: c.int(lim.maxHeaderBytes, ['limits', 'maxHeaderBytes'], 65536, 1024, 16 * 1024 * 1024),
    headerTimeoutMs: c.int(lim.headerTimeoutMs, ['limits', 'headerTimeoutMs'], 10000, 1),
    maxConnections: c.int(lim.maxConnections, ['limits', 'maxConnections'], 10000, 1),
    maxConcurrentStreams: c.int(lim.maxConcurrentStreams, ['limits', 'maxConcurrentStreams'], 250, 1),
    maxResetsPer10s: c.int(lim.maxResetsPer10s, ['limits', 'maxResetsPer10s'], 200, 1),
    idleTimeoutMs: c.int(lim.idleTimeoutMs, ['limits', 'idleTimeoutMs'], 300000, 1),
    detectTimeoutMs: c.int(lim.detectTimeoutMs, ['limits', 'detectTimeoutMs'], 300, 1),
  });

  if (c.issues.length > 0) return err(new ProxyConfigInvalidError(c.issues));
  return ok(
    Object.freeze({
      version: typeof root.version === 'string' ? root.version : options.defaultVersion ?? '0',
      workload,
      listeners,
      services: Object.freeze(services),
      hosts,
      clusters,
      limits,
      drainTimeoutMs: typeof root.drainTimeoutMs === 'number' ? root.drainTimeoutMs : 10000,
      redactedSpec: redact(input),
    }),
  );
}

function compileRoute(c: Checker, raw: unknown, path: Path, defaultName: string, clusters: Map<string, ClusterConfig>): RouteConfig {
  const o = c.obj(raw, path) ?? { backends: [] };
  const isDefault = path[path.length - 2] !== 'routes';
  if (!isDefault) c.known(o, path, ['name', 'match', 'backends', 'timeoutMs', 'requestHeaders', 'responseHeaders', 'redirect']);
  const redirectRaw = isDefault ? undefined : c.obj(o.redirect, [...path, 'redirect'], false);
  const backends: WeightedClusterConfig[] = [];
  c.arr(o.backends, [...path, 'backends'], redirectRaw === undefined).forEach((b, i) => {
    const bp: Path = [...path, 'backends', i];
    const bo = c.obj(b, bp);
    if (!bo) return;
    const cluster = c.str(bo.cluster, [...bp, 'cluster'], true);
    if (!isDefault && cluster && !clusters.has(cluster)) c.fail([...bp, 'cluster'], `cluster ${JSON.stringify(cluster)} is not defined in clusters`);
    backends.push(Object.freeze({ cluster, weight: c.int(bo.weight, [...bp, 'weight'], 1, 0, 1_000_000) }));
  });
  if (redirectRaw !== undefined && backends.length > 0) c.fail([...path, 'backends'], 'a redirect route has no backends');
  if (!isDefault && redirectRaw === undefined && backends.length === 0) c.fail([...path, 'backends'], 'needs at least one backend');
  const totalWeight = backends.reduce((s, b) => s + b.weight, 0);
  if (backends.length > 0 && totalWeight === 0) c.fail([...path, 'backends'], 'weights sum to 0');

  const conditions: Array<(r: RequestView) => boolean> = [];
  const m = c.obj(o.match, [...path, 'match'], false);
  if (m) {
    const mp: Path = [...path, 'match'];
    c.known(m, mp, ['pathExact', 'pathPrefix', 'pathRegex', 'method', 'headers', 'query']);
    const kinds = ['pathExact', 'pathPrefix', 'pathRegex'].filter((k) => m[k] !== undefined);
    if (kinds.length > 1) c.fail(mp, `only one of pathExact, pathPrefix, pathRegex may be set (got ${kinds.join(', ')})`);
    const onlyPath = (p: string) => {
      const q = p.indexOf('?');
      return q < 0 ? p : p.slice(0, q);
    };
    const exact = c.str(m.pathExact, [...mp, 'pathExact']);
    if (exact !== undefined) conditions.push((r) => onlyPath(r.path) === exact);
    const prefix = c.str(m.pathPrefix, [...mp, 'pathPrefix']);
    if (prefix !== undefined) {
      // Gateway API semantics: `/api` matches `/api` and `/api/x`, not `/apix`.
      const p = prefix.endsWith('/') && prefix.length > 1 ? prefix.slice(0, -1) : prefix;
      conditions.push((r) => {
        const path = onlyPath(r.path);
        return p === '/' || path === p || path.startsWith(p + '/');
      });
    }
    const rx = c.str(m.pathRegex, [...mp, 'pathRegex']);
    if (rx !== undefined) {
      const re = c.regex(rx, [...mp, 'pathRegex']);
      if (re) conditions.push((r) => re.test(onlyPath(r.path)));
    }
    const method = c.str(m.method, [...mp, 'method']);
    if (method !== undefined) conditions.push((r) => r.method === method.toUpperCase());
    c.arr(m.headers, [...mp, 'headers']).forEach((h, i) => {
      const hp: Path = [...mp, 'headers', i];
      const ho = c.obj(h, hp);
      if (!ho) return;
      c.known(ho, hp, ['name', 'exact', 'regex', 'present']);
      const name = c.str(ho.name, [...hp, 'name'], true).toLowerCase();
      if (name && !HEADER_RE.test(name)) c.fail([...hp, 'name'], 'not a valid header name');
      const set = ['exact', 'regex', 'present'].filter((k) => ho[k] !== undefined);
      if (set.length !== 1) c.fail(hp, 'exactly one of exact, regex, present must be set');
      if (ho.exact !== undefined) {
        const v = c.str(ho.exact, [...hp, 'exact']) ?? '';
        conditions.push((r) => r.header(name) === v);
      } else if (ho.regex !== undefined) {
        const re = c.regex(c.str(ho.regex, [...hp, 'regex']) ?? '', [...hp, 'regex']);
        if (re) conditions.push((r) => { const v = r.header(name); return v !== undefined && re.test(v); });
      } else if (ho.present !== undefined) {
        const want = ho.present === true;
        if (typeof ho.present !== 'boolean') c.fail([...hp, 'present'], 'expected true or false');
        conditions.push((r) => (r.header(name) !== undefined) === want);
      }
    });
  }
  if (m) {
    c.arr(m.query, [...path, 'match', 'query']).forEach((q, i) => {
      const qp: Path = [...path, 'match', 'query', i];
      const qo = c.obj(q, qp);
      if (!qo) return;
      c.known(qo, qp, ['name', 'exact', 'regex', 'present']);
      const name = c.str(qo.name, [...qp, 'name'], true) ?? '';
      if (name === '') c.fail([...qp, 'name'], 'must not be empty');
      const set = ['exact', 'regex', 'present'].filter((k) => qo[k] !== undefined);
      if (set.length !== 1) c.fail(qp, 'exactly one of exact, regex, present must be set');
      if (qo.exact !== undefined) {
        const v = c.str(qo.exact, [...qp, 'exact']) ?? '';
        conditions.push((r) => queryParam(r.path, name) === v);
      } else if (qo.regex !== undefined) {
        const re = c.regex(c.str(qo.regex, [...qp, 'regex']) ?? '', [...qp, 'regex']);
        if (re) conditions.push((r) => { const v = queryParam(r.path, name); return v !== undefined && re.test(v); });
      } else if (qo.present !== undefined) {
        const want = qo.present === true;
        if (typeof qo.present !== 'boolean') c.fail([...qp, 'present'], 'expected true or false');
        conditions.push((r) => (queryParam(r.path, name) !== undefined) === want);
      }
    });
  }
  let redirect: RedirectConfig | undefined;
  if (redirectRaw !== undefined) {
    const rp: Path = [...path, 'redirect'];
    c.known(redirectRaw, rp, ['scheme', 'host', 'port', 'path', 'prefix', 'statusCode']);
    const scheme = c.str(redirectRaw.scheme, [...rp, 'scheme']);
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') c.fail([...rp, 'scheme'], 'expected http or https');
    const status = c.int(redirectRaw.statusCode, [...rp, 'statusCode'], 301, 300, 399);
    if (!REDIRECT_STATUSES.has(status)) c.fail([...rp, 'statusCode'], 'expected 301, 302, 303, 307 or 308');
    const fullPath = c.str(redirectRaw.path, [...rp, 'path']);
    const prefix = c.str(redirectRaw.prefix, [...rp, 'prefix']);
    if (fullPath !== undefined && prefix !== undefined) c.fail(rp, 'only one of path, prefix may be set');
    for (const [k, v] of [['path', fullPath], ['prefix', prefix]] as const) if (v !== undefined && !v.startsWith('/')) c.fail([...rp, k], 'must start with /');
    const matchedPrefix = typeof m?.pathPrefix === 'string' ? (m.pathPrefix.endsWith('/') && m.pathPrefix.length > 1 ? m.pathPrefix.slice(0, -1) : m.pathPrefix) : undefined;
    if (prefix !== undefined && matchedPrefix === undefined) c.fail([...rp, 'prefix'], 'needs match.pathPrefix (the prefix it replaces)');
    redirect = Object.freeze({
      scheme: scheme as 'http' | 'https' | undefined,
      host: c.str(redirectRaw.host, [...rp, 'host']),
      port: redirectRaw.port === undefined ? undefined : c.int(redirectRaw.port, [...rp, 'port'], 0, 1, 65535),
      path: fullPath,
      prefix: prefix !== undefined && matchedPrefix !== undefined ? Object.freeze([matchedPrefix, prefix] as const) : undefined,
      status,
    });
  }
  const matches = conditions.length === 0 ? () => true : conditions.length === 1 ? conditions[0]! : (r: RequestView) => conditions.every((f) => f(r));
  return Object.freeze({
    name: c.str(o.name, [...path, 'name']) ?? defaultName,
    matches,
    backends: Object.freeze(backends),
    totalWeight,
    timeoutMs: o.timeoutMs === undefined ? -1 : c.int(o.timeoutMs, [...path, 'timeoutMs'], 0, 0),
    requestHeaders: headerEdit(c, o.requestHeaders, [...path, 'requestHeaders']),
    responseHeaders: headerEdit(c, o.responseHeaders, [...path, 'responseHeaders']),
    redirect,
  });
}

function headerEdit(c: Checker, raw: unknown, path: Path): HeaderEditConfig | undefined {
  const o = c.obj(raw, path, false);
  if (!o) return undefined;
  c.known(o, path, ['set', 'add', 'remove']);
  const pairs = (v: unknown, key: string): (readonly [string, string])[] => {
    const m = c.obj(v, [...path, key], false) ?? {};
    return Object.entries(m).map(([k, val]) => {
      if (!HEADER_RE.test(k)) c.fail([...path, key, k], 'not a valid header name');
      if (typeof val !== 'string') c.fail([...path, key, k], `expected a string value, got ${describe(val)}`);
      return [k.toLowerCase(), String(val)] as const;
    });
  };
  return Object.freeze({
    set: pairs(o.set, 'set'),
    add: pairs(o.add, 'add'),
    remove: c.arr(o.remove, [...path, 'remove']).map((r, i) => c.str(r, [...path, 'remove', i], true).toLowerCase()),
  });
}

/** Deep copy with private key material replaced, for /config_dump. */
function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) {
      if (k === 'keyPem') out[k] = '[redacted]';
      else if (k === 'certChainPem' || k === 'trustBundlePem') out[k] = typeof val === 'string' ? `[${val.length} bytes of PEM]` : val;
      else out[k] = redact(val);
    }
    return out;
  }
  return v;
}

/** Effective request timeout for a route + cluster: the route's when set, else the cluster's (0 = none). */
export function requestTimeoutFor(route: RouteConfig, cluster: ClusterConfig): number {
  return route.timeoutMs >= 0 ? route.timeoutMs : cluster.requestTimeoutMs;
}
