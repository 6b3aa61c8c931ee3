// HTTP/1.1 upstream pools of the HTTP/1 engine (protocols/http1/pool.ts), one per endpoint: plain TCP
// to an app or non-mesh upstream, or mTLS with ALPN `http/1.1` to a peer proxy (peerProtocol http1),
// the peer's SPIFFE ID verified on every new connection. Pools survive snapshot updates (keyed by
// address, port and expected identity) and close when idle.
import net from 'node:net';
import tls from 'node:tls';
import type { IdentityMaterial } from '../../identity/material.ts';
import { clientTlsOptions } from '../../identity/tls.ts';
import { Http1Pool } from './http1/pool.ts';
import { ALPN_HTTP1 } from './mesh-tls.ts';

export interface PoolLimits {
  readonly maxConnections: number;
  readonly maxPending: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxHeaderBytes: number;
}

export class Http1Pools {
  readonly #pools = new Map<string, Http1Pool>();
  readonly #identity: () => IdentityMaterial | undefined;

  constructor(identity: () => IdentityMaterial | undefined) {
    this.#identity = identity;
  }

  /** Pool of plain TCP connections to host:port. */
  plain(host: string, port: number, limits: PoolLimits): Http1Pool {
    const key = Http1Pools.plainKey(host, port);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Http1Pool({
        connect: () => net.connect({ host, port, noDelay: true }),
        name: `${host}:${port}`,
        ...limits,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Pool of mTLS (ALPN http/1.1) connections to a peer proxy at host:proxyPort presenting `spiffeId`. */
  mesh(host: string, proxyPort: number, spiffeId: string, limits: PoolLimits): Http1Pool {
    const key = Http1Pools.meshKey(host, proxyPort, spiffeId);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Http1Pool({
        connect: () => {
          const material = this.#identity();
          if (material === undefined) {
            const s = new net.Socket();
            queueMicrotask(() => s.destroy(new Error('this proxy has no workload identity yet')));
            return s;
          }
          return tls.connect({ host, port: proxyPort, ...clientTlsOptions(material, { expectedPeer: spiffeId }), ALPNProtocols: [ALPN_HTTP1], noDelay: true } as tls.ConnectionOptions);
        },
        verify: (socket) => ((socket as tls.TLSSocket).alpnProtocol === ALPN_HTTP1 ? null : new Error(`peer ${host}:${proxyPort} did not agree to ${ALPN_HTTP1}`)),
        name: `${host}:${proxyPort} (${spiffeId})`,
        ...limits,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Key of the plain pool for host:port (see `retain`). */
  static plainKey(host: string, port: number): string {
    return `plain|${host}:${port}`;
  }

  /** Key of the mesh pool for a peer (see `retain`). */
  static meshKey(host: string, proxyPort: number, spiffeId: string): string {
    return `mesh|${host}:${proxyPort}|${spiffeId}`;
  }

  /**
   * Closes the pools of endpoints no longer in the config (endpoint churn must not leak pools);
   * requests in flight on them finish, idle connections close.
   */
  retain(live: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (live.has(key)) continue;
      pool.close();
      this.#pools.delete(key);
    }
  }

  get size(): number {
    return this.#pools.size;
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
  }
}
