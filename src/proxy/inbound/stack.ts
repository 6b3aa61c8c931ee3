// The inbound policy (mesh → app) for HTTP and gRPC, in this order:
//   (mTLS + SPIFFE check already done by the listener) → target port authorization (the port named in
//   weft-dst-port must be one the app declares) → deadline (grpc-timeout) → forward to the app on
//   loopback (HTTP/1.1 keep-alive pool or h2c, per the port's protocol) → metrics.
import { performance } from 'node:perf_hooks';
import type { ProxyContext } from '../context.ts';
import { ERROR_MAP, ProxyError } from '../errors.ts';
import type { Exchange } from '../protocols/exchange.ts';
import { DST_PORT_HEADER } from '../protocols/mesh-tls.ts';
import type { UpstreamCall } from '../protocols/forward.ts';
import { armDeadline, requestDeadlineMs } from '../layers/timeout.ts';
import { callPlain, ConnectFailure } from '../layers/endpoint.ts';

/** Handles one request arriving at the inbound listener. `defaultPort` is used when no weft-dst-port is sent (plaintext clients). */
export async function inboundHttp(ctx: ProxyContext, ex: Exchange): Promise<void> {
  const started = performance.now();
  ctx.inflight++;
  let status = 0;
  try {
    const inbound = ctx.snapshot.workload.inbound;
    // 1. target port: named by the peer proxy, else the app's first declared port
    const named = ex.headers[DST_PORT_HEADER];
    delete ex.headers[DST_PORT_HEADER];
    let portCfg = inbound.ports.values().next().value;
    if (typeof named === 'string') {
      portCfg = inbound.ports.get(Number(named));
      if (portCfg === undefined) throw new ProxyError('FORBIDDEN_PORT', `port ${named} is not a declared port of workload ${ctx.snapshot.workload.name}`);
    }
    if (portCfg === undefined) throw new ProxyError('FORBIDDEN_PORT', `workload ${ctx.snapshot.workload.name} declares no inbound ports`);
    // 2. deadline: only the client's grpc-timeout (the outbound side enforced the route timeout)
    let call: UpstreamCall | undefined;
    let timedOut: ProxyError | undefined;
    const ms = requestDeadlineMs(undefined, undefined, ex);
    const deadline = armDeadline(ms, () => {
      timedOut = new ProxyError('REQUEST_TIMEOUT', `the app did not answer within the client's deadline (${ms} ms)`);
      call?.abort(timedOut);
    });
    ex.onAbort(() => call?.abort(new ProxyError('UPSTREAM_RESET', 'client went away')));
    try {
      // 3. forward to the app on loopback
      const app = `${inbound.appAddress}:${portCfg.port}`;
      const limits = { connectTimeoutMs: 1000, idleTimeoutMs: 60000, maxStreamsPerConnection: 1000, maxConnections: 1024, maxPending: 1024 };
      let c: UpstreamCall | Promise<UpstreamCall>;
      try {
        c = callPlain(ctx, inbound.appAddress, portCfg.port, portCfg.protocol, limits, ex, undefined);
        call = c instanceof Promise ? await c : c;
      } catch (e) {
        throw e instanceof ConnectFailure ? e.error : e;
      }
      if (timedOut) call.abort(timedOut);
      const outcome = await call.done.catch((e: unknown) => {
        if (e instanceof ProxyError && e.code === 'CONNECT_REFUSED') throw new ProxyError('CONNECT_REFUSED', `the app refused the connection on ${app} (is it listening?)`, { cause: e });
        throw e;
      });
      status = outcome.status;
    } finally {
      deadline?.cancel();
    }
  } catch (e) {
    const pe = e instanceof ProxyError ? e : new ProxyError('UPSTREAM_RESET', (e as Error)?.message ?? String(e), { cause: e });
    ctx.metrics.error('inbound', pe.code);
    try {
      if (!ex.headersSent) ex.fail(pe, 'inbound');
    } catch {
      // the downstream stream is already gone: nothing left to answer
    }
    status = ex.isGrpc ? 200 : ERROR_MAP[pe.code].http;
  } finally {
    ctx.inflight--;
    ctx.metrics.request('inbound', status, (performance.now() - started) / 1000);
  }
}
