// The HARNESS'S REFERENCE ROUTER — not weft's router. A small in-process Gateway API router (Gateway,
// HTTPRoute, GRPCRoute, GAMMA Service parentRefs) that proves the conformance harness end to end on real
// sockets and reads as an executable summary of the spec for weft's implementers: listener/hostname/
// allowedRoutes attachment, path Exact/PathPrefix/RegularExpression, header/query/method matches with the
// spec's precedence, weighted backendRefs with ReferenceGrant checks, Request/ResponseHeaderModifier,
// RequestRedirect, URLRewrite, RequestMirror, CORS, timeouts and retries, h2c/gRPC and WebSocket
// backends, misdirected-request detection, and mesh routing for mesh clients. It is deliberately simple:
// request bodies are buffered and every upstream request uses a fresh connection.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { sharedTimer, type Deadline } from '../../src/core/coarse-timer.ts';
import type { Address } from './clients.ts';
import type { K8sObject } from './corpus.ts';
import type { RunningBackends } from './backends.ts';
import type { GatewayRef, MeshClientRef, MeshRequest } from './sut.ts';
import { HarnessSetupError } from './errors.ts';
import { echoAdvancedGrpcClientConstructor, formatEchoAdvancedClientOutput } from '../support/echo-advanced.ts';
import { parseGoDuration } from '../support/echo-basic.ts';

/** Deliberate faults, so a test can prove the comparators catch a wrong router. */
export type ReferenceFault = 'ignore-header-matches' | 'ignore-weights' | 'drop-request-header-modifier';

export interface ReferenceRouterOptions {
  faults?: ReadonlySet<ReferenceFault>;
}

type Pairs = Array<[string, string]>;

interface Listener {
  name: string;
  port: number;
  protocol: string;
  hostname: string | undefined;
  allowedFrom: 'Same' | 'All' | 'Selector';
  selector: Record<string, string>;
}

interface Gateway {
  namespace: string;
  name: string;
  listeners: Listener[];
  cert: { cert: string; key: string } | undefined;
}

interface Match {
  path: { type: string; value: string };
  headers: Array<{ type: string; name: string; value: string }>;
  query: Array<{ type: string; name: string; value: string }>;
  method: string | undefined;
}

interface Rule {
  kind: 'HTTPRoute' | 'GRPCRoute';
  route: K8sObject;
  order: number;
  ruleIndex: number;
  hostnames: string[];
  matches: Match[];
  filters: any[];
  backendRefs: any[];
  timeouts: { request?: string; backendRequest?: string } | undefined;
  retry: { codes?: number[]; attempts?: number; backoff?: string } | undefined;
}

/** The request as the router sees it, independent of HTTP/1.1 or HTTP/2. */
interface Incoming {
  method: string;
  scheme: 'http' | 'https';
  host: string;
  path: string;
  headers: Pairs;
  /** The whole request body (buffered, so retries and mirrors can resend it). */
  body: Buffer;
  /** gRPC (content-type application/grpc…): routed by GRPCRoutes, forwarded over HTTP/2. */
  grpc: boolean;
  /** The parent's declared port (listener or Service port) for redirect port derivation. */
  parentPort: number;
}

interface Outgoing {
  status: number;
  headers: Pairs;
  body: NodeJS.ReadableStream | string;
  /** HTTP/2 trailers (gRPC status), filled in before the body ends. */
  trailers?: Record<string, string>;
  /** Why no real answer came back: the backend connection failed, or the per-try deadline passed. */
  failure?: 'connect' | 'timeout';
}

interface Endpoint {
  address: Address;
  appProtocol: string | undefined;
}

/** Sends one attempt to an endpoint (HTTP proxying, or a gRPC call for mesh gRPC clients). */
type Sender = (req: Incoming, endpoint: Endpoint, timeoutMs: number | undefined) => Promise<Outgoing>;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings', 'host']);

function hostOnly(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return (i >= 0 ? host.slice(0, i) : host).toLowerCase();
}

/** Gateway API hostname match: `*.example.com` matches one or more labels in front of `example.com`. */
export function hostnameMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

/** Specificity of the best pattern matching host: exact > longer wildcard > none; -1 when nothing matches. */
function hostScore(patterns: readonly string[], host: string): number {
  if (patterns.length === 0) return 0;
  let best = -1;
  for (const p of patterns) if (hostnameMatches(p, host)) best = Math.max(best, p.startsWith('*.') ? p.length : 100_000);
  return best;
}

/** Listener and route hostnames intersect (either may be a wildcard). */
function hostnamesIntersect(listener: string | undefined, routeHostnames: readonly string[]): boolean {
  if (listener === undefined || routeHostnames.length === 0) return true;
  return routeHostnames.some((h) => hostnameMatches(listener, h) || hostnameMatches(h, listener) || (h.startsWith('*.') && listener.startsWith('*.') && (h.endsWith(listener.slice(1)) || listener.endsWith(h.slice(1)))));
}

function getHeader(headers: Pairs, name: string): string | undefined {
  const n = name.toLowerCase();
  const values = headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(',');
}

