// The proxy process: binds the listeners of the runtime snapshot — outbound by Host (HTTP/1.1 and
// h2c), one port per upstream (any protocol, detection only where undeclared), inbound (mTLS with
// ALPN dispatch; plaintext detection in PERMISSIVE) and admin — and hands connections to the
// protocol adapters and the per-direction stacks. Also owns graceful drain and shutdown. All HTTP/2
// runs on weft's own codec: from peer proxies in inbound/h2.ts, h2c from apps in protocols/h2-server.ts;
// each is loaded on its first connection (a proxy without h2 traffic never pays its memory).
import net from 'node:net';
import type { SecureContextOptions, Server as TlsServer, TLSSocket, TlsOptions } from 'node:tls';
import { tls } from '../core/tls-module.ts';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Watch } from '../core/watch.ts';
import { sharedTimer } from '../core/coarse-timer.ts';
import { logger } from '../core/logger.ts';
import type { IdentityMaterial } from '../identity/material.ts';
import { trustDomainOf } from '../identity/spiffe.ts';
import { ProxyContext } from './context.ts';
import type { ProxyError } from './errors.ts';
import { ProxyMetrics } from './metrics.ts';
import type { Exchange } from './protocols/exchange.ts';
import { detect } from './protocols/detect.ts';
import { adoptAccepted } from './protocols/socket-reads.ts';
import { ALPN_H2, ALPN_HTTP1, ALPN_TCP, connectTcp, inboundTlsOptions, peerExpectation, verifyPeerSpiffeId } from './protocols/mesh-tls.ts';
import { acceptMeshTunnel } from './protocols/tunnel.ts';
import { splice } from './protocols/tcp.ts';
import { outboundHttp } from './outbound/stack.ts';
import { outboundTcp } from './outbound/tcp.ts';
import { inboundHttp } from './inbound/stack.ts';
import { Http1Server, type Http1ServerConn } from './protocols/http1/server.ts';
import type { Http1Head } from './protocols/http1/parser.ts';
import { outboundHttp1, H1State } from './outbound/http1.ts';
import { inboundHttp1 } from './inbound/http1.ts';
import type { H2ServerSession } from './protocols/h2/api.ts';
import { routeRequest, type RoutableRequest } from './layers/route.ts';
import type { RuntimeSnapshot, ServicePortConfig, UpstreamListenerConfig } from './runtime/snapshot.ts';
import { startAdminServer, type AdminServer } from './admin/server.ts';

const log = logger('proxy');

export interface ProxyOptions {
  /** The runtime snapshot, or a Watch of them (routes and clusters follow updates; listeners are bound once). */
  snapshot: RuntimeSnapshot | Watch<RuntimeSnapshot>;
  /** Identity material (renewals). Default: the snapshot's `workload.identity`. */
  identity?: Watch<IdentityMaterial | undefined>;
  metrics?: ProxyMetrics;
}

export interface ProxyAddresses {
  outbound: AddressInfo | undefined;
  inbound: AddressInfo | undefined;
  admin: AddressInfo | undefined;
  /** Keyed `<service host>:<servicePort>` as written in the upstream listener config. */
  upstreams: Map<string, AddressInfo>;
}

type Handler = (ex: Exchange) => void;

type InboundH2Module = typeof import('./inbound/h2.ts');
let inboundH2Loading: Promise<InboundH2Module> | undefined;
let inboundH2Module: InboundH2Module | undefined;

/** The inbound HTTP/2 stack (own codec, bridges): imported on the first ALPN h2 connection and cached (idle RSS). */
function loadInboundH2(): Promise<InboundH2Module> {
  return (inboundH2Loading ??= import('./inbound/h2.ts').then((m) => (inboundH2Module = m)));
}

type H2ServerModule = typeof import('./protocols/h2-server.ts');
let h2ServerLoading: Promise<H2ServerModule> | undefined;
let h2ServerModule: H2ServerModule | undefined;

/** The app-facing HTTP/2 server (own codec): imported on the first h2c connection and cached (idle RSS). */
function loadH2Server(): Promise<H2ServerModule> {
  return (h2ServerLoading ??= import('./protocols/h2-server.ts').then((m) => (h2ServerModule = m)));
}

