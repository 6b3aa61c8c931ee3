// Outbound HTTP/1.1 on the HTTP/1 engine. The policy is the same as outbound/stack.ts (route → header
// edits → deadline → balance → endpoint → passive health + metrics), on two fast paths: an HTTP/1 →
// HTTP/1 hop (peerProtocol `http1`: pooled HTTP/1.1 over mTLS to the peer; or a plain HTTP/1 upstream)
// re-serialises the head once and passes bodies through as bytes; an HTTP/1 → HTTP/2 hop to a peer
// proxy (peerProtocol `h2`, the default) or to an h2c app (a plain cluster of protocol `http2`) puts
// the request straight onto a stream of weft's own codec (protocols/h2-bridge.ts) on the one pooled
// session to that endpoint. gRPC upstreams go through the Exchange stack; Upgrade requests to HTTP/2
// peers become byte tunnels (outbound/tcp.ts).
import { performance } from 'node:perf_hooks';
import type { ProxyContext } from '../context.ts';
import { ProxyError, fromUpstreamError, rescue, ERROR_MAP } from '../errors.ts';
import type { Http1ServerConn } from '../protocols/http1/server.ts';
import type { Http1Head } from '../protocols/http1/parser.ts';
import { compileForward, forward, respondError, type ForwardPlan } from '../protocols/http1/forward.ts';
import type { UpstreamError } from '../protocols/http1/errors.ts';
import { EngineExchange, targetOf } from '../protocols/http1-exchange.ts';
import type { EndpointState } from '../balancer/endpoint-state.ts';
import type { ClusterConfig, EndpointConfig, RouteConfig, ServicePortConfig } from '../runtime/snapshot.ts';
import type { PoolLimits } from '../protocols/http1-pools.ts';
import type { Http1Pool } from '../protocols/http1/pool.ts';
import { requestTimeoutFor, resolveAuthority, selectRoute, type RuntimeSnapshot } from '../runtime/snapshot.ts';
import { isRedirect, routeHttpRequest, type RedirectDecision, type RoutableRequest, type RouteDecision } from '../layers/route.ts';
import { pickEndpoint } from '../layers/balance.ts';
import { ALPN_H2, DST_PORT_HEADER, connectPeer, connectTcp } from '../protocols/mesh-tls.ts';
import { H2Bridge, compileFlatEdits, requestHeaderList, type H2BridgePlan, type BridgeOutcome } from '../protocols/h2-bridge.ts';
import type { H2ClientSession } from '../protocols/h2/api.ts';
import { outboundHttp } from './stack.ts';
import { outboundTcp } from './tcp.ts';
import type { Direction } from '../metrics.ts';

const CONNECT_CODES = new Set(['CONNECT_REFUSED', 'CONNECT_TIMEOUT', 'CONNECT_FAILED', 'PEER_IDENTITY_MISMATCH', 'TLS_HANDSHAKE_FAILED']);

/** Per-connection scratch for the exchange in flight (one fixed-shape object per client connection). */
export class H1State {
  endpoint: EndpointState | null = null;
  started = 0;
  /** The current request's routing decision and view, kept for a retry after a connect failure. */
  decision: RouteDecision | null = null;
  req: RoutableRequest | null = null;
  attempts = 0;
  lastEndpoint: EndpointConfig | null = null;
  /** The HTTP/2 bridge of this connection (peer h2 or an h2c app), made on its first such request. */
  bridge: H2Bridge | null = null;
  /** The current request goes over HTTP/2 (the bridge). */
  h2 = false;
  // Per-connection memos of the previous request's lookups, valid while the snapshot is the same object
  // (a keep-alive client usually sends the same Host to the same target): the service port of an
  // authority, the forwarding plan of (route, cluster) and the HTTP/1 pool of an endpoint.
  memoSnapshot: RuntimeSnapshot | null = null;
  memoAuthority = '';
  memoPort: ServicePortConfig | undefined = undefined;
  memoRoute: RouteConfig | null = null;
  memoCluster: ClusterConfig | null = null;
  memoPlan: ForwardPlan | null = null;
  memoEndpoint: EndpointConfig | null = null;
  memoPool: Http1Pool | null = null;
  /** Inbound: the app port whose pool memoPool is. */
  memoAppPort = 0;
  /** The routing decision of the previous request (a route with one backend: the same cluster again). */
  memoDecision: RouteDecision | null = null;
  /** This connection's routing view, refilled per request (one request at a time per connection). */
  view: Http1RouteView | null = null;
  constructor(readonly ctx: ProxyContext, readonly direction: Direction, readonly fixed: ServicePortConfig | undefined) {}
}

