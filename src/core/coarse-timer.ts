// CoarseTimer: one interval ticking for many deadlines, so the hot path never arms a setTimeout
// per request. Deadlines fire up to one tick late; that resolution is the price of O(1) arming.
//
// Usage: `const d = timer.deadline(5000, onExpire)` when a request starts, `d.cancel()` when it ends.
// Deadlines live in buckets keyed by the tick at which they expire; each tick fires one bucket.

export interface Deadline {
  /** Cancels the deadline; a no-op once it fired. */
  cancel(): void;
  readonly fired: boolean;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

const noop = (): void => {};

class Entry implements Deadline {
  fired = false;
  cancelled = false;
  constructor(public fire: () => void) {}
  cancel(): void {
    this.cancelled = true;
    // The entry stays in its bucket until its tick: it must not keep the callback (and the request
    // state it closes over) alive that long — at 10k requests/s and a 15 s deadline that was 150 MB.
    this.fire = noop;
  }
}

export class CoarseTimer {
  readonly resolutionMs: number;
  #tick: number;
  #buckets = new Map<number, Entry[]>();
  #interval: NodeJS.Timeout | undefined;
  #pending = 0;
  readonly #clock: Clock;

  constructor(options: { resolutionMs?: number; clock?: Clock } = {}) {
    this.resolutionMs = options.resolutionMs ?? 50;
    this.#clock = options.clock ?? systemClock;
    this.#tick = Math.floor(this.#clock.now() / this.resolutionMs);
  }

  /** Calls `onExpire` once, roughly `ms` from now, unless cancelled first. */
  deadline(ms: number, onExpire: () => void): Deadline {
    const entry = new Entry(onExpire);
    const due = Math.floor((this.#clock.now() + ms) / this.resolutionMs) + 1;
    let bucket = this.#buckets.get(due);
    if (bucket === undefined) {
      bucket = [];
      this.#buckets.set(due, bucket);
    }
    bucket.push(entry);
    this.#pending++;
    this.#ensureRunning();
    return entry;
  }

  /** Number of deadlines armed and not yet fired or swept (cancelled ones count until their tick). */
  get pending(): number {
    return this.#pending;
  }

  /** Advances to the clock's current time, firing every due deadline. Called by the interval, or by tests. */
  advance(): void {
    const target = Math.floor(this.#clock.now() / this.resolutionMs);
    while (this.#tick < target) {
      this.#tick++;
      const bucket = this.#buckets.get(this.#tick);
      if (bucket === undefined) continue;
      this.#buckets.delete(this.#tick);
      this.#pending -= bucket.length;
      for (const entry of bucket) {
        if (entry.cancelled) continue;
        entry.fired = true;
        entry.fire();
      }
    }
    if (this.#pending === 0) this.#stop();
  }

  #ensureRunning(): void {
    if (this.#interval !== undefined) return;
    this.#tick = Math.min(this.#tick, Math.floor(this.#clock.now() / this.resolutionMs));
    this.#interval = setInterval(() => this.advance(), this.resolutionMs);
    this.#interval.unref();
  }

  #stop(): void {
    if (this.#interval === undefined) return;
    clearInterval(this.#interval);
    this.#interval = undefined;
  }

  /** Stops ticking and drops every armed deadline without firing it. */
  close(): void {
    this.#stop();
    this.#buckets.clear();
    this.#pending = 0;
  }
}

/** The process-wide timer used by the proxy and control plane. */
export const sharedTimer = new CoarseTimer();
