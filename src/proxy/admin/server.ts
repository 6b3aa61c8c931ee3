// The admin server (127.0.0.1 by default): /live, /ready (503 while draining or without a needed
// identity), /metrics (Prometheus text), /config_dump (the runtime snapshot, keys redacted) and
// /certs (SPIFFE ID, validity), /memory (what the process holds). Read-only; never prints secrets.
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { PROMETHEUS_CONTENT_TYPE } from '../../telemetry/metrics.ts';
import type { WeftProxy } from '../proxy.ts';
import { AWAITING_CONTROL_PLANE_VERSION } from '../runtime/spec.ts';
import { heapSpaceBytes, proxyHeapLimits } from '../runtime/heap.ts';

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

/** /memory: resident memory and its V8 breakdown, the heap limits in effect, and the loaded packages. */
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
    heapLimits: proxyHeapLimits(),
    commonJsPackages: loadedCommonJsPackages(),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
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

export function startAdminServer(proxy: WeftProxy, address: string, port: number): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'only GET' });
    switch (path) {
      case '/live':
        return json(res, 200, { live: true });
      case '/ready': {
        const r = readiness(proxy);
        return json(res, r.ready ? 200 : 503, r);
      }
      case '/metrics': {
        const text = proxy.ctx.metrics.registry.expose();
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
        return res.end(text);
      }
      case '/config_dump': {
        const s = proxy.snapshot;
        return json(res, 200, {
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
        if (id === undefined) return json(res, 200, { identity: null });
        return json(res, 200, {
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
        return json(res, 200, memoryReport());
      default:
        return json(res, 404, { error: `no admin endpoint ${path}`, endpoints: ['/live', '/ready', '/metrics', '/config_dump', '/certs', '/memory'] });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.removeListener('error', reject);
      resolve({
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