/** The routing view of an engine request: reads headers from the parsed head on demand. One per connection, refilled per request. */
class Http1RouteView implements RoutableRequest {
  method = '';
  path = '';
  authority = '';
  constructor(
    private readonly conn: Http1ServerConn,
    private readonly head: Http1Head,
  ) {}

  /** Read only when asked (ring hash without a hash header): node asks the kernel for it (getpeername). */
  get remoteAddress(): string {
    return this.conn.socket.remoteAddress ?? '';
  }

  header(name: string): string | undefined {
    return this.head.get(name);
  }
}

/** Answers a proxy-generated failure on an engine connection (the one mapping in errors.ts). */
export function respondProxyError(conn: Http1ServerConn, error: unknown, where: string): void {
  const r = rescue(error, { grpc: false, head: conn.head.method === 'HEAD', where });
  const code = error instanceof ProxyError ? error.code : 'UPSTREAM_RESET';
  respondError(conn, { status: r.status, code, reason: error instanceof ProxyError ? error.reason : String(error) });
}

const plans = new WeakMap<RouteConfig, Map<string, ForwardPlan>>();

/** The forwarding plan of (route, cluster): built once per snapshot target, reused per request. */
export function planFor(ctx: ProxyContext, route: RouteConfig, cluster: ClusterConfig): ForwardPlan {
  let byCluster = plans.get(route);
  if (byCluster === undefined) {
    byCluster = new Map();
    plans.set(route, byCluster);
  }
  let plan = byCluster.get(cluster.name);
  if (plan === undefined) {
    plan = compileForward({
      // weft-dst-port is mesh-internal: an app cannot choose the peer's port by sending it.
      requestHeaders: { set: route.requestHeaders?.set, add: route.requestHeaders?.add, remove: [...(route.requestHeaders?.remove ?? []), DST_PORT_HEADER] },
      responseHeaders: route.responseHeaders ? { set: route.responseHeaders.set, add: route.responseHeaders.add, remove: route.responseHeaders.remove } : undefined,
      requestTimeoutMs: requestTimeoutFor(route, cluster),
      onError: (conn, error) => {
        // Nothing reached the endpoint (connect refused / timed out / TLS): try another one.
        const st = conn.context as H1State;
        if (error.retryable && st.attempts < MAX_ATTEMPTS && retry(conn, st)) return;
        onUpstreamError(conn, error, cluster);
      },
      onDone: (conn, outcome) => {
        const st = conn.context as H1State;
        const ep = st.endpoint;
        st.endpoint = null;
        const now = performance.now();
        if (ep !== null) {
          const code = outcome.error ? fromUpstreamError(outcome.error) : undefined;
          if (code !== undefined && CONNECT_CODES.has(code)) ep.connectFailed(cluster, now);
          else if (outcome.status > 0) ep.succeed(now - st.started, now);
          else ep.release();
        }
        ctx.inflight--;
        // A failure before any response byte is counted by onError (after a possible retry).
        if (outcome.status > 0 || outcome.error === null) st.ctx.metrics.request(st.direction, outcome.status, (now - st.started) / 1000);
      },
    });
    byCluster.set(cluster.name, plan);
  }
  return plan;
}

const MAX_ATTEMPTS = 3;

const h2Plans = new WeakMap<RouteConfig, Map<string, H2BridgePlan>>();

