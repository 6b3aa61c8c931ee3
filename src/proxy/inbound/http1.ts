// Inbound HTTP/1.1 on the HTTP/1 engine (ALPN http/1.1 from a peer proxy, or plaintext in PERMISSIVE
// mode): the port named by weft-dst-port (else the app's first port) must be declared by the workload;
// the request is then forwarded on the engine's fast path to the app on loopback, with weft-dst-port
// removed.
import { performance } from 'node:perf_hooks';
import type { Http1ServerConn } from '../protocols/http1/server.ts';
import type { Http1Head } from '../protocols/http1/parser.ts';
import { compileForward, forward, type ForwardPlan } from '../protocols/http1/forward.ts';
import { ProxyError, fromUpstreamError } from '../errors.ts';
import { DST_PORT_HEADER } from '../protocols/mesh-tls.ts';
import { respondProxyError, type H1State } from '../outbound/http1.ts';
import type { ProxyContext } from '../context.ts';
import type { PoolLimits } from '../protocols/http1-pools.ts';
import type { RuntimeSnapshot } from '../runtime/snapshot.ts';

const plans = new WeakMap<ProxyContext, ForwardPlan>();
const appPoolLimits = new WeakMap<RuntimeSnapshot['limits'], PoolLimits>();

/** Limits of the pools towards the app: built once per snapshot, not per request. */
function appLimits(limits: RuntimeSnapshot['limits']): PoolLimits {
  let l = appPoolLimits.get(limits);
  if (l === undefined) {
    l = { maxConnections: 1024, maxPending: 1024, connectTimeoutMs: 1000, idleTimeoutMs: 60000, maxHeaderBytes: limits.maxHeaderBytes };
    appPoolLimits.set(limits, l);
  }
  return l;
}

function inboundPlan(ctx: ProxyContext): ForwardPlan {
  let plan = plans.get(ctx);
  if (plan === undefined) {
    plan = compileForward({
      requestHeaders: { remove: [DST_PORT_HEADER] },
      // weft-dst-port is dropped in place in the peer's chunk: this listener reads nothing of the head by offset afterwards, and never retries.
      compactRequestHead: true,
      onError: (conn, error) => {
        const st = conn.context as H1State;
        const code = fromUpstreamError(error);
        st.ctx.metrics.error('inbound', code);
        const reason = code === 'CONNECT_REFUSED' ? `the app refused the connection (is it listening?): ${error.message}` : error.message;
        respondProxyError(conn, new ProxyError(code, reason, { cause: error }), 'inbound');
      },
      onDone: (conn, outcome) => {
        const st = conn.context as H1State;
        st.ctx.inflight--;
        st.ctx.metrics.request('inbound', outcome.status, (performance.now() - st.started) / 1000);
      },
    });
    plans.set(ctx, plan);
  }
  return plan;
}

export function inboundHttp1(conn: Http1ServerConn, head: Http1Head): void {
  const st = conn.context as H1State;
  const ctx = st.ctx;
  const inbound = ctx.snapshot.workload.inbound;
  const named = head.get(DST_PORT_HEADER);
  const port = named === undefined ? inbound.ports.values().next().value : inbound.ports.get(Number(named));
  if (port === undefined) {
    ctx.metrics.error('inbound', 'FORBIDDEN_PORT');
    ctx.metrics.request('inbound', 403, 0);
    return respondProxyError(conn, new ProxyError('FORBIDDEN_PORT', `port ${String(named)} is not a declared port of workload ${ctx.snapshot.workload.name}`), 'inbound');
  }
  st.started = performance.now();
  ctx.inflight++;
  // The pool and plan of the previous request on this (pooled, keep-alive) peer connection, while the
  // snapshot is the same object: pools are closed only when a snapshot drops them.
  const snapshot = ctx.snapshot;
  let pool = st.memoPool;
  let plan = st.memoPlan;
  if (pool === null || plan === null || st.memoSnapshot !== snapshot || st.memoAppPort !== port.port) {
    pool = ctx.h1Pools.plain(inbound.appAddress, port.port, appLimits(snapshot.limits));
    plan = inboundPlan(ctx);
    st.memoSnapshot = snapshot;
    st.memoAppPort = port.port;
    st.memoPool = pool;
    st.memoPlan = plan;
  }
  forward(conn, pool, plan);
}