function pathMatches(m: Match['path'], path: string): boolean {
  if (m.type === 'Exact') return path === m.value;
  if (m.type === 'RegularExpression') return new RegExp(`^(?:${m.value})$`).test(path);
  const prefix = m.value.replace(/\/+$/, '');
  return prefix === '' || path === prefix || path.startsWith(prefix + '/');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A GRPCRouteMatch as a path match on `/<service>/<method>` plus header matches. */
function compileGrpcMatch(raw: any): Match {
  const m = raw?.method;
  const exact = (m?.type ?? 'Exact') === 'Exact';
  let path: Match['path'];
  if (m?.service === undefined && m?.method === undefined) path = { type: 'PathPrefix', value: '/' };
  else if (exact && m.service !== undefined && m.method !== undefined) path = { type: 'Exact', value: `/${m.service}/${m.method}` };
  else {
    const part = (v: string | undefined) => (v === undefined ? '[^/]+' : exact ? escapeRegExp(v) : v);
    path = { type: 'RegularExpression', value: `/${part(m.service)}/${part(m.method)}` };
  }
  return { path, headers: (raw?.headers ?? []).map((h: any) => ({ type: h.type ?? 'Exact', name: h.name, value: h.value })), query: [], method: undefined };
}

function compileMatch(raw: any): Match {
  return {
    path: { type: raw?.path?.type ?? 'PathPrefix', value: raw?.path?.value ?? '/' },
    headers: (raw?.headers ?? []).map((h: any) => ({ type: h.type ?? 'Exact', name: h.name, value: h.value })),
    query: (raw?.queryParams ?? []).map((q: any) => ({ type: q.type ?? 'Exact', name: q.name, value: q.value })),
    method: raw?.method,
  };
}

/** Applies a HeaderModifier (`set`, `add`, `remove`) to a header list, names case-insensitive. */
export function modifyHeaders(headers: Pairs, modifier: any): Pairs {
  let out = headers;
  for (const { name, value } of modifier?.set ?? []) {
    out = out.filter(([k]) => k.toLowerCase() !== String(name).toLowerCase());
    out.push([name, value]);
  }
  for (const { name, value } of modifier?.add ?? []) out = [...out, [name, value]];
  for (const name of modifier?.remove ?? []) out = out.filter(([k]) => k.toLowerCase() !== String(name).toLowerCase());
  return out;
}

/** ReplacePrefixMatch: swaps the matched prefix for `replacement`, keeping the rest at a segment boundary. */
export function replacePrefix(path: string, prefix: string, replacement: string): string {
  const p = prefix.replace(/\/+$/, '');
  let rest = path.slice(p.length);
  let rep = replacement;
  if (rep.endsWith('/') && rest.startsWith('/')) rep = rep.replace(/\/+$/, '');
  if (rep === '' && rest === '') return '/';
  if (rep !== '' && !rest.startsWith('/') && rest !== '') rest = '/' + rest;
  const out = rep + rest;
  return out.startsWith('/') ? out : '/' + out;
}

function splitPath(full: string): { path: string; query: string } {
  const q = full.indexOf('?');
  return q < 0 ? { path: full, query: '' } : { path: full.slice(0, q), query: full.slice(q) };
}

function readPairs(raw: readonly string[]): Pairs {
  const out: Pairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

/** The reference router. One instance serves every Gateway of the applied manifests. */
export class ReferenceRouter {
  readonly #faults: ReadonlySet<ReferenceFault>;
  #objects: K8sObject[] = [];
  #backends: RunningBackends | undefined;
  #gateways = new Map<string, Gateway>();
  #rules: Rule[] = [];
  #servers = new Map<string, { server: net.Server; address: Address }>();
  #sockets = new Set<Socket>();
  #mirrorCounter = 0;

  constructor(options: ReferenceRouterOptions = {}) {
    this.#faults = options.faults ?? new Set();
  }

  /** Replaces the whole configuration and opens a listener per (Gateway, port). */
  async apply(objects: readonly K8sObject[], backends: RunningBackends): Promise<void> {
    this.#objects = [...objects];
    this.#backends = backends;
    this.#compile();
    for (const gw of this.#gateways.values()) {
      for (const port of new Set(gw.listeners.map((l) => l.port))) {
        const key = `${gw.namespace}/${gw.name}:${port}`;
        if (!this.#servers.has(key)) this.#servers.set(key, await this.#listen(gw, port));
      }
    }
  }

  /** Deletes one object (a preAction) and recompiles. */
  delete(kind: string, namespace: string, name: string): void {
    this.#objects = this.#objects.filter((o) => !(o.kind === kind && (o.metadata.namespace ?? '') === namespace && o.metadata.name === name));
    this.#compile();
  }

  gatewayAddress(gateway: GatewayRef, port: number): Address {
    const entry = this.#servers.get(`${gateway.namespace}/${gateway.name}:${port}`);
    if (entry === undefined) throw new HarnessSetupError(`reference router has no listener for Gateway ${gateway.namespace}/${gateway.name} port ${port}`);
    return entry.address;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all([...this.#servers.values()].map(({ server }) => new Promise<void>((r) => server.close(() => r()))));
    this.#servers.clear();
  }

  // ---- configuration -------------------------------------------------------------------------

  #compile(): void {
    this.#gateways.clear();
    for (const o of this.#objects) {
      if (o.kind !== 'Gateway') continue;
      const refs = (o.spec?.listeners ?? []).flatMap((l: any) => l.tls?.certificateRefs ?? []);
      const secretRef = refs[0];
      const secret = secretRef && this.#find('Secret', secretRef.namespace ?? o.metadata.namespace, secretRef.name);
      const data = secret?.['data'] as Record<string, string> | undefined;
      this.#gateways.set(`${o.metadata.namespace}/${o.metadata.name}`, {
        namespace: o.metadata.namespace ?? 'default',
        name: o.metadata.name,
        cert: data ? { cert: Buffer.from(data['tls.crt'] ?? '', 'base64').toString(), key: Buffer.from(data['tls.key'] ?? '', 'base64').toString() } : undefined,
        listeners: (o.spec?.listeners ?? []).map((l: any) => ({
          name: l.name,
          port: l.port,
          protocol: l.protocol,
          hostname: l.hostname,
          allowedFrom: l.allowedRoutes?.namespaces?.from ?? 'Same',
          selector: l.allowedRoutes?.namespaces?.selector?.matchLabels ?? {},
        })),
      });
    }
    this.#rules = [];
    this.#objects.forEach((o, order) => {
      if (o.kind !== 'HTTPRoute' && o.kind !== 'GRPCRoute') return;
      const kind = o.kind;
      (o.spec?.rules ?? []).forEach((r: any, ruleIndex: number) => {
        const matches = (r.matches?.length ? r.matches : [{}]).map(kind === 'GRPCRoute' ? compileGrpcMatch : compileMatch);
        this.#rules.push({ kind, route: o, order, ruleIndex, hostnames: o.spec?.hostnames ?? [], matches, filters: r.filters ?? [], backendRefs: r.backendRefs ?? [], timeouts: r.timeouts, retry: r.retry });
      });
    });
  }

  #find(kind: string, namespace: string | undefined, name: string): K8sObject | undefined {
    return this.#objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || (o.metadata.namespace ?? '') === namespace));
  }

  #namespaceAllowed(listener: Listener, gw: Gateway, routeNs: string): boolean {
    if (listener.allowedFrom === 'All') return true;
    if (listener.allowedFrom === 'Same') return routeNs === gw.namespace;
    const labels = (this.#find('Namespace', '', routeNs) ?? this.#find('Namespace', undefined, routeNs))?.metadata.labels ?? {};
    return Object.entries(listener.selector).every(([k, v]) => labels[k] === v);
  }

  /** Does `route` attach to `listener` of `gw` (parentRef name/namespace/sectionName/port, allowedRoutes, hostnames)? */
  #attaches(route: K8sObject, gw: Gateway, listener: Listener): boolean {
    const routeNs = route.metadata.namespace ?? 'default';
    const parentOk = (route.spec?.parentRefs ?? []).some(
      (p: any) =>
        (p.kind ?? 'Gateway') === 'Gateway' &&
        p.name === gw.name &&
        (p.namespace ?? routeNs) === gw.namespace &&
        (p.sectionName === undefined || p.sectionName === listener.name) &&
        (p.port === undefined || p.port === listener.port),
    );
    return parentOk && this.#namespaceAllowed(listener, gw, routeNs) && hostnamesIntersect(listener.hostname, route.spec?.hostnames ?? []);
  }

  /** The most specific listener on `port` whose hostname matches `host`. */
  #listenerFor(gw: Gateway, port: number, host: string): Listener | undefined {
    let best: Listener | undefined;
    let bestScore = -1;
    for (const l of gw.listeners) {
      if (l.port !== port) continue;
      const score = hostScore(l.hostname === undefined ? [] : [l.hostname], host);
      if (score > bestScore) {
        best = l;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * Picks the winning (rule, match) among `rules` for the request, by the spec's precedence: route
   * hostname specificity, Exact path, longest prefix, method, most headers, most query params, oldest
   * route (here: manifest order), then namespace/name, then rule order.
   */
  #select(rules: readonly Rule[], req: Incoming): { rule: Rule; match: Match } | undefined {
    const host = hostOnly(req.host);
    const { path, query } = splitPath(req.path);
    const params = new URLSearchParams(query);
    let best: { rule: Rule; match: Match; key: number[] } | undefined;
    for (const rule of rules) {
      const hScore = hostScore(rule.hostnames, host);
      if (hScore < 0) continue;
      for (const match of rule.matches) {
        if (!pathMatches(match.path, path)) continue;
        if (match.method !== undefined && match.method !== req.method) continue;
        if (!this.#faults.has('ignore-header-matches')) {
          const headersOk = match.headers.every((h) => {
            const v = getHeader(req.headers, h.name);
            return v !== undefined && (h.type === 'RegularExpression' ? new RegExp(h.value).test(v) : v === h.value);
          });
          if (!headersOk) continue;
        }
        const queryOk = match.query.every((q) => {
          const v = params.get(q.name);
          return v !== null && (q.type === 'RegularExpression' ? new RegExp(q.value).test(v) : v === q.value);
        });
        if (!queryOk) continue;
        const key = [
          hScore,
          match.path.type === 'Exact' ? 1 : 0,
          match.path.type === 'PathPrefix' ? match.path.value.replace(/\/+$/, '').length : 0,
          match.method !== undefined ? 1 : 0,
          match.headers.length,
          match.query.length,
          -rule.order,
          -rule.ruleIndex,
        ];
        if (best === undefined || compareKeys(key, best.key) > 0) best = { rule, match, key };
      }
    }
    return best === undefined ? undefined : { rule: best.rule, match: best.match };
  }

  // ---- data path -------------------------------------------------------------------------------

  async #listen(gw: Gateway, port: number): Promise<{ server: net.Server; address: Address }> {
    const tlsListeners = gw.listeners.filter((l) => l.port === port && l.protocol === 'HTTPS');
    const h1 = http.createServer((req, res) => void this.#serveGateway(gw, port, 'http', req, res));
    h1.on('upgrade', (req, socket, head) => this.#upgrade(gw, port, req, socket as Socket, head));
    const h2c = http2.createServer((req, res) => void this.#serveGateway(gw, port, 'http', req, res));
    let server: net.Server;
    if (tlsListeners.length > 0) {
      if (gw.cert === undefined) throw new HarnessSetupError(`Gateway ${gw.namespace}/${gw.name} has an HTTPS listener but its certificate Secret is missing`);
      server = http2.createSecureServer({ cert: gw.cert.cert, key: gw.cert.key, allowHTTP1: true }, (req, res) => void this.#serveGateway(gw, port, 'https', req, res));
    } else {
      // Plain listener: HTTP/1.1, or h2c when the client opens with the HTTP/2 preface (prior knowledge).
      server = net.createServer((socket) => {
        socket.once('data', (chunk: Buffer) => {
          socket.pause();
          if (chunk.toString('latin1', 0, 3) === 'PRI') {
            // node:http2 reads the native handle, so the peeked bytes go through a JS duplex instead.
            h2c.emit('connection', replayingDuplex(socket, chunk));
          } else {
            socket.unshift(chunk);
            h1.emit('connection', socket);
            socket.resume();
          }
        });
      });
    }
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return { server, address: { host: '127.0.0.1', port: (server.address() as AddressInfo).port } };
  }

  async #serveGateway(gw: Gateway, port: number, scheme: 'http' | 'https', req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): Promise<void> {
    const host = (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '';
    const incoming: Incoming = {
      method: req.method ?? 'GET',
      scheme,
      host,
      path: (req.headers[':path'] as string | undefined) ?? req.url ?? '/',
      headers: readPairs(req.rawHeaders).filter(([k]) => !k.startsWith(':')),
      body: await readBody(req as NodeJS.ReadableStream),
      grpc: String(req.headers['content-type'] ?? '').startsWith('application/grpc'),
      parentPort: port,
    };
    let out: Outgoing;
    const listener = this.#listenerFor(gw, port, hostOnly(host));
    const sni = scheme === 'https' ? (req.socket as TLSSocket).servername : undefined;
    if (typeof sni === 'string' && sni !== '' && listener !== this.#listenerFor(gw, port, sni.toLowerCase())) {
      out = { status: 421, headers: [], body: '' };
    } else if (listener === undefined) {
      out = { status: 404, headers: [], body: '' };
    } else {
      const attached = this.#rules.filter((r) => this.#attaches(r.route, gw, listener));
      // gRPC requests are routed by GRPCRoutes when any is attached, everything else by HTTPRoutes.
      const grpcRules = attached.filter((r) => r.kind === 'GRPCRoute');
      const rules = incoming.grpc && grpcRules.length > 0 ? grpcRules : attached.filter((r) => r.kind === 'HTTPRoute');
      out = await this.#route(rules, incoming);
    }
    writeOut(res, out);
  }

  /** Routes one request through the selected rule: filters, backend choice, retries and timeouts, proxying. */
  async #route(rules: readonly Rule[], req: Incoming, options: { fallback?: () => Promise<Outgoing>; send?: Sender } = {}): Promise<Outgoing> {
    const selected = this.#select(rules, req);
    // No rule matched: 404 — except a mesh Service with no route attached at all, which is served as is.
    if (selected === undefined) return options.fallback && rules.length === 0 ? options.fallback() : { status: 404, headers: [], body: '' };
    const { rule, match } = selected;
    let headers = req.headers;
    let path = req.path;
    let host = req.host;
    let responseModifier: any;
    let corsHeaders: Pairs = [];
    for (const f of rule.filters) {
      if (f.type === 'CORS') {
        const cors = applyCors(f.cors, req);
        if (cors.preflight !== undefined) return cors.preflight;
        corsHeaders = cors.headers;
      } else if (f.type === 'RequestHeaderModifier' && !this.#faults.has('drop-request-header-modifier')) headers = modifyHeaders(headers, f.requestHeaderModifier);
      else if (f.type === 'ResponseHeaderModifier') responseModifier = f.responseHeaderModifier;
      else if (f.type === 'RequestRedirect') return redirect(f.requestRedirect, req, match);
      else if (f.type === 'URLRewrite') {
        const rw = f.urlRewrite ?? {};
        if (rw.hostname) host = rw.hostname;
        if (rw.path) path = rewritePath(rw.path, path, match);
      } else if (f.type === 'RequestMirror') this.#mirror(f.requestMirror, rule, { ...req, headers, path, host });
    }
    const ref = this.#pickBackend(rule);
    if (ref === undefined) return { status: 500, headers: [], body: '' };
    for (const f of ref.filters ?? []) {
      if (f.type === 'RequestHeaderModifier') headers = modifyHeaders(headers, f.requestHeaderModifier);
      else if (f.type === 'ResponseHeaderModifier') responseModifier = { ...responseModifier, ...f.responseHeaderModifier };
      else if (f.type === 'RequestRedirect') return redirect(f.requestRedirect, req, match);
      else if (f.type === 'URLRewrite') {
        if (f.urlRewrite?.hostname) host = f.urlRewrite.hostname;
        if (f.urlRewrite?.path) path = rewritePath(f.urlRewrite.path, path, match);
      }
    }
    const endpoints = this.#endpoints(rule.route, ref);
    if (endpoints === 'invalid') return { status: 500, headers: [], body: '' };
    if (endpoints.length === 0) return { status: 503, headers: [], body: '' };
    const send = options.send ?? forward;
    const out = await sendWithRetries({ ...req, headers, path, host }, endpoints, rule, send);
    if (responseModifier !== undefined) out.headers = modifyHeaders(out.headers, responseModifier);
    if (corsHeaders.length > 0) out.headers = [...out.headers.filter(([k]) => !corsHeaders.some(([c]) => c === k.toLowerCase())), ...corsHeaders];
    return out;
  }

  /** Weighted random choice among backendRefs (weight default 1); undefined when none can be chosen. */
  #pickBackend(rule: Rule): any {
    const refs = rule.backendRefs;
    const weights = refs.map((r: any) => (this.#faults.has('ignore-weights') ? 1 : (r.weight ?? 1)));
    const total = weights.reduce((a: number, b: number) => a + b, 0);
    if (total <= 0) return undefined;
    let pick = Math.random() * total;
    for (let i = 0; i < refs.length; i++) {
      pick -= weights[i];
      if (pick < 0) return refs[i];
    }
    return refs[refs.length - 1];
  }

  /** Endpoints of a backendRef, or 'invalid' (unknown kind, missing Service, cross-namespace without ReferenceGrant). */
  #endpoints(route: K8sObject, ref: any): Endpoint[] | 'invalid' {
    const backends = this.#backends;
    if (backends === undefined) return 'invalid';
    if ((ref.kind ?? 'Service') !== 'Service' || (ref.group ?? '') !== '') return 'invalid';
    const routeNs = route.metadata.namespace ?? 'default';
    const ns = ref.namespace ?? routeNs;
    if (ns !== routeNs && !this.#granted(route, ns, ref.name) && !isServiceParent(route, ns, ref.name)) return 'invalid';
    const svc = this.#find('Service', ns, ref.name);
    if (svc === undefined) return 'invalid';
    const fromPods = backends.endpoints(ns, ref.name, ref.port);
    if (fromPods.length > 0) return fromPods;
    // Services without a selector: endpoints come from their EndpointSlices (pod IPs).
    const sp = (svc.spec?.ports ?? []).find((p: any) => p.port === ref.port);
    const out: Endpoint[] = [];
    for (const slice of this.#objects) {
      if (slice.kind !== 'EndpointSlice' || slice.metadata.namespace !== ns || slice.metadata.labels?.['kubernetes.io/service-name'] !== ref.name) continue;
      const slicePort = ((slice['ports'] as any[]) ?? []).find((p) => sp?.name === undefined || p.name === sp.name)?.port ?? sp?.targetPort;
      for (const e of (slice['endpoints'] as any[]) ?? []) {
        for (const ip of e.addresses ?? []) {
          const address = backends.resolvePodIP(ip, slicePort);
          if (address !== undefined) out.push({ address, appProtocol: sp?.appProtocol });
        }
      }
    }
    return out;
  }

  #granted(route: K8sObject, targetNs: string, name: string): boolean {
    return this.#objects.some(
      (g) =>
        g.kind === 'ReferenceGrant' &&
        g.metadata.namespace === targetNs &&
        (g.spec?.from ?? []).some((f: any) => f.group === 'gateway.networking.k8s.io' && f.kind === route.kind && f.namespace === route.metadata.namespace) &&
        (g.spec?.to ?? []).some((t: any) => (t.group ?? '') === '' && t.kind === 'Service' && (t.name === undefined || t.name === name)),
    );
  }

  /** RequestMirror: fire-and-forget copy to the mirror Service (percent/fraction honoured). */
  #mirror(spec: any, rule: Rule, req: Incoming): void {
    const percent = spec?.percent ?? (spec?.fraction ? (100 * spec.fraction.numerator) / (spec.fraction.denominator ?? 100) : 100);
    this.#mirrorCounter++;
    if (Math.random() * 100 >= percent) return;
    const endpoints = this.#endpoints(rule.route, spec.backendRef);
    if (endpoints === 'invalid' || endpoints.length === 0) return;
    const ep = endpoints[this.#mirrorCounter % endpoints.length]!;
    forward(req, ep, 5000).then(
      (out) => drain(out.body),
      () => undefined,
    );
  }

  #upgrade(gw: Gateway, port: number, req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const host = req.headers.host ?? '';
    const listener = this.#listenerFor(gw, port, hostOnly(host));
    const rules = listener === undefined ? [] : this.#rules.filter((r) => this.#attaches(r.route, gw, listener));
    const incoming: Incoming = { method: req.method ?? 'GET', scheme: 'http', host, path: req.url ?? '/', headers: readPairs(req.rawHeaders), body: Buffer.alloc(0), grpc: false, parentPort: port };
    if (listener !== undefined) rules.splice(0, rules.length, ...rules.filter((r) => r.kind === 'HTTPRoute'));
    const selected = this.#select(rules, incoming);
    const ref = selected && this.#pickBackend(selected.rule);
    const endpoints = ref && selected ? this.#endpoints(selected.rule.route, ref) : 'invalid';
    if (endpoints === 'invalid' || endpoints.length === 0) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const ep = endpoints[0]!;
    const upstream = net.connect(ep.address.port, ep.address.host, () => {
      let headText = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (const [k, v] of readPairs(req.rawHeaders)) headText += `${k}: ${v}\r\n`;
      upstream.write(headText + '\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  }

  // ---- mesh (GAMMA) ----------------------------------------------------------------------------

  /**
   * Sends a mesh request from `client` the way its sidecar would: Service-parentRef routes (HTTPRoute,
   * or GRPCRoute for gRPC), else the Service itself; a pod IP bypasses routing. Resolves to the echo
   * client's printout.
   */
  async meshSend(client: MeshClientRef, request: MeshRequest): Promise<string> {
    const backends = this.#backends;
    if (backends === undefined) throw new HarnessSetupError('reference router: meshSend before apply');
    const grpc = request.protocol === 'grpc';
    const url = new URL(request.url.replace(/^grpc:/, 'http:'));
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? 80 : Number(url.port);
    const path = grpc ? '/proto.EchoTestService/Echo' : (url.pathname || '/') + url.search;
    const headers: Pairs = Object.entries(request.headers);
    const hostHeader = getHeader(headers, 'host') ?? url.host;
    const req: Incoming = { method: grpc ? 'POST' : request.method, scheme: 'http', host: hostHeader, path, headers: headers.filter(([k]) => k.toLowerCase() !== 'host'), body: Buffer.alloc(0), grpc, parentPort: port };
    const send: Sender = grpc ? grpcEchoAdvancedSend : forward;
    let out: Outgoing;
    const pod = backends.podByIP(hostname);
    if (pod !== undefined) {
      const address = pod.resolve(port);
      out = address === undefined ? { status: 503, headers: [], body: '' } : await send(req, { address, appProtocol: undefined }, undefined);
    } else {
      const [svcName = '', svcNs = client.namespace] = hostname.split('.');
      const rules = this.#meshRules(client.namespace, svcNs, svcName, port).filter((r) => r.kind === (grpc ? 'GRPCRoute' : 'HTTPRoute'));
      out = await this.#route(rules, req, {
        send,
        fallback: async () => {
          const eps = backends.endpoints(svcNs, svcName, port);
          if (eps.length === 0) return { status: 503, headers: [], body: '' };
          return send(req, eps[Math.floor(Math.random() * eps.length)]!, undefined);
        },
      });
    }
    const body = typeof out.body === 'string' ? out.body : (await readBody(out.body)).toString('utf8');
    return formatEchoAdvancedClientOutput(out.status, out.headers, body);
  }

  /** GAMMA: routes whose parentRef is the Service; consumer routes (client's namespace) win over producer routes. */
  #meshRules(clientNs: string, svcNs: string, svcName: string, port: number): Rule[] {
    const attached = this.#rules.filter((r) =>
      (r.route.spec?.parentRefs ?? []).some(
        (p: any) => p.kind === 'Service' && (p.group ?? '') === '' && p.name === svcName && (p.namespace ?? r.route.metadata.namespace) === svcNs && (p.port === undefined || p.port === port),
      ),
    );
    const consumer = attached.filter((r) => r.route.metadata.namespace === clientNs && clientNs !== svcNs);
    if (consumer.length > 0) return consumer;
    return attached.filter((r) => r.route.metadata.namespace === svcNs);
  }
}

/** GAMMA: a consumer route may send to the Service it is attached to without a ReferenceGrant. */
function isServiceParent(route: K8sObject, namespace: string, name: string): boolean {
  return (route.spec?.parentRefs ?? []).some((p: any) => p.kind === 'Service' && (p.group ?? '') === '' && p.name === name && (p.namespace ?? route.metadata.namespace) === namespace);
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

function rewritePath(spec: any, fullPath: string, match: Match): string {
  const { path, query } = splitPath(fullPath);
  if (spec.type === 'ReplaceFullPath') return (spec.replaceFullPath ?? '/') + query;
  if (spec.type === 'ReplacePrefixMatch' && match.path.type === 'PathPrefix') return replacePrefix(path, match.path.value, spec.replacePrefixMatch ?? '/') + query;
  return fullPath;
}

/** Does `origin` match an allowOrigins entry (`*`, exact, or with `*` standing for one or more characters)? */
export function corsOriginAllowed(allowOrigins: readonly string[], origin: string): boolean {
  return allowOrigins.some((o) => o === '*' || o === origin || (o.includes('*') && new RegExp(`^${o.split('*').map(escapeRegExp).join('.+')}$`).test(origin)));
}

/**
 * The CORS filter: a preflight (OPTIONS + Origin + Access-Control-Request-Method) is answered by the
 * router itself (204, or 403 for a disallowed origin); an actual request gets allow-origin, credentials
 * and expose headers added to its response. Wildcards are answered by echoing the request's values,
 * which is valid with and without credentials.
 */
function applyCors(spec: any, req: Incoming): { preflight?: Outgoing; headers: Pairs } {
  const origin = getHeader(req.headers, 'origin');
  if (origin === undefined) return { headers: [] };
  const allowed = corsOriginAllowed(spec?.allowOrigins ?? [], origin);
  const requestedMethod = getHeader(req.headers, 'access-control-request-method');
  const credentials: Pairs = spec?.allowCredentials === true ? [['access-control-allow-credentials', 'true']] : [];
  const expose: Pairs = (spec?.exposeHeaders ?? []).length > 0 ? [['access-control-expose-headers', spec.exposeHeaders.join(', ')]] : [];
  if (req.method === 'OPTIONS' && requestedMethod !== undefined) {
    if (!allowed) return { preflight: { status: 403, headers: [], body: '' }, headers: [] };
    const methods: string[] = spec?.allowMethods ?? [];
    const requestedHeaders = getHeader(req.headers, 'access-control-request-headers');
    const allowHeaders: string[] = spec?.allowHeaders ?? [];
    const headers: Pairs = [
      ['access-control-allow-origin', origin],
      ['access-control-allow-methods', methods.includes('*') ? requestedMethod : methods.join(', ')],
      ...credentials,
      ...expose,
    ];
    if (allowHeaders.includes('*')) {
      if (requestedHeaders !== undefined) headers.push(['access-control-allow-headers', requestedHeaders]);
    } else if (allowHeaders.length > 0) headers.push(['access-control-allow-headers', allowHeaders.join(', ')]);
    if (spec?.maxAge !== undefined) headers.push(['access-control-max-age', String(spec.maxAge)]);
    return { preflight: { status: 204, headers, body: '' }, headers: [] };
  }
  return { headers: allowed ? [['access-control-allow-origin', origin], ...credentials, ...expose] : [] };
}

/** RequestRedirect: scheme, hostname, port (explicit, else the scheme's well-known port, else the parent port), path. */
function redirect(spec: any, req: Incoming, match: Match): Outgoing {
  const scheme: string = spec?.scheme ?? req.scheme;
  const hostname: string = spec?.hostname ?? hostOnly(req.host);
  const port: number = spec?.port ?? (spec?.scheme !== undefined ? (scheme === 'https' ? 443 : 80) : req.parentPort);
  const wellKnown = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
  const { path, query } = splitPath(req.path);
  const newPath = spec?.path ? splitPath(rewritePath(spec.path, path, match)).path : path;
  // The query string is kept, as Envoy does by default.
  const location = `${scheme}://${hostname}${wellKnown ? '' : `:${port}`}${newPath}${query}`;
  return { status: spec?.statusCode ?? 302, headers: [['Location', location]], body: '' };
}

/** A duplex over `socket` that first replays `first` (bytes already read while sniffing the protocol). */
function replayingDuplex(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  duplex.push(first);
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (e) => duplex.destroy(e));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

/** Drops a body nobody will read (a retried attempt, a mirror's answer). */
function drain(body: NodeJS.ReadableStream | string): void {
  if (typeof body !== 'string') body.resume();
}

function msOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseGoDuration(text);
  return ms === undefined || ms === 0 ? undefined : ms;
}

/**
 * HTTPRoute retry and timeouts: up to 1 + `retry.attempts` tries, retrying connection failures, per-try
 * timeouts (`timeouts.backendRequest`) and `retry.codes`; `timeouts.request` bounds the whole exchange (504).
 */
async function sendWithRetries(req: Incoming, endpoints: readonly Endpoint[], rule: Rule, send: Sender): Promise<Outgoing> {
  const tries = rule.retry === undefined ? 1 : 1 + (rule.retry.attempts ?? 1);
  const perTry = msOf(rule.timeouts?.backendRequest);
  const total = msOf(rule.timeouts?.request);
  const backoff = Math.min(msOf(rule.retry?.backoff) ?? 0, 100);
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    const remaining = total === undefined ? undefined : total - (performance.now() - started);
    if (remaining !== undefined && remaining <= 0) return { status: 504, headers: [], body: '' };
    const limit = perTry === undefined ? remaining : remaining === undefined ? perTry : Math.min(perTry, remaining);
    const endpoint = endpoints[Math.floor(Math.random() * endpoints.length)]!;
    const out = await send(req, endpoint, limit);
    const overallExpired = total !== undefined && performance.now() - started >= total;
    if (out.failure === 'timeout' && overallExpired) return { status: 504, headers: [], body: '' };
    const retryable = out.failure !== undefined || (rule.retry?.codes ?? []).includes(out.status);
    if (rule.retry === undefined || !retryable || attempt >= tries) return out;
    drain(out.body);
    if (backoff > 0) await new Promise<void>((resolve) => sharedTimer.deadline(backoff, resolve));
  }
}

