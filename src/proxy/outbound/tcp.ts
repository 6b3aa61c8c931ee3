// Outbound opaque TCP (and HTTP/1 Upgrade, e.g. WebSocket): pick an endpoint of the port's cluster,
// open a byte stream to it (mTLS `weft-tcp/1` tunnel to the peer proxy, or plain TCP), optionally
// replay the bytes already read (the Upgrade request head), then splice both ways.
// A connect failure ejects the endpoint and tries another, at most three endpoints.
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { ProxyContext } from '../context.ts';
import { ProxyError } from '../errors.ts';
import { splice } from '../protocols/tcp.ts';
import type { EndpointState } from '../balancer/endpoint-state.ts';
import { pickEndpoint } from '../layers/balance.ts';
import { openStream } from '../layers/endpoint.ts';
import type { RoutableRequest, RouteDecision } from '../layers/route.ts';

/** Connects to an endpoint of `decision.cluster`; resolves with the upstream stream. */
export async function connectUpstream(ctx: ProxyContext, decision: RouteDecision, req: RoutableRequest): Promise<Duplex> {
  const cluster = decision.cluster;
  let previous: EndpointState | undefined;
  for (let attempt = 1; ; attempt++) {
    const ep = pickEndpoint(cluster, req, performance.now(), previous);
    ep.begin();
    const t0 = performance.now();
    try {
      const s = await openStream(ctx, cluster.config, ep.config);
      ep.succeed(performance.now() - t0, performance.now());
      return s;
    } catch (e) {
      const pe = e instanceof ProxyError ? e : new ProxyError('CONNECT_FAILED', String(e), { cause: e });
      if (pe.code === 'FORBIDDEN_PORT') ep.release();
      else ep.connectFailed(cluster.config, performance.now());
      if (attempt >= 3 || pe.code === 'FORBIDDEN_PORT') throw pe;
      previous = ep;
    }
  }
}

/** Splices `client` to a new upstream stream; `replay` is written first (bytes already consumed). */
export async function outboundTcp(ctx: ProxyContext, client: Duplex, decision: RouteDecision, req: RoutableRequest, replay: Buffer | undefined, idleTimeoutMs: number): Promise<void> {
  let upstream: Duplex;
  try {
    upstream = await connectUpstream(ctx, decision, req);
  } catch (e) {
    ctx.metrics.error('outbound', e instanceof ProxyError ? e.code : 'CONNECT_FAILED');
    throw e;
  }
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  if (replay !== undefined && replay.length > 0) upstream.write(replay);
  ctx.tunnels++;
  splice(client, upstream, { idleTimeoutMs, onClose: () => ctx.tunnels-- });
}