/** The HTTP/2 bridge plan of (route, cluster): edits compiled for flat header lists, policy hooks. */
function h2PlanFor(ctx: ProxyContext, route: RouteConfig, cluster: ClusterConfig): H2BridgePlan {
  let byCluster = h2Plans.get(route);
  if (byCluster === undefined) {
    byCluster = new Map();
    h2Plans.set(route, byCluster);
  }
  let plan = byCluster.get(cluster.name);
  if (plan === undefined) {
    plan = {
      // weft-dst-port is mesh-internal: an app cannot choose the peer's port by sending it.
      requestEdits: compileFlatEdits(route.requestHeaders, [DST_PORT_HEADER]),
      responseEdits: route.responseHeaders ? compileFlatEdits(route.responseHeaders) : null,
      requestTimeoutMs: requestTimeoutFor(route, cluster),
      onDone: (conn, outcome: BridgeOutcome) => {
        const st = conn.context as H1State;
        const ep = st.endpoint;
        st.endpoint = null;
        const now = performance.now();
        if (ep !== null) {
          if (outcome.error !== null && CONNECT_CODES.has(outcome.error.code)) ep.connectFailed(cluster, now);
          else if (outcome.status > 0) ep.succeed(now - st.started, now);
          else ep.release();
        }
        ctx.inflight--;
        // A failure before any response byte is counted by onError (after a possible retry).
        if (outcome.status > 0 || outcome.error === null) st.ctx.metrics.request(st.direction, outcome.status, (now - st.started) / 1000);
      },
      onError: (conn, error, retryable) => {
        const st = conn.context as H1State;
        if (retryable && st.attempts < MAX_ATTEMPTS && retry(conn, st)) return;
        st.bridge?.abandon();
        st.ctx.metrics.error(st.direction, error.code);
        st.ctx.metrics.request(st.direction, ERROR_MAP[error.code].http, (performance.now() - st.started) / 1000);
        if (!conn.closed && !conn.responseStarted) respondProxyError(conn, error, st.direction);
        else conn.destroy(error);
      },
    };
    byCluster.set(cluster.name, plan);
  }
  return plan;
}

/** What the h2 path needs per endpoint (a peer proxy over mTLS, or an h2c app), built once per endpoint config. */
interface H2Target {
  /** Pool key: endpoint + expected identity (mesh), or address:port (h2c). */
  readonly key: string;
  readonly target: string;
  /** Fields added to every request ([name, value]): weft-dst-port to a peer, none to an app. */
  readonly extra: readonly string[];
  readonly mesh: boolean;
  readonly connect: () => Promise<import('node:stream').Duplex>;
}
const h2Targets = new WeakMap<EndpointConfig, H2Target>();

function h2TargetOf(ctx: ProxyContext, e: EndpointConfig, cluster: ClusterConfig): H2Target {
  let t = h2Targets.get(e);
  if (t === undefined) {
    if (cluster.peerProtocol === 'h2') {
      const material = (): NonNullable<ProxyContext['identity']> => {
        const m = ctx.identity;
        if (m === undefined) throw new ProxyError('TLS_HANDSHAKE_FAILED', 'this proxy has no workload identity yet, so it cannot open mTLS to peers');
        return m;
      };
      t = {
        key: `${e.address}:${e.proxyPort}|${e.spiffeId}`,
        target: `${e.address}:${e.proxyPort} (${e.spiffeId})`,
        extra: [DST_PORT_HEADER, String(e.port)],
        mesh: true,
        connect: () => connectPeer({ host: e.address, port: e.proxyPort!, material: material(), expectedPeer: e.spiffeId!, alpn: ALPN_H2, timeoutMs: cluster.connectTimeoutMs }),
      };
    } else {
      const target = `${e.address}:${e.port}`;
      t = { key: target, target, extra: [], mesh: false, connect: () => connectTcp(e.address, e.port, cluster.connectTimeoutMs) };
    }
    h2Targets.set(e, t);
  }
  return t;
}

/** One attempt of an h2 request: a ready session (or the wait for one), then a stream. */
function sendH2(conn: Http1ServerConn, st: H1State, cluster: ClusterConfig, e: EndpointConfig): void {
  const bridge = st.bridge!;
  const t = h2TargetOf(st.ctx, e, cluster);
  const headers = bridge.headers!;
  if (t.extra.length > 0 && headers[headers.length - 1] !== t.extra[1]) {
    // Another attempt, to an endpoint whose app port differs: a fresh list (the codec may still hold the old one).
    const copy = headers.slice();
    copy[copy.length - 1] = t.extra[1]!;
    bridge.headers = copy;
  }
  let session: H2ClientSession | Promise<H2ClientSession>;
  try {
    if (t.mesh && st.ctx.identity === undefined) throw new ProxyError('TLS_HANDSHAKE_FAILED', 'this proxy has no workload identity yet, so it cannot open mTLS to peers');
    const pool = t.mesh ? st.ctx.meshPool : st.ctx.plainH2Pool;
    session = pool.acquire(t.key, { maxStreams: cluster.maxStreamsPerConnection, idleTimeoutMs: cluster.idleTimeoutMs }, t.connect);
  } catch (error) {
    bridge.connectFailed(error instanceof ProxyError ? error : new ProxyError('CONNECT_FAILED', String(error), { cause: error }), bridge.generation);
    return;
  }
  if (!(session instanceof Promise)) {
    bridge.open(session, t.target);
    return;
  }
  const generation = bridge.generation;
  session.then(
    (s) => bridge.open(s, t.target, generation),
    (error: unknown) => bridge.connectFailed(error instanceof ProxyError ? error : new ProxyError('CONNECT_FAILED', String(error), { cause: error }), generation),
  );
}

