// Push: turns mesh changes into per-proxy xDS snapshots. Changes are debounced (100 ms quiet time,
// at most 1 s after the first change); each flush indexes the mesh once, compiles once per group of
// proxies that see the same thing (same kind, namespace, workload, ports and scope), packs each
// distinct resource once, and hands the SnapshotCache one snapshot per proxy. Type versions are
// content hashes, so a proxy whose view did not change is not woken, and an endpoint-only change
// moves only the EDS version (the ADS server then sends only EDS).
import { createHash } from 'node:crypto';
import { logger } from '../core/logger.ts';
import { systemClock, type Clock } from '../core/coarse-timer.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, contentVersion, packAny, type XdsAny } from '../xds/resources.ts';
import type { SnapshotCache, TypeSnapshot, XdsSnapshot } from '../xds/server.ts';
import type { MetricsRegistry, Counter, Histogram } from '../telemetry/metrics.ts';
import type { MeshConfig } from '../config/types.ts';
import type { WorkloadEntry } from './registry.ts';
import { buildMeshIndex, type MeshIndex, type MeshSnapshot } from './compiler/mesh-index.ts';
import { compileProxy, type CompiledProxy, type ProxyDescriptor } from './compiler/compile.ts';
import type { XdsObject } from './compiler/clusters.ts';

const log = logger('control.push');

const TYPES = [
  { url: CLUSTER_TYPE_URL, msg: 'envoy.config.cluster.v3.Cluster', pick: (c: CompiledProxy) => c.clusters },
  { url: ENDPOINT_TYPE_URL, msg: 'envoy.config.endpoint.v3.ClusterLoadAssignment', pick: (c: CompiledProxy) => c.endpoints },
  { url: LISTENER_TYPE_URL, msg: 'envoy.config.listener.v3.Listener', pick: (c: CompiledProxy) => c.listeners },
  { url: ROUTE_TYPE_URL, msg: 'envoy.config.route.v3.RouteConfiguration', pick: (c: CompiledProxy) => c.routes },
] as const;

export interface PushOptions {
  readonly cache: SnapshotCache;
  /** Quiet time after a change before recomputing. Default 100 ms. */
  readonly debounceMs?: number;
  /** Longest a change waits while changes keep coming. Default 1000 ms. */
  readonly maxDelayMs?: number;
  readonly metrics?: MetricsRegistry;
  /**
   * Warm-up after start: for this long, connecting proxies are registered but given no snapshot and
   * nothing is pushed (they keep serving their last config). A restarted control plane learns the
   * endpoints from the proxies as they reconnect; pushing before they are back would hand callers
   * empty endpoint sets. Default 0 (no warm-up).
   */
  readonly warmupMs?: number;
  /** Time source for debounce and latency (tests inject a fake one alongside mocked timers). */
  readonly clock?: Clock;
}

export interface PushStats {
  readonly flushes: number;
  readonly lastFlushAt: number | undefined;
  /** Time from the first pending change to snapshots set, last flush. */
  readonly lastLatencyMs: number | undefined;
  /** Compile + pack time of the last flush. */
  readonly lastComputeMs: number | undefined;
  readonly groups: number;
  readonly proxies: number;
  /** Proxies whose snapshot changed in the last flush, per type short name. */
  readonly lastChanged: Readonly<Record<'CDS' | 'EDS' | 'LDS' | 'RDS', number>>;
}

interface ProxyState {
  readonly descriptor: ProxyDescriptor;
  streams: number;
  compiled: CompiledProxy | undefined;
}

interface GroupResult {
  readonly compiled: CompiledProxy;
  readonly snapshot: XdsSnapshot;
}

const SHORT: Record<string, 'CDS' | 'EDS' | 'LDS' | 'RDS'> = { [CLUSTER_TYPE_URL]: 'CDS', [ENDPOINT_TYPE_URL]: 'EDS', [LISTENER_TYPE_URL]: 'LDS', [ROUTE_TYPE_URL]: 'RDS' };

export function groupKeyOf(d: ProxyDescriptor): string {
  return JSON.stringify([d.kind, d.namespace, d.service ?? '', d.serviceAccount, d.ports, d.inboundPort ?? 0, d.upstreams ? [...d.upstreams].sort() : '*']);
}