function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/**
 * Proxies one request to an endpoint: HTTP/2 cleartext for gRPC or `kubernetes.io/h2c` ports, else
 * HTTP/1.1 on a fresh connection. A deadline answers 504 (failure 'timeout'); a connection error or
 * reset answers 503 (failure 'connect').
 */
const forward: Sender = (req, endpoint, timeoutMs) => {
  const { address } = endpoint;
  return new Promise((resolve) => {
    let done = false;
    let deadline: Deadline | undefined;
    let abort: () => void = () => undefined;
    const finish = (out: Outgoing): void => {
      if (done) return;
      done = true;
      deadline?.cancel();
      resolve(out);
    };
    const failed = (): void => finish({ status: 503, headers: [], body: '', failure: 'connect' });
    if (timeoutMs !== undefined) {
      deadline = sharedTimer.deadline(timeoutMs, () => {
        abort();
        finish({ status: 504, headers: [], body: '', failure: 'timeout' });
      });
    }
    const headers = req.headers.filter(([k]) => !HOP_BY_HOP.has(k.toLowerCase()));
    if (req.grpc || endpoint.appProtocol === 'kubernetes.io/h2c') {
      const session = http2.connect(`http://${address.host}:${address.port}`);
      abort = () => session.destroy();
      session.on('error', failed);
      const h: http2.OutgoingHttpHeaders = { ':method': req.method, ':path': req.path, ':authority': req.host, ':scheme': 'http' };
      for (const [k, v] of headers) {
        const key = k.toLowerCase();
        const prior = h[key];
        h[key] = prior === undefined ? v : `${String(prior)},${v}`;
      }
      if (req.grpc) h['te'] = 'trailers';
      const stream = session.request(h, { endStream: req.body.length === 0 });
      if (req.body.length > 0) stream.end(req.body);
      stream.on('response', (rh) => {
        const out: Outgoing = { status: Number(rh[':status'] ?? 503), headers: [], body: stream };
        for (const [k, v] of Object.entries(rh)) if (!k.startsWith(':') && v !== undefined) for (const one of Array.isArray(v) ? v : [String(v)]) out.headers.push([k, one]);
        stream.on('trailers', (t) => {
          out.trailers = {};
          for (const [k, v] of Object.entries(t)) if (!k.startsWith(':') && v !== undefined) out.trailers[k] = Array.isArray(v) ? v.join(',') : String(v);
        });
        stream.on('close', () => session.close());
        finish(out);
      });
      stream.on('error', failed);
      return;
    }
    const flat: string[] = ['Host', req.host];
    for (const [k, v] of headers) flat.push(k, v);
    const r = http.request({ host: address.host, port: address.port, method: req.method, path: req.path, agent: false, setHost: false, headers: flat as any }, (res) => {
      finish({ status: res.statusCode ?? 503, headers: readPairs(res.rawHeaders).filter(([k]) => !HOP_BY_HOP.has(k.toLowerCase())), body: res });
    });
    abort = () => r.destroy();
    r.on('error', failed);
    r.end(req.body);
  });
};