function onUpstreamError(conn: Http1ServerConn, error: UpstreamError, cluster: ClusterConfig): void {
  const st = conn.context as H1State;
  const code = fromUpstreamError(error);
  st.ctx.metrics.error(st.direction, code);
  st.ctx.metrics.request(st.direction, ERROR_MAP[code].http, (performance.now() - st.started) / 1000);
  const reason = code === 'REQUEST_TIMEOUT' ? `${cluster.name} did not answer within ${cluster.requestTimeoutMs} ms` : error.message;
  respondProxyError(conn, new ProxyError(code, reason, { cause: error }), st.direction);
}

/** Re-sends the current request to another available endpoint; false when there is none. */
function retry(conn: Http1ServerConn, st: H1State): boolean {
  const decision = st.decision;
  const req = st.req;
  if (decision === null || req === null || conn.closed || conn.responseStarted) return false;
  const failed = decision.cluster.endpoints.find((e) => e.config === st.lastEndpoint);
  let ep: EndpointState;
  try {
    ep = pickEndpoint(decision.cluster, req, performance.now(), failed);
  } catch {
    return false;
  }
  if (!ep.available(performance.now())) return false;
  send(conn, st, decision, ep);
  return true;
}

const limitsCache = new WeakMap<ClusterConfig, PoolLimits>();
const dstHeaders = new WeakMap<EndpointConfig, string>();

/** Starts one attempt: pool of the endpoint (mTLS http/1.1 to the peer, or plain), then forward(). */
function send(conn: Http1ServerConn, st: H1State, decision: RouteDecision, ep: EndpointState): void {
  const ctx = st.ctx;
  const cluster = decision.cluster.config;
  st.attempts++;
  ep.begin();
  st.endpoint = ep;
  st.lastEndpoint = ep.config;
  ctx.inflight++;
  const e = ep.config;
  if (st.h2) {
    sendH2(conn, st, cluster, e);
    return;
  }
  const snapshot = ctx.snapshot;
  let plan = st.memoPlan;
  if (plan === null || st.memoRoute !== decision.route || st.memoCluster !== cluster || st.memoSnapshot !== snapshot) {
    plan = planFor(ctx, decision.route, cluster);
    st.memoPlan = plan;
    st.memoRoute = decision.route;
    st.memoCluster = cluster;
  }
  // Pools are closed only when a snapshot drops their endpoint, so a pool found under this snapshot stays open.
  let pool = st.memoPool;
  if (pool === null || st.memoEndpoint !== e || st.memoSnapshot !== snapshot) {
    let limits = limitsCache.get(cluster);
    if (limits === undefined) {
      limits = { maxConnections: cluster.maxConnections, maxPending: cluster.maxPending, connectTimeoutMs: cluster.connectTimeoutMs, idleTimeoutMs: cluster.idleTimeoutMs, maxHeaderBytes: snapshot.limits.maxHeaderBytes };
      limitsCache.set(cluster, limits);
    }
    pool = cluster.peerProtocol === 'http1' ? ctx.h1Pools.mesh(e.address, e.proxyPort!, e.spiffeId!, limits) : ctx.h1Pools.plain(e.address, e.port, limits);
    st.memoPool = pool;
    st.memoEndpoint = e;
  }
  if (cluster.peerProtocol === 'http1') {
    let extra = dstHeaders.get(e);
    if (extra === undefined) {
      extra = `${DST_PORT_HEADER}: ${e.port}\r\n`;
      dstHeaders.set(e, extra);
    }
    forward(conn, pool, plan, extra);
  } else {
    forward(conn, pool, plan);
  }
}

