// ProxyContext: what the layers share — the current snapshot (from a Watch), the local identity,
// per-cluster balancer state, upstream connection pools, metrics and the drain flag. Built once per
// proxy; snapshot changes rebuild the per-target objects (clusters) but keep pools and state.
import type { Watch } from '../core/watch.ts';
import type { IdentityMaterial } from '../identity/material.ts';
import { ClusterSet } from './balancer/clusters.ts';
import { H2SessionPool } from './protocols/h2-session-pool.ts';
import { Http1Pools } from './protocols/http1-pools.ts';
import type { RuntimeSnapshot } from './runtime/snapshot.ts';
import { ProxyMetrics } from './metrics.ts';

/** Pool keys of every endpoint (and local app port) in a snapshot. */
function livePoolKeys(s: RuntimeSnapshot): Set<string> {
  const keys = new Set<string>();
  for (const c of s.clusters.values()) {
    for (const e of c.endpoints) {
      keys.add(Http1Pools.plainKey(e.address, e.port));
      if (e.proxyPort !== undefined && e.spiffeId !== undefined) keys.add(Http1Pools.meshKey(e.address, e.proxyPort, e.spiffeId));
    }
  }
  for (const p of s.workload.inbound.ports.keys()) keys.add(Http1Pools.plainKey(s.workload.inbound.appAddress, p));
  return keys;
}

export class ProxyContext {
  readonly snapshots: Watch<RuntimeSnapshot>;
  readonly identities: Watch<IdentityMaterial | undefined>;
  readonly clusters = new ClusterSet();
  /** HTTP/2 sessions (weft's own codec) to peer proxies (mTLS, ALPN h2), keyed by endpoint + expected identity. */
  readonly meshPool = new H2SessionPool();
  /** h2c sessions (weft's own codec) to local apps / plain h2 upstreams, keyed by address:port. */
  readonly plainH2Pool = new H2SessionPool();
  /** HTTP/1 engine pools: plain (apps, non-mesh upstreams) and mTLS http/1.1 to peers. */
  readonly h1Pools: Http1Pools;
  readonly metrics: ProxyMetrics;
  draining = false;
  /** Requests in flight (both directions), for drain. */
  inflight = 0;
  /** Open TCP / Upgrade tunnels, for drain. */
  tunnels = 0;
  readonly #unsubscribe: () => void;

  constructor(snapshots: Watch<RuntimeSnapshot>, identities: Watch<IdentityMaterial | undefined>, metrics = new ProxyMetrics()) {
    this.snapshots = snapshots;
    this.identities = identities;
    this.metrics = metrics;
    this.h1Pools = new Http1Pools(() => this.identities.current);
    this.#unsubscribe = snapshots.subscribe(
      (s) => {
        this.clusters.update(s);
        this.h1Pools.retain(livePoolKeys(s));
      },
      { now: true },
    );
  }

  get snapshot(): RuntimeSnapshot {
    return this.snapshots.current;
  }

  get identity(): IdentityMaterial | undefined {
    return this.identities.current;
  }

  close(): void {
    this.#unsubscribe();
    this.meshPool.close();
    this.plainH2Pool.close();
    this.h1Pools.close();
  }

  destroy(): void {
    this.#unsubscribe();
    this.meshPool.destroy();
    this.plainH2Pool.destroy();
    this.h1Pools.close();
  }
}