/** Where a listener's h2c connections go: a stack's handler, served on the own codec. */
interface H2cListener {
  readonly handler: Handler;
  readonly direction: 'outbound' | 'inbound';
}

export class WeftProxy {
  readonly ctx: ProxyContext;
  readonly addresses: ProxyAddresses = { outbound: undefined, inbound: undefined, admin: undefined, upstreams: new Map() };
  readonly #servers: net.Server[] = [];
  readonly #sockets = new Set<Duplex>();
  /** Sessions of weft's own HTTP/2 codec (inbound from peer proxies). */
  readonly #ownH2Sessions = new Set<H2ServerSession>();
  #idleSweep: NodeJS.Timeout | undefined;
  readonly #h1Servers: Http1Server[] = [];
  #admin: AdminServer | undefined;
  #drained: Promise<void> | undefined;
  readonly startedAt = Date.now();

  private constructor(ctx: ProxyContext) {
    this.ctx = ctx;
  }

  /** Binds every listener of the snapshot; resolves when all are listening. */
  static async start(options: ProxyOptions): Promise<WeftProxy> {
    const snapshots = options.snapshot instanceof Watch ? options.snapshot : new Watch(options.snapshot);
    const identities = options.identity ?? new Watch<IdentityMaterial | undefined>(snapshots.current.workload.identity);
    const proxy = new WeftProxy(new ProxyContext(snapshots, identities, options.metrics));
    try {
      await proxy.#listen();
    } catch (e) {
      await proxy.close();
      throw e;
    }
    return proxy;
  }

  get snapshot(): RuntimeSnapshot {
    return this.ctx.snapshot;
  }

  get draining(): boolean {
    return this.ctx.draining;
  }

