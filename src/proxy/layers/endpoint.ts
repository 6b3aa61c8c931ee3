// Endpoint layer: sends a request to the chosen endpoint the way its cluster says — an HTTP/2 stream
// (weft's own codec) on the shared mTLS connection to the peer proxy (naming the app port in
// `weft-dst-port`), or straight to a plain upstream as HTTP/1.1 (keep-alive pool) or h2c (own codec).
// Connect failures reject before anything was sent, so the caller may mark the endpoint and try another.
import type { ProxyContext } from '../context.ts';
import type { H2ClientSession } from '../protocols/h2/api.ts';
import { ProxyError } from '../errors.ts';
import type { EndpointConfig, ClusterConfig } from '../runtime/snapshot.ts';
import type { Exchange } from '../protocols/exchange.ts';
import { ALPN_H2, DST_PORT_HEADER, connectPeer, connectTcp } from '../protocols/mesh-tls.ts';
import { forwardH2, forwardHttp1, type ResponseHook, type UpstreamCall } from '../protocols/forward.ts';
import { openMeshTunnel } from '../protocols/tunnel.ts';

/** The `weft-dst-port` header of each endpoint, built once per endpoint config. */
const dstPortHeaders = new WeakMap<EndpointConfig, readonly string[]>();

/** Wraps a session acquisition so connect errors are ProxyErrors tagged as connect failures. */
export class ConnectFailure extends Error {
  constructor(readonly error: ProxyError) {
    super(error.message);
  }
}

function settleSession(
  s: H2ClientSession | Promise<H2ClientSession>,
  go: (session: H2ClientSession) => UpstreamCall,
): UpstreamCall | Promise<UpstreamCall> {
  if (!(s instanceof Promise)) return go(s);
  return s.then(go, (e: unknown) => {
    throw new ConnectFailure(e instanceof ProxyError ? e : new ProxyError('CONNECT_FAILED', String(e), { cause: e }));
  });
}

/** Starts the upstream call to `ep` of `cluster` (mesh peer or plain upstream). */
export function callEndpoint(
  ctx: ProxyContext,
  cluster: ClusterConfig,
  ep: EndpointConfig,
  ex: Exchange,
  onResponseHead: ResponseHook,
): UpstreamCall | Promise<UpstreamCall> {
  if (cluster.peerProtocol !== 'plain') {
    const material = ctx.identity;
    if (material === undefined) {
      throw new ConnectFailure(new ProxyError('TLS_HANDSHAKE_FAILED', 'this proxy has no workload identity yet, so it cannot open mTLS to peers'));
    }
    const key = `${ep.address}:${ep.proxyPort}|${ep.spiffeId}`;
    const target = `${ep.address}:${ep.proxyPort} (${ep.spiffeId})`;
    // Liveness: a peer connection that read nothing for as long as a request may take (at most 10 s) is probed with a PING.
    const livenessMs = cluster.requestTimeoutMs > 0 && cluster.requestTimeoutMs < 10_000 ? Math.max(cluster.requestTimeoutMs, 1000) : 10_000;
    const session = ctx.meshPool.acquire(key, { maxStreams: cluster.maxStreamsPerConnection, idleTimeoutMs: cluster.idleTimeoutMs, livenessMs }, () =>
      connectPeer({ host: ep.address, port: ep.proxyPort!, material, expectedPeer: ep.spiffeId!, alpn: ALPN_H2, timeoutMs: cluster.connectTimeoutMs }),
    );
    let extra = dstPortHeaders.get(ep);
    if (extra === undefined) {
      extra = [DST_PORT_HEADER, String(ep.port)];
      dstPortHeaders.set(ep, extra);
    }
    return settleSession(session, (s) => forwardH2(s, ex, target, extra, onResponseHead));
  }
  return callPlain(ctx, ep.address, ep.port, cluster.protocol, cluster, ex, onResponseHead);
}

/** A plain (non-mesh) HTTP upstream: h2c for http2/grpc, HTTP/1.1 otherwise; `auto` follows the downstream. */
export function callPlain(
  ctx: ProxyContext,
  address: string,
  port: number,
  protocol: string,
  limits: { connectTimeoutMs: number; idleTimeoutMs: number; maxStreamsPerConnection: number; maxConnections: number; maxPending: number },
  ex: Exchange,
  onResponseHead: ResponseHook,
): UpstreamCall | Promise<UpstreamCall> {
  const h2 = protocol === 'http2' || protocol === 'grpc' || (protocol === 'auto' && (ex.downstreamProtocol === 'h2' || ex.isGrpc));
  const target = `${address}:${port}`;
  if (h2) {
    const session = ctx.plainH2Pool.acquire(target, { maxStreams: limits.maxStreamsPerConnection, idleTimeoutMs: limits.idleTimeoutMs }, () =>
      connectTcp(address, port, limits.connectTimeoutMs),
    );
    return settleSession(session, (s) => forwardH2(s, ex, target, undefined, onResponseHead));
  }
  const pool = ctx.h1Pools.plain(address, port, {
    maxConnections: limits.maxConnections,
    maxPending: limits.maxPending,
    connectTimeoutMs: limits.connectTimeoutMs,
    idleTimeoutMs: limits.idleTimeoutMs,
    maxHeaderBytes: ctx.snapshot.limits.maxHeaderBytes,
  });
  return forwardHttp1(pool, ex, target, onResponseHead);
}

/** Opens a byte stream to `ep` (a `weft-tcp/1` mTLS tunnel to a meshed peer, or plain TCP). */
export function openStream(ctx: ProxyContext, cluster: ClusterConfig, ep: EndpointConfig): Promise<import('node:stream').Duplex> {
  if (cluster.peerProtocol !== 'plain') {
    const material = ctx.identity;
    if (material === undefined) return Promise.reject(new ProxyError('TLS_HANDSHAKE_FAILED', 'this proxy has no workload identity yet, so it cannot open mTLS to peers'));
    return openMeshTunnel({ host: ep.address, proxyPort: ep.proxyPort!, port: ep.port, material, expectedPeer: ep.spiffeId!, timeoutMs: cluster.connectTimeoutMs });
  }
  return connectTcp(ep.address, ep.port, cluster.connectTimeoutMs, true);
}
