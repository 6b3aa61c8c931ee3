// The registry: which workloads exist, where they are, and who they are. Static `Workload`
// resources come from the store; proxies register their workload when their xDS stream opens,
// authenticated by the SPIFFE ID of their client certificate. When a proxy's last stream closes its
// endpoint stays for a grace period (default 10 s) so a control-plane restart or a reconnect does not
// empty the mesh; `reconnect` within the grace period cancels the removal.
import { Watch } from '../core/watch.ts';
import { WeftError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import type { WorkloadConfig } from '../config/types.ts';
import type { NodeClaims, AnnouncedPort } from './node-metadata.ts';

const log = logger('control.registry');

export interface WorkloadEntry {
  /** `static:<namespace>/<name>` or `proxy:<node id>`. */
  readonly id: string;
  readonly origin: 'static' | 'proxy';
  readonly service: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly spiffeId: string;
  readonly labels: Readonly<Record<string, string>>;
  /** IP literal (gRPC clients need one) or host name. */
  readonly address: string;
  /** Application ports; the first is the main one. */
  readonly ports: readonly AnnouncedPort[];
  /** The peer proxy's inbound mTLS port; undefined = not meshed (reached directly, plaintext). */
  readonly proxyPort: number | undefined;
  readonly ready: boolean;
  readonly locality: { readonly region: string; readonly zone: string; readonly sub_zone: string } | undefined;
  /** For proxies: when the last stream closed (still listed until the grace period ends). */
  readonly disconnectedAt: number | undefined;
}

export interface RegistryView {
  /** Keyed by entry id, sorted. */
  readonly workloads: ReadonlyMap<string, WorkloadEntry>;
  readonly revision: number;
}

export class RegistryError extends WeftError {
  constructor(code: 'REGISTRY_IDENTITY_MISMATCH' | 'REGISTRY_NO_IDENTITY' | 'REGISTRY_INVALID_CLAIM', message: string, details?: Record<string, unknown>) {
    super(code, message, details ? { details } : {});
  }
}

export interface RegistryOptions {
  /** How long a disconnected proxy's endpoint stays. Default 10 000 ms. */
  readonly graceMs?: number;
  readonly clock?: () => number;
  /** Refuse proxies without a client certificate SPIFFE ID (default true; false only for tests/insecure mode). */
  readonly requireIdentity?: boolean;
  /** Arms a removal; default setTimeout (unref'd). Tests pass a fake and call `sweep()`. */
  readonly schedule?: (ms: number, fn: () => void) => { cancel(): void };
}

const defaultSchedule = (ms: number, fn: () => void) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
};