/** Mesh gRPC: one EchoTestService/Echo call to an echo-advanced pod, printed as the echo client would (OK = 200). */
const grpcEchoAdvancedSend: Sender = (req, endpoint, timeoutMs) => {
  const Ctor = echoAdvancedGrpcClientConstructor();
  const client = new Ctor(`${endpoint.address.host}:${endpoint.address.port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': req.host }) as unknown as grpc.Client & {
    Echo: (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: { message: string }) => void) => void;
  };
  const metadata = new grpc.Metadata();
  for (const [k, v] of req.headers) metadata.add(k.toLowerCase(), v);
  return new Promise((resolve) => {
    client.Echo({ message: '' }, metadata, { deadline: Date.now() + (timeoutMs ?? 10_000) }, (error, value) => {
      client.close();
      if (error) resolve({ status: error.code === grpc.status.DEADLINE_EXCEEDED ? 504 : 503, headers: [], body: `grpc error ${error.code}: ${error.details}` });
      else resolve({ status: 200, headers: [], body: value?.message ?? '' });
    });
  });
};

function writeOut(res: http.ServerResponse | http2.Http2ServerResponse, out: Outgoing): void {
  const h2 = res instanceof http2.Http2ServerResponse;
  const grouped = new Map<string, { name: string; values: string[] }>();
  for (const [k, v] of out.headers) {
    if (HOP_BY_HOP.has(k.toLowerCase()) || k.toLowerCase() === 'content-length') continue;
    const g = grouped.get(k.toLowerCase());
    if (g === undefined) grouped.set(k.toLowerCase(), { name: h2 ? k.toLowerCase() : k, values: [v] });
    else g.values.push(v);
  }
  try {
    for (const { name, values } of grouped.values()) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
    res.writeHead(out.status);
  } catch {
    res.writeHead(502);
  }
  if (typeof out.body === 'string') {
    res.end(out.body);
    return;
  }
  const body = out.body;
  body.on('data', (chunk: Buffer) => (res as http.ServerResponse).write(chunk));
  body.on('end', () => {
    if (h2 && out.trailers !== undefined) (res as http2.Http2ServerResponse).addTrailers(out.trailers);
    (res as http.ServerResponse).end();
  });
  body.on('error', () => (res as http.ServerResponse).destroy());
}
