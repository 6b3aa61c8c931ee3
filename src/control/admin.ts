// The control plane's admin API (JSON on 127.0.0.1): services and endpoints, connected proxies with
// their ACKed version per type and last NACK, whether each is in sync, what each proxy was given,
// config revision and errors, plus /metrics and the identity service's routes.
import http from 'node:http';
import type { AdsServer, AdsNack, SnapshotCache } from '../xds/server.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../xds/resources.ts';
import type { MetricsRegistry } from '../telemetry/metrics.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../telemetry/metrics.ts';
import type { MeshConfig } from '../config/types.ts';
import type { Store } from './store/store.ts';
import type { Registry } from './registry.ts';
import type { PushController } from './push.ts';
import { renderCompiled } from './compiler/render.ts';
import { simulate } from './simulator.ts';

export interface AdminResponse {
  status: number;
  body: unknown;
  contentType?: string;
}
export type AdminHandler = (request: { body?: unknown; query: URLSearchParams; params: string[] }) => Promise<AdminResponse> | AdminResponse;

export const TYPE_SHORT: Record<string, 'CDS' | 'EDS' | 'LDS' | 'RDS'> = { [CLUSTER_TYPE_URL]: 'CDS', [ENDPOINT_TYPE_URL]: 'EDS', [LISTENER_TYPE_URL]: 'LDS', [ROUTE_TYPE_URL]: 'RDS' };

export interface ProxyStatusJson {
  node: string;
  stream: number;
  mode: 'sotw' | 'delta';
  kind: string;
  workload: string | undefined;
  peer: string;
  spiffeId: string | undefined;
  connectedAt: string;
  /** SYNCED when every subscribed type has ACKed the current snapshot version; STALE when one is behind; NACKED when the last answer was a NACK. */
  status: 'SYNCED' | 'STALE' | 'NACKED';
  types: Record<string, { snapshot: string | undefined; sent: string | undefined; acked: string | undefined; pending: boolean; lastNack: AdsNack | undefined }>;
}

export interface AdminContext {
  readonly store: Store<MeshConfig>;
  readonly registry: Registry;
  readonly push: PushController;
  readonly ads: AdsServer;
  readonly cache: SnapshotCache;
  readonly metrics: MetricsRegistry;
  readonly nacks: () => readonly (AdsNack & { node: string })[];
  readonly extraRoutes?: Record<string, (request: { body?: unknown; query?: URLSearchParams }) => Promise<{ status: number; body: unknown; contentType?: string }>>;
  readonly extraMetrics?: () => string;
}

export function proxyStatuses(ctx: AdminContext): ProxyStatusJson[] {
  return ctx.ads
    .streams()
    .map((s) => {
      const snap = ctx.cache.getSnapshot(s.key);
      const types: ProxyStatusJson['types'] = {};
      let status: ProxyStatusJson['status'] = 'SYNCED';
      for (const [url, st] of Object.entries(s.types)) {
        const short = TYPE_SHORT[url] ?? url;
        const snapshotVersion = snap?.resources[url]?.version;
        types[short] = { snapshot: snapshotVersion, sent: st.sentVersion, acked: st.ackedVersion, pending: st.pending, lastNack: st.lastNack };
        if (st.lastNack && st.lastNack.rejectedVersion === snapshotVersion) status = 'NACKED';
        else if (status === 'SYNCED' && snapshotVersion !== undefined && st.ackedVersion !== snapshotVersion) status = 'STALE';
      }
      const d = ctx.push.descriptorOf(s.key);
      return {
        node: s.node.id,
        stream: s.id,
        mode: s.mode,
        kind: d?.kind ?? 'unknown',
        workload: d?.service ? `${d.namespace}/${d.service}` : undefined,
        peer: s.peer,
        spiffeId: s.spiffeId,
        connectedAt: new Date(s.openedAt).toISOString(),
        status,
        types,
      };
    })
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : a.stream - b.stream));
}

export function controlAdminRoutes(ctx: AdminContext): Record<string, AdminHandler> {
  return {
    'GET /ready': () => ({ status: ctx.store.snapshot.current ? 200 : 503, body: { ready: ctx.store.snapshot.current !== undefined } }),
    'GET /api/proxies': () => ({ status: 200, body: proxyStatuses(ctx) }),
    'GET /api/proxies/:node/config': ({ params }) => {
      const compiled = ctx.push.compiledFor(params[0]!);
      if (!compiled) return { status: 404, body: { error: { code: 'PROXY_NOT_FOUND', message: `no connected proxy ${params[0]}` } } };
      return { status: 200, body: JSON.parse(renderCompiled(compiled)), contentType: 'application/json' };
    },
    'GET /api/proxies/:node/simulate': ({ params, query }) => {
      const compiled = ctx.push.compiledFor(params[0]!);
      if (!compiled) return { status: 404, body: { error: { code: 'PROXY_NOT_FOUND', message: `no connected proxy ${params[0]}` } } };
      const headers: Record<string, string> = {};
      for (const h of query.getAll('header')) {
        const i = h.indexOf(':');
        if (i > 0) headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
      }
      return { status: 200, body: simulate(compiled, { authority: query.get('authority') ?? '', path: query.get('path') ?? '/', method: query.get('method') ?? 'GET', headers }) };
    },
    'GET /api/services': () => {
      const cfg = ctx.store.snapshot.current?.config;
      const workloads = [...ctx.registry.view.current.workloads.values()];
      const out = [...(cfg?.services.values() ?? [])].map((s) => ({
        name: s.metadata.name,
        namespace: s.metadata.namespace,
        ports: s.ports,
        endpoints: workloads
          .filter((w) => w.namespace === s.metadata.namespace && (w.service === s.metadata.name || (Object.keys(s.selector).length > 0 && Object.entries(s.selector).every(([k, v]) => w.labels[k] === v))))
          .map((w) => ({ id: w.id, address: w.address, ports: w.ports, proxyPort: w.proxyPort, spiffeId: w.spiffeId, ready: w.ready, disconnectedAt: w.disconnectedAt ? new Date(w.disconnectedAt).toISOString() : undefined })),
      }));
      return { status: 200, body: out };
    },
    'GET /api/endpoints': () => ({ status: 200, body: [...ctx.registry.view.current.workloads.values()] }),
    'GET /api/config': () => {
      const s = ctx.store.snapshot.current;
      const r = ctx.store.rejection.current;
      return {
        status: 200,
        body: {
          store: ctx.store.kind,
          revision: s?.revision,
          resumeToken: s?.resumeToken,
          acceptedAt: s ? new Date(s.acceptedAt).toISOString() : undefined,
          resources: s?.resources,
          errors: r ? { at: new Date(r.at).toISOString(), keptRevision: r.keptRevision, problems: r.problems } : null,
        },
      };
    },
    'GET /api/nacks': () => ({ status: 200, body: ctx.nacks() }),
    'GET /api/push': () => ({ status: 200, body: ctx.push.stats }),
    'GET /metrics': () => ({ status: 200, body: ctx.metrics.expose() + (ctx.extraMetrics?.() ?? ''), contentType: PROMETHEUS_CONTENT_TYPE }),
  };
}