/** Engine onRequest for the outbound listener (by Host) and HTTP/1 upstream listeners. */
export function outboundHttp1(conn: Http1ServerConn, head: Http1Head): void {
  const st = conn.context as H1State;
  const ctx = st.ctx;
  let authority = head.host;
  let path = head.target;
  if (head.absoluteForm) ({ authority, path } = targetOf(head));
  const req = (st.view ??= new Http1RouteView(conn, head));
  req.method = head.method;
  req.path = path;
  req.authority = authority;
  const snapshot = ctx.snapshot;
  if (st.memoSnapshot !== snapshot) {
    // Clusters, pools and plans are rebuilt or retired with a new snapshot: forget every memo.
    st.memoSnapshot = snapshot;
    st.memoAuthority = '';
    st.memoPort = undefined;
    st.memoPlan = null;
    st.memoPool = null;
    st.memoDecision = null;
  }
  let port = st.fixed;
  if (port === undefined && authority !== '') {
    // The same Host as the previous request on this connection: the same service port (the parser hands
    // back the same string object then, so this is usually a pointer compare).
    if (authority === st.memoAuthority) port = st.memoPort;
    else {
      port = resolveAuthority(snapshot, authority)?.port;
      if (port !== undefined) {
        st.memoAuthority = authority;
        st.memoPort = port;
      }
    }
  }
  let routed: RouteDecision | RedirectDecision;
  try {
    // Same port and the same route as the previous request, and that route has a single backend: the
    // previous decision again (no new objects, no cluster lookup). Anything else is routed in full.
    const memo = st.memoDecision;
    const route = memo !== null && memo.port === port ? selectRoute(port, req) : undefined;
    if (route !== undefined && route === memo!.route && route.backends.length === 1) routed = memo!;
    else {
      routed = routeHttpRequest(snapshot, ctx.clusters, req, port);
      if (!isRedirect(routed)) st.memoDecision = routed;
    }
  } catch (e) {
    ctx.metrics.error('outbound', (e as ProxyError).code);
    ctx.metrics.request('outbound', ERROR_MAP[(e as ProxyError).code]?.http ?? 502, 0);
    return respondProxyError(conn, e, 'outbound');
  }
  if (isRedirect(routed)) {
    // The route answers itself (HTTPRoute RequestRedirect): no backend, no body.
    ctx.metrics.request('outbound', routed.status, 0);
    conn.respond(routed.status, [['location', routed.location]]);
    return;
  }
  const decision = routed;
  const cluster = decision.cluster.config;
  // HTTP/2 upstreams (a peer proxy, or an h2c app) take the bridge; CONNECT and Upgrade do not.
  const h2 = (cluster.peerProtocol === 'h2' || (cluster.peerProtocol === 'plain' && cluster.protocol === 'http2')) && head.method !== 'CONNECT' && !(head.upgrade !== '' && head.connectionUpgrade);
  const fast = h2 || cluster.peerProtocol === 'http1' || (cluster.peerProtocol === 'plain' && (cluster.protocol === 'http1' || cluster.protocol === 'auto'));
  if (!fast) {
    if (head.upgrade !== '' && head.connectionUpgrade) {
      const raw = Buffer.from(head.buf.subarray(head.start, head.end));
      const { socket, rest } = conn.takeOver();
      outboundTcp(ctx, socket, decision, req, Buffer.concat([raw, rest]), ctx.snapshot.limits.idleTimeoutMs).catch((e: unknown) => {
        const r = rescue(e, { grpc: false, where: 'upgrade' });
        let h = `HTTP/1.1 ${r.status} Error\r\nconnection: close\r\n`;
        for (const [k, v] of Object.entries(r.headers)) h += `${k}: ${v}\r\n`;
        socket.end(h + '\r\n' + r.body);
      });
      return;
    }
    void outboundHttp(ctx, new EngineExchange(conn, head), st.fixed);
    return;
  }
  let ep: EndpointState;
  const now = performance.now();
  try {
    ep = pickEndpoint(decision.cluster, req, now);
  } catch (e) {
    ctx.metrics.error('outbound', (e as ProxyError).code);
    ctx.metrics.request('outbound', 503, 0);
    return respondProxyError(conn, e, 'outbound');
  }
  st.started = now;
  st.decision = decision;
  st.req = req;
  st.attempts = 0;
  st.h2 = h2;
  if (h2) {
    const bridge = (st.bridge ??= new H2Bridge(conn));
    const plan = h2PlanFor(ctx, decision.route, cluster);
    if (!bridge.start(plan, requestHeaderList(head, authority, path, plan.requestEdits, h2TargetOf(ctx, ep.config, cluster).extra))) return;
  }
  send(conn, st, decision, ep);
}