export function spiffeIdOf(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

function sortedMap(entries: Iterable<WorkloadEntry>): ReadonlyMap<string, WorkloadEntry> {
  return new Map([...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((e) => [e.id, e]));
}

export class Registry {
  readonly view = new Watch<RegistryView>({ workloads: new Map(), revision: 0 });
  readonly #static = new Map<string, WorkloadEntry>();
  readonly #proxies = new Map<string, WorkloadEntry>();
  /** Open streams per proxy id. */
  readonly #streams = new Map<string, number>();
  readonly #removals = new Map<string, { cancel(): void }>();
  readonly #graceMs: number;
  readonly #clock: () => number;
  readonly #requireIdentity: boolean;
  readonly #schedule: NonNullable<RegistryOptions['schedule']>;
  #revision = 0;

  constructor(options: RegistryOptions = {}) {
    this.#graceMs = options.graceMs ?? 10_000;
    this.#clock = options.clock ?? Date.now;
    this.#requireIdentity = options.requireIdentity ?? true;
    this.#schedule = options.schedule ?? defaultSchedule;
  }

  /** Replaces the static workloads (from the store's `Workload` resources). */
  setStatic(workloads: Iterable<WorkloadConfig>, trustDomain: string): void {
    const next = new Map<string, WorkloadEntry>();
    for (const w of workloads) {
      const id = `static:${w.key}`;
      const ports: AnnouncedPort[] = [{ name: w.ports.find((p) => p.port === w.port)?.name ?? '', port: w.port }];
      for (const p of w.ports) if (p.port !== w.port) ports.push({ name: p.name, port: p.port });
      next.set(id, Object.freeze({
        id,
        origin: 'static',
        service: w.service,
        namespace: w.metadata.namespace,
        serviceAccount: w.serviceAccount,
        spiffeId: spiffeIdOf(trustDomain, w.metadata.namespace, w.serviceAccount),
        labels: w.labels,
        address: w.address,
        ports: Object.freeze(ports),
        proxyPort: w.proxyPort,
        ready: true,
        locality: undefined,
        disconnectedAt: undefined,
      }));
    }
    if (sameEntries(this.#static, next)) return;
    this.#static.clear();
    for (const [k, v] of next) this.#static.set(k, v);
    this.#publish();
  }

  /**
   * A proxy's stream opened. Checks the claimed namespace/service account against the certificate's
   * SPIFFE ID and records the workload. Throws RegistryError on a mismatch (the stream is refused).
   * Claims without a service (a pure client) are authorized but register no endpoint.
   */
  connect(claims: NodeClaims, peerSpiffeId: string | undefined, trustDomain: string, peerAddress?: string): WorkloadEntry | undefined {
    const claimedId = spiffeIdOf(trustDomain, claims.namespace, claims.serviceAccount);
    if (peerSpiffeId === undefined) {
      if (this.#requireIdentity) throw new RegistryError('REGISTRY_NO_IDENTITY', `node ${claims.nodeId} presented no workload certificate`, { node: claims.nodeId });
    } else if (peerSpiffeId !== claimedId) {
      throw new RegistryError(
        'REGISTRY_IDENTITY_MISMATCH',
        `node ${claims.nodeId} claims ${claimedId} but its certificate says ${peerSpiffeId}`,
        { node: claims.nodeId, claimed: claimedId, certificate: peerSpiffeId },
      );
    }
    const id = `proxy:${claims.nodeId}`;
    this.#streams.set(id, (this.#streams.get(id) ?? 0) + 1);
    this.#removals.get(id)?.cancel();
    this.#removals.delete(id);
    if (claims.service === undefined) return undefined;
    const address = claims.address ?? peerAddress;
    if (address === undefined || claims.ports.length === 0) {
      log.debug({ node: claims.nodeId }, 'proxy announced a service but no address or ports (a client only); no endpoint registered');
      return undefined;
    }
    const entry: WorkloadEntry = Object.freeze({
      id,
      origin: 'proxy',
      service: claims.service,
      namespace: claims.namespace,
      serviceAccount: claims.serviceAccount,
      spiffeId: peerSpiffeId ?? claimedId,
      labels: claims.labels,
      address,
      ports: claims.ports,
      proxyPort: claims.inboundPort,
      ready: claims.ready,
      locality: claims.locality,
      disconnectedAt: undefined,
    });
    const prev = this.#proxies.get(id);
    this.#proxies.set(id, entry);
    if (prev === undefined || !sameEntry(prev, entry)) this.#publish();
    return entry;
  }

  /** A proxy's stream closed; its endpoint is removed after the grace period unless it reconnects. */
  disconnect(nodeId: string): void {
    const id = `proxy:${nodeId}`;
    const open = (this.#streams.get(id) ?? 1) - 1;
    if (open > 0) {
      this.#streams.set(id, open);
      return;
    }
    this.#streams.delete(id);
    const entry = this.#proxies.get(id);
    if (entry === undefined) return;
    const at = this.#clock();
    this.#proxies.set(id, Object.freeze({ ...entry, disconnectedAt: at }));
    this.#removals.get(id)?.cancel();
    // The timer is the authority for its own entry: a timer may fire a millisecond before the wall
    // clock agrees the grace period is over, so it removes by identity rather than re-checking time.
    this.#removals.set(id, this.#schedule(this.#graceMs, () => this.#expire(id, at)));
  }

  /** The grace timer of one disconnect fired: remove the entry if it has not reconnected since. */
  #expire(id: string, disconnectedAt: number): void {
    const entry = this.#proxies.get(id);
    this.#removals.delete(id);
    if (entry === undefined || entry.disconnectedAt !== disconnectedAt) return;
    this.#proxies.delete(id);
    log.info({ workload: id, service: `${entry.namespace}/${entry.service}` }, 'endpoint of disconnected proxy removed after grace period');
    this.#publish();
  }

  /** Removes proxies whose grace period has ended; returns how many. */
  sweep(): number {
    const now = this.#clock();
    let removed = 0;
    for (const [id, e] of this.#proxies) {
      if (e.disconnectedAt !== undefined && now - e.disconnectedAt >= this.#graceMs) {
        this.#proxies.delete(id);
        this.#removals.get(id)?.cancel();
        this.#removals.delete(id);
        removed++;
        log.info({ workload: id, service: `${e.namespace}/${e.service}` }, 'endpoint of disconnected proxy removed after grace period');
      }
    }
    if (removed > 0) this.#publish();
    return removed;
  }

  get graceMs(): number {
    return this.#graceMs;
  }

  close(): void {
    for (const r of this.#removals.values()) r.cancel();
    this.#removals.clear();
  }

  #publish(): void {
    this.#revision++;
    this.view.set(Object.freeze({ workloads: sortedMap([...this.#static.values(), ...this.#proxies.values()]), revision: this.#revision }));
  }
}

function sameEntry(a: WorkloadEntry, b: WorkloadEntry): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameEntries(a: ReadonlyMap<string, WorkloadEntry>, b: ReadonlyMap<string, WorkloadEntry>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || !sameEntry(v, w)) return false;
  }
  return true;
}