  async #listen(): Promise<void> {
    const s = this.ctx.snapshot;
    const { listeners } = s;
    if (listeners.outbound) {
      const h1 = this.#h1Server(outboundHttp1, 'outbound', undefined);
      const h2 = this.#h2Server((ex) => void outboundHttp(this.ctx, ex, undefined));
      this.addresses.outbound = await this.#bind('outbound', listeners.outbound.address, listeners.outbound.port, (socket) => {
        whenDetected(socket, s.limits.detectTimeoutMs, (kind) => {
          if (kind === 'h2') this.#serveH2c(h2, socket);
          else if (kind === 'http1') handOffH1(h1, socket);
          else socket.destroy();
        });
      }, true);
    }
    for (const up of listeners.upstreams) {
      const addr = await this.#bind(`upstream:${up.servicePort.id}`, up.localAddress, up.localPort, this.#upstreamHandler(up), true);
      this.addresses.upstreams.set(`${up.service.id}:${up.servicePort.port}`, addr);
    }
    if (listeners.inbound) {
      this.addresses.inbound = await this.#bind('inbound', listeners.inbound.address, listeners.inbound.port, this.#inboundHandler());
    }
    // Idle own-codec sessions (no stream, nothing read or written for idleTimeoutMs) are closed by one
    // sweep: peers' h2 on the inbound port and apps' h2c on every listener (a client-only sidecar too).
    const idleMs = s.limits.idleTimeoutMs;
    this.#idleSweep = setInterval(() => this.#sweepIdleSessions(), Math.max(250, Math.min(idleMs / 4, 10_000)));
    this.#idleSweep.unref();
    if (listeners.admin) {
      this.#admin = await startAdminServer(this, listeners.admin.address, listeners.admin.port);
      this.addresses.admin = this.#admin.address;
    }
  }

  /**
   * Listens for `name`. `directReads`: connections read into the shared buffer (socket-reads.ts) —
   * for the plaintext app-facing listeners; the inbound port's TLS keeps node's reads.
   */
  #bind(name: string, address: string, port: number, onConnection: (socket: net.Socket) => void, directReads = false): Promise<AddressInfo> {
    const limits = this.ctx.snapshot.limits;
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: directReads });
    server.maxConnections = limits.maxConnections;
    server.on('connection', (accepted: net.Socket) => {
      const socket = directReads ? adoptAccepted(accepted, true) : accepted;
      this.#sockets.add(socket);
      this.ctx.metrics.connectionOpened(name);
      socket.on('error', () => {});
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.ctx.metrics.connectionClosed(name);
      });
      if (this.ctx.draining) {
        socket.destroy();
        return;
      }
      try {
        onConnection(socket);
      } catch (e) {
        // One bad connection must never take the proxy down.
        log.error({ err: e, listener: name }, 'connection handler failed');
        socket.destroy();
      }
    });
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port }, () => {
        server.removeListener('error', reject);
        server.on('error', (e) => log.error({ err: e, listener: name }, 'listener error'));
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** An HTTP/1 engine server fed with sockets by a listener; each connection carries an H1State. */
  #h1Server(onRequest: (conn: Http1ServerConn, head: Http1Head) => void, direction: 'outbound' | 'inbound', fixed: ServicePortConfig | undefined): H1Listener {
    const limits = this.ctx.snapshot.limits;
    const server = new Http1Server({
      onRequest,
      maxHeaderBytes: limits.maxHeaderBytes,
      headerTimeoutMs: limits.headerTimeoutMs,
      idleTimeoutMs: limits.idleTimeoutMs,
      onClientError: (_conn, error) => this.ctx.metrics.error(direction, error.code),
    });
    this.#h1Servers.push(server);
    return { server, ctx: this.ctx, direction, fixed };
  }

  /** Serves a peer's mTLS socket (ALPN h2) on the own codec; the first one loads the inbound h2 stack. */
  #serveOwnH2(socket: TLSSocket): void {
    socket.allowHalfOpen = false;
    if (inboundH2Module !== undefined) {
      inboundH2Module.serveInboundH2(this.ctx, socket, this.#ownH2Sessions);
      return;
    }
    // Nothing reads the socket meanwhile: the peer's preface waits in its buffer.
    loadInboundH2().then(
      (m) => {
        if (!socket.destroyed) m.serveInboundH2(this.ctx, socket, this.#ownH2Sessions);
      },
      (e: unknown) => {
        log.error({ err: e }, 'the inbound HTTP/2 stack could not be loaded');
        socket.destroy();
      },
    );
  }

  #sweepIdleSessions(): void {
    const idleMs = this.ctx.snapshot.limits.idleTimeoutMs;
    const now = performance.now();
    for (const session of this.#ownH2Sessions) {
      if (!session.draining && session.activeStreams === 0 && now - session.lastActive > idleMs) session.close();
    }
  }

  /** Where h2c from apps on a listener goes: `handler`, one own-codec session per connection. */
  #h2Server(handler: Handler, direction: 'outbound' | 'inbound' = 'outbound'): H2cListener {
    return { handler, direction };
  }

  /** Serves h2c (prior knowledge) on `socket`, loading the h2 stack on first use; its bytes wait in its buffer meanwhile. */
  #serveH2c(l: H2cListener, socket: Duplex): void {
    if (h2ServerModule === undefined) {
      loadH2Server().then(
        () => {
          if (!socket.destroyed) this.#serveH2c(l, socket);
        },
        (e: unknown) => {
          log.error({ err: e }, 'the HTTP/2 stack could not be loaded');
          socket.destroy();
        },
      );
      return;
    }
    const metrics = this.ctx.metrics;
    h2ServerModule.serveH2Exchanges(
      socket,
      h2ServerModule.serverSessionOptions(this.ctx.snapshot.limits),
      { sessions: this.#ownH2Sessions, draining: this.ctx.draining, onRefused: (code) => metrics.error(l.direction, code) },
      l.handler,
    );
  }

  /** Connection handler of one upstream listener (fixed destination; detection only when `auto`). */
  #upstreamHandler(up: UpstreamListenerConfig): (socket: net.Socket) => void {
    const fixed: ServicePortConfig = up.servicePort;
    const h1 = this.#h1Server(outboundHttp1, 'outbound', fixed);
    const h2 = this.#h2Server((ex) => void outboundHttp(this.ctx, ex, fixed));
    const tcp = (socket: net.Socket) => {
      const req: RoutableRequest = { authority: up.service.id, method: 'CONNECT', path: '/', header: () => undefined, remoteAddress: socket.remoteAddress ?? '' };
      let decision;
      try {
        decision = routeRequest(this.ctx.snapshot, this.ctx.clusters, req, fixed);
      } catch {
        socket.destroy();
        return;
      }
      outboundTcp(this.ctx, socket, decision, req, undefined, this.ctx.snapshot.limits.idleTimeoutMs).catch((e: unknown) => {
        log.warn({ code: (e as ProxyError).code, service: fixed.id }, (e as Error).message);
        if (!socket.destroyed) socket.resetAndDestroy();
      });
    };
    return (socket) => {
      const protocol = up.protocol;
      if (protocol === 'tcp') return tcp(socket); // declared TCP: never wait for client bytes
      if (protocol === 'http1') return void handOffH1(h1, socket);
      if (protocol === 'http2' || protocol === 'grpc') return void this.#serveH2c(h2, socket);
      whenDetected(socket, this.ctx.snapshot.limits.detectTimeoutMs, (kind) => {
        if (kind === 'h2') this.#serveH2c(h2, socket);
        else if (kind === 'http1') handOffH1(h1, socket);
        else if (kind === 'closed') socket.destroy();
        else tcp(socket);
      });
    };
  }

  /** Connection handler of the inbound port: mTLS (ALPN dispatch), or plaintext where permitted. */
  #inboundHandler(): (socket: net.Socket) => void {
    const appH1 = this.#h1Server(inboundHttp1, 'inbound', undefined);
    const appH2 = this.#h2Server((ex) => void inboundHttp(this.ctx, ex), 'inbound');
    const snapshot = () => this.ctx.snapshot;
    // One TlsServer (never listening itself) terminates mTLS for sockets the inbound listener hands
    // it; it follows identity renewals through setSecureContext.
    let tlsServer: TlsServer | undefined;
    let appliedMaterial: IdentityMaterial | undefined;
    const tlsFor = (material: IdentityMaterial): TlsServer => {
      if (tlsServer === undefined) {
        tlsServer = tls.createServer({ ...inboundTlsOptions(material), allowHalfOpen: true } as TlsOptions);
        tlsServer.on('tlsClientError', (_e: Error, s: TLSSocket) => s.destroy());
        tlsServer.on('secureConnection', onSecure);
        appliedMaterial = material;
      } else if (appliedMaterial !== material) {
        tlsServer.setSecureContext(inboundTlsOptions(material) as SecureContextOptions);
        appliedMaterial = material;
      }
      return tlsServer;
    };
    // Raw sockets whose TLS handshake completed (a TLSSocket made by TlsServer keeps its raw socket in _parent).
    const handshaken = new WeakSet<object>();
    const onSecure = (socket: TLSSocket) => {
      handshaken.add((socket as unknown as { _parent?: object })._parent ?? socket);
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      socket.once('close', () => this.#sockets.delete(socket));
      const material = this.ctx.identity;
      const inbound = snapshot().workload.inbound;
      const verdict = material
        ? verifyPeerSpiffeId(socket, peerExpectation(inbound.allowedPeers, material), trustDomainOf(material.spiffeId))
        : undefined;
      if (verdict === undefined || !verdict.ok) {
        log.warn({ remote: socket.remoteAddress, reason: verdict?.error.message ?? 'no identity' }, 'inbound mTLS peer refused');
        socket.destroy();
        return;
      }
      const alpn = socket.alpnProtocol;
      if (alpn === ALPN_H2) this.#serveOwnH2(socket);
      else if (alpn === ALPN_HTTP1) handOffH1(appH1, socket);
      else if (alpn === ALPN_TCP) {
        acceptMeshTunnel(socket, (p) => inbound.ports.has(p), inbound.appAddress, 1000).then(
          (app) => {
            if (app) this.#splice(socket, app);
          },
          () => socket.destroy(),
        );
      } else socket.destroy();
    };
    const onTls = (raw: net.Socket) => {
      const material = this.ctx.identity;
      if (material === undefined) return raw.destroy();
      // Handshake deadline (slow or silent clients): the raw socket goes unless its handshake finished.
      const d = sharedTimer.deadline(snapshot().limits.headerTimeoutMs, () => {
        if (!handshaken.has(raw)) raw.destroy();
      });
      raw.once('close', () => d.cancel());
      tlsFor(material).emit('connection', raw);
    };
    return (socket) => {
      const mode = snapshot().workload.inbound.mtlsMode;
      if (mode === 'STRICT') return onTls(socket);
      void detect(socket, snapshot().limits.detectTimeoutMs).then((kind) => {
        if (kind === 'tls') return mode === 'PERMISSIVE' ? onTls(socket) : socket.destroy();
        if (kind === 'h2') return void this.#serveH2c(appH2, socket);
        if (kind === 'http1') return void handOffH1(appH1, socket);
        if (kind === 'closed') return socket.destroy();
        // Opaque plaintext TCP: only to a declared tcp port, the first one.
        const inbound = snapshot().workload.inbound;
        const tcpPort = [...inbound.ports.values()].find((p) => p.protocol === 'tcp');
        if (tcpPort === undefined) return socket.destroy();
        connectTcp(inbound.appAddress, tcpPort.port, 1000, true).then(
          (app) => this.#splice(socket, app),
          () => socket.destroy(),
        );
      });
    };
  }

  /** Splices a tunnel and counts it, so drain waits for it (up to the deadline). */
  #splice(a: Duplex, b: Duplex): void {
    this.ctx.tunnels++;
    splice(a, b, { idleTimeoutMs: this.ctx.snapshot.limits.idleTimeoutMs, onClose: () => this.ctx.tunnels-- });
  }

  /**
   * Graceful drain: stop accepting, GOAWAY every HTTP/2 connection, `Connection: close` on HTTP/1
   * responses, wait for in-flight requests up to `deadlineMs`, then close everything.
   */
  drain(deadlineMs = this.ctx.snapshot.drainTimeoutMs): Promise<void> {
    if (this.#drained) return this.#drained;
    this.ctx.draining = true;
    log.info({ deadlineMs, inflight: this.ctx.inflight }, 'draining');
    for (const server of this.#servers) server.close();
    for (const session of this.#ownH2Sessions) session.close();
    for (const server of this.#h1Servers) void server.drain(deadlineMs);
    this.#drained = new Promise<void>((resolve) => {
      const started = Date.now();
      const check = setInterval(() => {
        if ((this.ctx.inflight === 0 && this.ctx.tunnels === 0) || Date.now() - started >= deadlineMs) {
          clearInterval(check);
          resolve(this.close());
        }
      }, 25);
    });
    return this.#drained;
  }

  /** Closes every listener and connection now. */
  async close(): Promise<void> {
    this.ctx.draining = true;
    for (const server of this.#servers) server.close();
    for (const session of this.#ownH2Sessions) session.destroy();
    if (this.#idleSweep !== undefined) clearInterval(this.#idleSweep);
    for (const server of this.#h1Servers) server.close();
    for (const socket of this.#sockets) socket.destroy();
    this.ctx.destroy();
    await this.#admin?.close();
  }
}

interface H1Listener {
  readonly server: Http1Server;
  readonly ctx: ProxyContext;
  readonly direction: 'outbound' | 'inbound';
  readonly fixed: ServicePortConfig | undefined;
}

/** Gives a socket (possibly paused by detection, bytes unshifted) to the HTTP/1 engine. */
function handOffH1(l: H1Listener, socket: Duplex): void {
  l.server.adopt(socket as net.Socket, undefined, new H1State(l.ctx, l.direction, l.fixed));
}


/** Runs `fn` once the protocol of `socket` is known; a failure closes that connection only. */
function whenDetected(socket: net.Socket, timeoutMs: number, fn: (kind: Awaited<ReturnType<typeof detect>>) => void): void {
  detect(socket, timeoutMs)
    .then(fn)
    .catch((e: unknown) => {
      log.error({ err: e }, 'connection handler failed');
      socket.destroy();
    });
}
