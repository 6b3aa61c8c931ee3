// HTTP/1.1 upstream pools of the HTTP/1 engine (protocols/http1/pool.ts), one per endpoint: plain TCP
// to an app or non-mesh upstream, or mTLS with ALPN `http/1.1` to a peer proxy (peerProtocol http1),
// the peer's SPIFFE ID verified on every new connection. Pools survive snapshot updates (keyed by
// address, port and expected identity) and close when idle.
import net from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { tls } from '../../core/tls-module.ts';
import type { IdentityMaterial } from '../../identity/material.ts';
import { clientTlsOptions } from '../../identity/tls.ts';
import { Http1Pool } from './http1/pool.ts';
import { ALPN_HTTP1 } from './mesh-tls.ts';
import { connectDirect } from './socket-reads.ts';

export interface PoolLimits {
  readonly maxConnections: number;
  readonly maxPending: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxHeaderBytes: number;
}

/** What a pool was made for: its address, port and the peer identity it verifies ('' for plain pools). */
interface PoolEntry {
  readonly pool: Http1Pool;
  readonly host: string;
  readonly port: number;
  readonly peer: string;
}

export class Http1Pools {
  /** Every pool by its key (plainKey / meshKey), for `retain`. */
  readonly #pools = new Map<string, PoolEntry>();
  /** The same pools by host → port → peer identity: the per-request lookup, which builds no key string. */
  readonly #byAddress = new Map<string, Map<number, Map<string, Http1Pool>>>();
  readonly #identity: () => IdentityMaterial | undefined;

  constructor(identity: () => IdentityMaterial | undefined) {
    this.#identity = identity;
  }

  /** Pool of plain TCP connections to host:port. */
  plain(host: string, port: number, limits: PoolLimits): Http1Pool {
    let pool = this.#byAddress.get(host)?.get(port)?.get('');
    if (pool === undefined) {
      pool = new Http1Pool({
        connect: () => connectDirect({ host, port, noDelay: true }),
        name: `${host}:${port}`,
        ...limits,
      });
      this.#add(Http1Pools.plainKey(host, port), { pool, host, port, peer: '' });
    }
    return pool;
  }

  /** Pool of mTLS (ALPN http/1.1) connections to a peer proxy at host:proxyPort presenting `spiffeId`. */
  mesh(host: string, proxyPort: number, spiffeId: string, limits: PoolLimits): Http1Pool {
    let pool = this.#byAddress.get(host)?.get(proxyPort)?.get(spiffeId);
    if (pool === undefined) {
      pool = new Http1Pool({
        connect: () => {
          const material = this.#identity();
          if (material === undefined) {
            const s = new net.Socket();
            queueMicrotask(() => s.destroy(new Error('this proxy has no workload identity yet')));
            return s;
          }
          return tls.connect({ host, port: proxyPort, ...clientTlsOptions(material, { expectedPeer: spiffeId }), ALPNProtocols: [ALPN_HTTP1], noDelay: true } as ConnectionOptions);
        },
        verify: (socket) => ((socket as TLSSocket).alpnProtocol === ALPN_HTTP1 ? null : new Error(`peer ${host}:${proxyPort} did not agree to ${ALPN_HTTP1}`)),
        name: `${host}:${proxyPort} (${spiffeId})`,
        ...limits,
      });
      this.#add(Http1Pools.meshKey(host, proxyPort, spiffeId), { pool, host, port: proxyPort, peer: spiffeId });
    }
    return pool;
  }

  #add(key: string, entry: PoolEntry): void {
    this.#pools.set(key, entry);
    let byPort = this.#byAddress.get(entry.host);
    if (byPort === undefined) this.#byAddress.set(entry.host, (byPort = new Map()));
    let byPeer = byPort.get(entry.port);
    if (byPeer === undefined) byPort.set(entry.port, (byPeer = new Map()));
    byPeer.set(entry.peer, entry.pool);
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
    for (const [key, entry] of this.#pools) {
      if (live.has(key)) continue;
      entry.pool.close();
      this.#pools.delete(key);
      const byPort = this.#byAddress.get(entry.host);
      const byPeer = byPort?.get(entry.port);
      byPeer?.delete(entry.peer);
      if (byPeer?.size === 0) byPort!.delete(entry.port);
      if (byPort?.size === 0) this.#byAddress.delete(entry.host);
    }
  }

  get size(): number {
    return this.#pools.size;
  }

  close(): void {
    for (const entry of this.#pools.values()) entry.pool.close();
    this.#pools.clear();
    this.#byAddress.clear();
  }
}