export interface AdminServerOptions {
  /**
   * Host names (without port) accepted in the `Host` header besides 127.0.0.1, localhost and [::1] —
   * only for an admin server deliberately bound to another address.
   */
  readonly allowedHosts?: readonly string[];
}

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** The host name of a `Host` header value (`[::1]:15014` → `[::1]`, `localhost:1` → `localhost`), lower-cased. */
export function hostNameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/**
 * Why a request must be refused before routing, or undefined. The admin API has no authentication, so
 * it only answers requests that cannot come from a web page: no `Origin` header (browsers send one on
 * cross-site requests: CSRF), a `Host` naming loopback (DNS rebinding gives a foreign name), and POSTs
 * whose body is declared JSON (a form or `text/plain` post — the kinds a page may send without a CORS
 * preflight — is refused).
 */
export function adminRequestRefusal(req: Pick<http.IncomingMessage, 'method' | 'headers'>, allowedHosts: ReadonlySet<string>): AdminResponse | undefined {
  if (req.headers.origin !== undefined) {
    return { status: 403, body: { error: { code: 'ADMIN_ORIGIN_REFUSED', message: 'the admin API does not answer browser cross-origin requests (Origin header present); use the weft CLI or curl' } } };
  }
  const host = req.headers.host;
  if (host === undefined || !allowedHosts.has(hostNameOf(host))) {
    return { status: 403, body: { error: { code: 'ADMIN_HOST_REFUSED', message: `the admin API answers only requests for 127.0.0.1, localhost or [::1], not Host ${JSON.stringify(host ?? '')}` } } };
  }
  if (req.method === 'POST') {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      return { status: 415, body: { error: { code: 'ADMIN_CONTENT_TYPE', message: `POST to the admin API needs content-type: application/json, not ${JSON.stringify(req.headers['content-type'] ?? '')}` } } };
    }
  }
  return undefined;
}

const MAX_ADMIN_BODY = 64 * 1024;

/**
 * Serves a route table; `:param` segments match one path segment. `extra` are exact-path routes (the
 * identity service's). Every request first passes `adminRequestRefusal`. Bind it to 127.0.0.1.
 */
export function serveAdminRoutes(routes: Record<string, AdminHandler>, extra: AdminContext['extraRoutes'] = {}, options: AdminServerOptions = {}): http.Server {
  const compiled = Object.entries(routes).map(([k, h]) => {
    const [method, path] = k.split(' ') as [string, string];
    const re = new RegExp('^' + path.split('/').map((seg) => (seg.startsWith(':') ? '([^/]+)' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/') + '$');
    return { method, re, h };
  });
  const allowedHosts = new Set([...LOOPBACK_HOSTS, ...(options.allowedHosts ?? []).map((h) => hostNameOf(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h))]);
  return http.createServer((req, res) => {
    const send = (r: AdminResponse) => {
      const type = r.contentType ?? 'application/json';
      res.writeHead(r.status, { 'content-type': type }).end(type === 'application/json' ? JSON.stringify(r.body, null, 2) + '\n' : String(r.body));
    };
    const refusal = adminRequestRefusal(req, allowedHosts);
    if (refusal) {
      req.resume();
      send(refusal);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_ADMIN_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_ADMIN_BODY) {
        send({ status: 413, body: { error: { code: 'ADMIN_BODY_TOO_LARGE', message: `admin request bodies are limited to ${MAX_ADMIN_BODY} bytes` } } });
        return;
      }
      let body: unknown;
      if (chunks.length) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          send({ status: 400, body: { error: { code: 'ADMIN_BAD_JSON', message: 'the request body is not valid JSON' } } });
          return;
        }
      }
      const ex = extra[`${req.method} ${url.pathname}`];
      if (ex) {
        ex({ body, query: url.searchParams }).then(send, () => send({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } }));
        return;
      }
      for (const r of compiled) {
        if (r.method !== req.method) continue;
        const m = r.re.exec(url.pathname);
        if (!m) continue;
        Promise.resolve()
          .then(() => r.h({ body, query: url.searchParams, params: m.slice(1).map(decodeURIComponent) }))
          .then(send, () => send({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } }));
        return;
      }
      send({ status: 404, body: { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}` } } });
    });
  });
}
