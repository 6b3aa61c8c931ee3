// Per-endpoint load and health state shared by every balancer: in-flight count, a peak-EWMA of
// latency, and passive ejection of endpoints that refuse connections, with exponential probe-back.
// One object per endpoint, reused across snapshots (keyed by `address:port`) so state survives updates.
import type { EndpointConfig } from '../runtime/snapshot.ts';

/** Decay time constant of the latency EWMA (Finagle's peak-EWMA uses ~10 s). */
const EWMA_TAU_MS = 10_000;
/** Longest time an ejected endpoint waits before the next probe. */
const MAX_EJECT_MS = 30_000;

export interface HealthPolicy {
  readonly ejectAfterFailures: number;
  readonly ejectBaseMs: number;
}

export class EndpointState {
  config: EndpointConfig;
  inflight = 0;
  /** Latency EWMA in ms; starts optimistic-but-nonzero so new endpoints get traffic. */
  ewmaMs = 1;
  lastSampleAt = 0;
  consecutiveFailures = 0;
  ejected = false;
  /** Time (ms, clock of `now`) after which one probe request may try this endpoint. */
  probeAt = 0;
  /** A probe is in flight: other requests still avoid the endpoint until it answers. */
  probing = false;
  ejections = 0;
  #backoffMs = 0;
  /** The pick of this endpoint: one shared frozen result, returned by the pickers instead of a new object per request. */
  readonly picked: PickResult;

  constructor(config: EndpointConfig) {
    this.config = config;
    this.picked = Object.freeze({ type: 'pick' as const, endpoint: this });
  }

  /** True when a request may be sent here now (healthy, or due for its single probe). */
  available(now: number): boolean {
    if (!this.ejected) return true;
    return !this.probing && now >= this.probeAt;
  }

  /** Called when a request is assigned; marks a probe if the endpoint is ejected. */
  begin(): void {
    this.inflight++;
    if (this.ejected) this.probing = true;
  }

  /** Request finished (any outcome that reached the endpoint); `latencyMs` feeds the EWMA. */
  succeed(latencyMs: number, now: number): void {
    this.inflight = Math.max(0, this.inflight - 1);
    this.consecutiveFailures = 0;
    if (this.ejected) {
      this.ejected = false;
      this.probing = false;
      this.#backoffMs = 0;
    }
    this.observe(latencyMs, now);
  }

  /** Peak-EWMA: a slower sample counts at once, a faster one decays in over time. */
  observe(latencyMs: number, now: number): void {
    if (latencyMs > this.ewmaMs) {
      this.ewmaMs = latencyMs;
    } else {
      const dt = Math.max(0, now - this.lastSampleAt);
      const w = Math.exp(-dt / EWMA_TAU_MS);
      this.ewmaMs = this.ewmaMs * w + latencyMs * (1 - w);
    }
    this.lastSampleAt = now;
  }

  /** The connection was refused / timed out / failed TLS: count it, eject after the threshold. */
  connectFailed(policy: HealthPolicy, now: number): void {
    this.inflight = Math.max(0, this.inflight - 1);
    this.consecutiveFailures++;
    if (this.ejected) {
      this.probing = false;
      this.#backoffMs = Math.min(MAX_EJECT_MS, this.#backoffMs * 2);
      this.probeAt = now + this.#backoffMs;
      return;
    }
    if (this.consecutiveFailures >= policy.ejectAfterFailures) {
      this.ejected = true;
      this.ejections++;
      this.#backoffMs = policy.ejectBaseMs;
      this.probeAt = now + this.#backoffMs;
    }
  }

  /** Request ended without a verdict on the endpoint's health (e.g. the client went away). */
  release(): void {
    this.inflight = Math.max(0, this.inflight - 1);
    this.probing = false;
  }

  /** Load score for p2c: latency × (in-flight + 1). */
  cost(): number {
    return this.ewmaMs * (this.inflight + 1);
  }
}

/** The result of a pick: an endpoint, or why there is none (synchronous, tagged, like grpc-js pickers). */
export type PickResult =
  | { readonly type: 'pick'; readonly endpoint: EndpointState }
  | { readonly type: 'none'; readonly total: number; readonly ejected: number };

/** What a pick may look at. */
export interface PickContext {
  /** Value to hash for ring-hash (a header or the client address); ignored by others. */
  readonly hashKey?: string | undefined;
  readonly now: number;
}

export interface Picker {
  pick(ctx: PickContext): PickResult;
}

export function noneResult(endpoints: readonly EndpointState[]): PickResult {
  let ejected = 0;
  for (const e of endpoints) if (e.ejected) ejected++;
  return { type: 'none', total: endpoints.length, ejected };
}