export class PushController {
  readonly #cache: SnapshotCache;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #clock: Clock;
  readonly #proxies = new Map<string, ProxyState>();
  #config: MeshConfig | undefined;
  #workloads: ReadonlyMap<string, WorkloadEntry> = new Map();
  #trustBundlePem = '';
  #index: MeshIndex | undefined;
  /** The last index built: unchanged services' compiled pieces carry over from it. */
  #previousIndex: MeshIndex | undefined;
  #groups = new Map<string, GroupResult>();
  /** The groups of the previous index: a recompiled type with an unchanged version keeps its old object. */
  #retired = new Map<string, GroupResult>();
  /** Packed resources by content (JSON), kept across flushes so unchanged resources are not re-encoded. */
  #packed = new Map<string, XdsAny>();
  /** Packed resources by object identity: compiled pieces are shared by groups and reused across flushes. */
  #byObject = new WeakMap<object, XdsAny>();
  #timer: NodeJS.Timeout | undefined;
  #warmup: NodeJS.Timeout | undefined;
  #pendingSince: number | undefined;
  #stats: PushStats = { flushes: 0, lastFlushAt: undefined, lastLatencyMs: undefined, lastComputeMs: undefined, groups: 0, proxies: 0, lastChanged: { CDS: 0, EDS: 0, LDS: 0, RDS: 0 } };
  readonly #mFlushes: Counter | undefined;
  readonly #mLatency: Histogram | undefined;
  readonly #mTypePushes: Counter | undefined;
  readonly #listeners = new Set<(stats: PushStats) => void>();

  constructor(options: PushOptions) {
    this.#cache = options.cache;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#maxDelayMs = options.maxDelayMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
    if ((options.warmupMs ?? 0) > 0) {
      this.#warmup = setTimeout(() => this.endWarmup(), options.warmupMs);
      this.#warmup.unref();
    }
    const m = options.metrics;
    if (m) {
      this.#mFlushes = m.counter({ name: 'weft_control_push_flushes_total', help: 'Recomputations of proxy snapshots after mesh changes.' });
      this.#mLatency = m.histogram({ name: 'weft_control_push_latency_seconds', help: 'Time from a mesh change to new snapshots in the xDS cache (debounce included).', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
      this.#mTypePushes = m.counter({ name: 'weft_control_snapshot_changes_total', help: 'Proxy snapshots whose type version changed, by type.', labelNames: ['type'] });
    }
  }

  get stats(): PushStats {
    return this.#stats;
  }

