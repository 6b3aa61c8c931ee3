// The outbound policy (app → mesh) for HTTP and gRPC, one layer per step, in this order:
//   route → request header edits → deadline → balance → endpoint (mTLS h2 to the peer, or plain)
//   → response header edits → passive health + metrics.
// A connect failure (nothing sent yet) ejects the endpoint passively and tries another, at most twice.
import { performance } from 'node:perf_hooks';
import type { ProxyContext } from '../context.ts';
import { ERROR_MAP, ProxyError } from '../errors.ts';
import type { Exchange } from '../protocols/exchange.ts';
import type { ServicePortConfig } from '../runtime/snapshot.ts';
import type { EndpointState } from '../balancer/endpoint-state.ts';
import { RefusedStreamError, type UpstreamCall } from '../protocols/forward.ts';
import { isRedirect, routable, routeHttpRequest } from '../layers/route.ts';
import { applyHeaderEdit } from '../layers/header-edit.ts';
import { armDeadline, requestDeadlineMs } from '../layers/timeout.ts';
import { pickEndpoint } from '../layers/balance.ts';
import { callEndpoint, ConnectFailure } from '../layers/endpoint.ts';

const CONNECT_CODES = new Set(['CONNECT_REFUSED', 'CONNECT_TIMEOUT', 'CONNECT_FAILED', 'TLS_HANDSHAKE_FAILED', 'PEER_IDENTITY_MISMATCH']);
const MAX_CONNECT_ATTEMPTS = 3;

/** Handles one outbound request; `fixed` is the service port of an upstream listener (else by Host). */
export async function outboundHttp(ctx: ProxyContext, ex: Exchange, fixed: ServicePortConfig | undefined): Promise<void> {
  const started = performance.now();
  ctx.inflight++;
  let status = 0;
  try {
    // 1. route: host/port → service port → first matching route → weighted backend cluster
    const req = routable(ex);
    const routed = routeHttpRequest(ctx.snapshot, ctx.clusters, req, fixed);
    if (isRedirect(routed)) {
      // The route answers itself (HTTPRoute RequestRedirect): no backend, no body.
      status = routed.status;
      ex.respond(routed.status, { location: routed.location, 'content-length': '0' }, true);
      return;
    }
    const decision = routed;
    const { route, cluster } = decision;
    // 2. request header edits of the route
    applyHeaderEdit(ex.headers, route.requestHeaders);
    // 3. deadline: route (or cluster) timeout, shortened by grpc-timeout
    let call: UpstreamCall | undefined;
    let timedOut: ProxyError | undefined;
    const deadlineMs = requestDeadlineMs(route, cluster.config, ex);
    const deadline = armDeadline(deadlineMs, () => {
      timedOut = new ProxyError('REQUEST_TIMEOUT', `${decision.port.id} did not answer within ${deadlineMs} ms`);
      call?.abort(timedOut);
    });
    ex.onAbort(() => call?.abort(new ProxyError('UPSTREAM_RESET', 'client went away')));
    const onHead = route.responseHeaders ? (h: Record<string, string | string[]>) => applyHeaderEdit(h, route.responseHeaders) : undefined;
    try {
      let previous: EndpointState | undefined;
      let lastError: ProxyError | undefined;
      for (let attempt = 1; ; attempt++) {
        if (timedOut) throw timedOut;
        // 4. balance: p2c-ewma / round robin / ring hash over available endpoints
        let ep: EndpointState;
        try {
          ep = pickEndpoint(cluster, req, performance.now(), previous);
        } catch (e) {
          // After a failed connect, the connect error explains more than "no healthy endpoints".
          throw lastError ?? e;
        }
        ep.begin();
        const t0 = performance.now();
        try {
          // 5. endpoint: mTLS h2 stream to the peer proxy, or plain HTTP/1.1 / h2c
          const c = callEndpoint(ctx, cluster.config, ep.config, ex, onHead);
          call = c instanceof Promise ? await c : c;
          if (timedOut) call.abort(timedOut);
          const outcome = await call.done;
          status = outcome.status;
          // 6. passive health: latency into the EWMA
          ep.succeed(performance.now() - t0, performance.now());
          break;
        } catch (e) {
          const pe = e instanceof ConnectFailure ? e.error : e;
          const isConnect = pe instanceof ProxyError && CONNECT_CODES.has(pe.code);
          if (isConnect) ep.connectFailed(cluster.config, performance.now());
          else ep.release();
          // Retry when nothing reached the endpoint: no session, or a stream it refused unprocessed.
          const retryable = (e instanceof ConnectFailure || pe instanceof RefusedStreamError || (isConnect && ex.bodyless)) && !ex.closed && call?.responded !== true;
          if (!retryable || attempt >= MAX_CONNECT_ATTEMPTS || timedOut) {
            // A refused attempt left the request body paused for a retry (forward.ts): none follows, drain it.
            if (!ex.bodyless) ex.body.resume();
            throw pe;
          }
          previous = ep;
          lastError = pe as ProxyError;
          call = undefined;
        }
      }
    } finally {
      deadline?.cancel();
    }
  } catch (e) {
    const pe = e instanceof ProxyError ? e : new ProxyError('UPSTREAM_RESET', (e as Error)?.message ?? String(e), { cause: e });
    ctx.metrics.error('outbound', pe.code);
    try {
      if (!ex.headersSent) ex.fail(pe, 'outbound');
    } catch {
      // the downstream stream is already gone: nothing left to answer
    }
    status = ex.isGrpc ? 200 : ERROR_MAP[pe.code].http;
  } finally {
    ctx.inflight--;
    ctx.metrics.request('outbound', status, (performance.now() - started) / 1000);
  }
}
