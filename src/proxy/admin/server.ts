// The admin server (127.0.0.1 by default): /live, /ready (503 while draining or without a needed
// identity), /metrics (Prometheus text), /config_dump (the runtime snapshot, keys redacted) and
// /certs (SPIFFE ID, validity), /memory (what the process holds). Read-only; never prints secrets.
// It is served by the proxy's own HTTP/1 engine (protocols/http1/server.ts), not node's `http`
// module, which a proxy would otherwise load for this port alone (docs/PROXY.md "Memory").
import net from 'node:net';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { PROMETHEUS_CONTENT_TYPE } from '../../telemetry/metrics.ts';
import type { WeftProxy } from '../proxy.ts';
import { Http1Server, type Http1ServerConn } from '../protocols/http1/server.ts';
import type { Http1Head } from '../protocols/http1/parser.ts';
import { AWAITING_CONTROL_PLANE_VERSION } from '../runtime/spec.ts';
import { heapSpaceBytes, heapSpaces, proxyHeapLimits, startupCompilerState } from '../runtime/heap.ts';

export interface AdminServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** npm packages this process has loaded through the CommonJS loader (how grpc-js, protobufjs, yaml, pino, commander load). */
function loadedCommonJsPackages(): string[] {
  const names = new Set<string>();
  for (const file of Object.keys(createRequire(import.meta.url).cache)) {
    const parts = file.split(/[\\/]/);
    const at = parts.lastIndexOf('node_modules');
    if (at < 0 || at + 1 >= parts.length) continue;
    const scopeOrName = parts[at + 1]!;
    names.add(scopeOrName.startsWith('@') ? `${scopeOrName}/${parts[at + 2]}` : scopeOrName);
  }
  return [...names].sort();
}

/** Node's own modules this process has loaded (`net`, `tls`, `http2`...; internal ones left out). */
function loadedBuiltinModules(): string[] {
  // `process.moduleLoadList` is node's record of every builtin it has loaded ("NativeModule net").
  const list = (process as unknown as { moduleLoadList?: readonly string[] }).moduleLoadList ?? [];
  const names = new Set<string>();
  for (const entry of list) {
    if (!entry.startsWith('NativeModule ')) continue;
    const name = entry.slice('NativeModule '.length);
    if (!name.startsWith('internal/')) names.add(name);
  }
  return [...names].sort();
}

/** /memory: resident memory and its V8 breakdown, the heap limits in effect, and the loaded modules. */
function memoryReport(): Record<string, unknown> {
  const u = process.memoryUsage();
  return {
    rssBytes: u.rss,
    heapUsedBytes: u.heapUsed,
    heapTotalBytes: u.heapTotal,
    externalBytes: u.external,
    arrayBuffersBytes: u.arrayBuffers,
    youngGenerationBytes: heapSpaceBytes('new_space'),
    oldSpaceBytes: heapSpaceBytes('old_space'),
    heapSpaces: heapSpaces(),
    heapLimits: proxyHeapLimits(),
    startupCompiler: startupCompilerState(),
    builtinModules: loadedBuiltinModules(),
    commonJsPackages: loadedCommonJsPackages(),
  };
}

const JSON_TYPE: ReadonlyArray<readonly [string, string]> = [['content-type', 'application/json']];
const PROMETHEUS_TYPE: ReadonlyArray<readonly [string, string]> = [['content-type', PROMETHEUS_CONTENT_TYPE]];

function json(conn: Http1ServerConn, status: number, body: unknown): void {
  conn.respond(status, JSON_TYPE, Buffer.from(JSON.stringify(body, null, 2) + '\n', 'utf8'));
}

/** Readiness: listeners up, configured, not draining, and an identity present when mTLS is needed. */
export function readiness(proxy: WeftProxy): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (proxy.draining) reasons.push('draining');
  const s = proxy.snapshot;
  if (s.version === AWAITING_CONTROL_PLANE_VERSION) reasons.push('waiting for the first configuration from the control plane');
  const needsIdentity = s.workload.inbound.mtlsMode !== 'DISABLED' || [...s.clusters.values()].some((c) => c.peerProtocol !== 'plain');
  const id = proxy.ctx.identity;
  if (needsIdentity && id === undefined) reasons.push('no workload identity');
  if (id !== undefined && id.notAfter.getTime() < Date.now()) reasons.push('workload certificate expired');
  return { ready: reasons.length === 0, reasons };
}

/** Answers one admin request (GET or HEAD; the engine leaves the body out of HEAD responses). */
function answer(proxy: WeftProxy, conn: Http1ServerConn, head: Http1Head): void {
  const path = head.target.split('?')[0];
  if (head.method !== 'GET' && head.method !== 'HEAD') return json(conn, 405, { error: 'only GET' });
  switch (path) {
    case '/live':
      return json(conn, 200, { live: true });
    case '/ready': {
      const r = readiness(proxy);
      return json(conn, r.ready ? 200 : 503, r);
    }
    case '/metrics':
      return conn.respond(200, PROMETHEUS_TYPE, Buffer.from(proxy.ctx.metrics.registry.expose(), 'utf8'));
    case '/config_dump': {
      const s = proxy.snapshot;
      return json(conn, 200, {
        version: s.version,
        spec: s.redactedSpec,
        listeners: Object.fromEntries(
          Object.entries(proxy.addresses).map(([k, v]) => [k, v instanceof Map ? Object.fromEntries(v) : v]),
        ),
        clusters: [...proxy.ctx.clusters.all()].map((c) => ({
          name: c.config.name,
          lb: c.config.lb,
          peerProtocol: c.config.peerProtocol,
          endpoints: c.endpoints.map((e) => ({ endpoint: e.config.key, spiffeId: e.config.spiffeId, inflight: e.inflight, ewmaMs: Number(e.ewmaMs.toFixed(3)), ejected: e.ejected, ejections: e.ejections })),
        })),
      });
    }
    case '/certs': {
      const id = proxy.ctx.identity;
      if (id === undefined) return json(conn, 200, { identity: null });
      return json(conn, 200, {
        identity: {
          spiffeId: id.spiffeId,
          notBefore: id.notBefore.toISOString(),
          notAfter: id.notAfter.toISOString(),
          expiresInSeconds: Math.round((id.notAfter.getTime() - Date.now()) / 1000),
          serial: id.serial,
        },
      });
    }
    case '/memory':
      return json(conn, 200, memoryReport());
    default:
      return json(conn, 404, { error: `no admin endpoint ${path}`, endpoints: ['/live', '/ready', '/metrics', '/config_dump', '/certs', '/memory'] });
  }
}

export function startAdminServer(proxy: WeftProxy, address: string, port: number): Promise<AdminServer> {
  // Keep-alive connections idle for 5 s close, as node's http server does.
  const engine = new Http1Server({ onRequest: (conn, head) => answer(proxy, conn, head), idleTimeoutMs: 5_000 });
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => void engine.adopt(socket));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.removeListener('error', reject);
      resolve({
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            engine.close();
          }),
      });
    });
  });
}