  /** Called after each flush (tests and benchmarks). */
  onFlush(listener: (stats: PushStats) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** New mesh inputs; any omitted part stays. Debounced. */
  update(parts: { config?: MeshConfig; workloads?: ReadonlyMap<string, WorkloadEntry>; trustBundlePem?: string }): void {
    if (parts.config !== undefined) this.#config = parts.config;
    if (parts.workloads !== undefined) this.#workloads = parts.workloads;
    if (parts.trustBundlePem !== undefined) this.#trustBundlePem = parts.trustBundlePem;
    this.#index = undefined;
    this.#schedule();
  }

  /** A proxy's stream opened: it gets its snapshot now (not after the debounce). */
  connect(key: string, descriptor: ProxyDescriptor): void {
    const st = this.#proxies.get(key);
    if (st && groupKeyOf(st.descriptor) === groupKeyOf(descriptor)) st.streams++;
    else this.#proxies.set(key, { descriptor, streams: (st?.streams ?? 0) + 1, compiled: undefined });
    if (this.#warmup === undefined) this.#applyFor(key);
  }

  /** True while the start-up warm-up holds snapshots back. */
  get warmingUp(): boolean {
    return this.#warmup !== undefined;
  }

  /** Ends the warm-up now (also called when it times out): every connected proxy gets its snapshot. */
  endWarmup(): void {
    if (this.#warmup === undefined) return;
    clearTimeout(this.#warmup);
    this.#warmup = undefined;
    this.flushNow();
  }

  disconnect(key: string): void {
    const st = this.#proxies.get(key);
    if (!st) return;
    if (--st.streams > 0) return;
    this.#proxies.delete(key);
    this.#cache.deleteSnapshot(key);
  }

  /** What a proxy was last given (admin API, `weft config`). */
  compiledFor(key: string): CompiledProxy | undefined {
    return this.#proxies.get(key)?.compiled;
  }

  descriptorOf(key: string): ProxyDescriptor | undefined {
    return this.#proxies.get(key)?.descriptor;
  }

  /** Recomputes now, cancelling a pending debounce. */
  flushNow(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush();
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#warmup) clearTimeout(this.#warmup);
    this.#warmup = undefined;
  }

  #schedule(): void {
    const now = this.#clock.now();
    this.#pendingSince ??= now;
    if (this.#timer) clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#debounceMs, this.#pendingSince + this.#maxDelayMs - now));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
  }

  #meshIndex(): MeshIndex | undefined {
    if (this.#config === undefined) return undefined;
    if (this.#index === undefined) {
      const snapshot: MeshSnapshot = { config: this.#config, workloads: this.#workloads, trustBundlePem: this.#trustBundlePem };
      const index = buildMeshIndex(snapshot, this.#previousIndex);
      this.#index = index;
      this.#previousIndex = index;
      // Groups whose scope holds no changed service keep their compilation and snapshots.
      const previousGroups = this.#groups;
      this.#retired = previousGroups;
      this.#groups = new Map();
      const changed = index.changedServices;
      if (changed !== undefined) {
        for (const [k, g] of previousGroups) if (!g.compiled.scope.some((svc) => changed.has(svc))) this.#groups.set(k, g);
      }
    }
    return this.#index;
  }

  #pack(msg: string, obj: XdsObject, fresh: Map<string, XdsAny>): XdsAny {
    const known = this.#byObject.get(obj);
    if (known !== undefined) return known;
    const json = JSON.stringify(obj);
    let any = fresh.get(json) ?? this.#packed.get(json);
    if (any === undefined) any = packAny(msg, obj);
    fresh.set(json, any);
    this.#byObject.set(obj, any);
    return any;
  }

  #group(index: MeshIndex, d: ProxyDescriptor, fresh: Map<string, XdsAny>): GroupResult {
    const key = groupKeyOf(d);
    let g = this.#groups.get(key);
    if (g === undefined) {
      const compiled = compileProxy(index, d);
      const resources: Record<string, TypeSnapshot> = {};
      for (const t of TYPES) {
        const items = new Map<string, XdsAny>();
        const h = createHash('sha256');
        for (const [name, obj] of [...t.pick(compiled)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
          const any = this.#pack(t.msg, obj, fresh);
          items.set(name, any);
          h.update(name).update('\0').update(contentVersion(any)).update('\0');
        }
        const version = h.digest('hex').slice(0, 16);
        const before = this.#retired.get(key)?.snapshot.resources[t.url];
        resources[t.url] = before !== undefined && before.version === version ? before : { version, items };
      }
      g = { compiled, snapshot: { resources } };
      this.#groups.set(key, g);
    }
    return g;
  }

  /** Sets the snapshot of one proxy; returns the short names of the types whose version changed. */
  #set(key: string, st: ProxyState, g: GroupResult): string[] {
    const prev = this.#cache.getSnapshot(key);
    const changed: string[] = [];
    for (const t of TYPES) if (prev?.resources[t.url]?.version !== g.snapshot.resources[t.url]?.version) changed.push(SHORT[t.url]!);
    st.compiled = g.compiled;
    if (changed.length > 0 || prev === undefined) this.#cache.setSnapshot(key, g.snapshot);
    return changed;
  }

  #applyFor(key: string): void {
    const index = this.#meshIndex();
    const st = this.#proxies.get(key);
    if (!index || !st) return;
    const fresh = new Map<string, XdsAny>();
    const g = this.#group(index, st.descriptor, fresh);
    for (const [k, v] of fresh) this.#packed.set(k, v);
    this.#set(key, st, g);
  }

  #flush(): void {
    if (this.#warmup !== undefined) return;
    const started = this.#clock.now();
    const pendingSince = this.#pendingSince ?? started;
    this.#pendingSince = undefined;
    this.#index = undefined;
    const index = this.#meshIndex();
    if (!index) return;
    const fresh = new Map<string, XdsAny>();
    const changed = { CDS: 0, EDS: 0, LDS: 0, RDS: 0 };
    try {
      for (const [key, st] of this.#proxies) {
        for (const t of this.#set(key, st, this.#group(index, st.descriptor, fresh))) changed[t as keyof typeof changed]++;
      }
    } catch (error) {
      log.error({ err: error }, 'compiling proxy snapshots failed; proxies keep their previous config');
      return;
    }
    // Keep only what is in use, so the pack cache does not grow with history.
    this.#packed = fresh;
    const done = this.#clock.now();
    this.#stats = {
      flushes: this.#stats.flushes + 1,
      lastFlushAt: Date.now(),
      lastLatencyMs: done - pendingSince,
      lastComputeMs: done - started,
      groups: this.#groups.size,
      proxies: this.#proxies.size,
      lastChanged: changed,
    };
    this.#mFlushes?.inc();
    this.#mLatency?.observe(undefined, (done - pendingSince) / 1000);
    for (const [t, n] of Object.entries(changed)) if (n > 0) this.#mTypePushes?.inc({ type: t }, n);
    log.debug({ ...this.#stats }, 'snapshots recomputed');
    for (const l of [...this.#listeners]) l(this.#stats);
  }
}
