// Signing rate limit: a token bucket (rate per second, burst = rate) with a bounded FIFO queue, so a
// fleet restart queues instead of melting the CA. One drain timer for the whole queue, never one per request.
import { IdentityError } from '../../identity/errors.ts';

export interface RateLimiterOptions {
  ratePerSec: number;
  /** Waiters allowed in the queue; beyond it acquire() fails with IDENTITY_RATE_LIMITED. Default 10 s worth. */
  maxQueue?: number;
  now?: () => number;
}

export class SigningRateLimiter {
  readonly ratePerSec: number;
  readonly maxQueue: number;
  #tokens: number;
  #last: number;
  readonly #queue: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #now: () => number;

  constructor(options: RateLimiterOptions) {
    this.ratePerSec = Math.max(1, options.ratePerSec);
    this.maxQueue = options.maxQueue ?? Math.ceil(this.ratePerSec * 10);
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.ratePerSec;
    this.#last = this.#now();
  }

  get queued(): number {
    return this.#queue.length;
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.ratePerSec, this.#tokens + ((now - this.#last) / 1000) * this.ratePerSec);
    this.#last = now;
  }

  /** Resolves when the caller may sign; rejects at once when the queue is full. */
  acquire(): Promise<void> {
    this.#refill();
    if (this.#queue.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    if (this.#queue.length >= this.maxQueue) {
      return Promise.reject(new IdentityError('IDENTITY_RATE_LIMITED', `signing queue is full (${this.maxQueue} waiting at ${this.ratePerSec}/s); retry with backoff`));
    }
    return new Promise<void>((resolve) => {
      this.#queue.push(resolve);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) / this.ratePerSec) * 1000));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, wait);
  }

  #drain(): void {
    this.#refill();
    while (this.#queue.length > 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#queue.shift()!();
    }
    if (this.#queue.length > 0) this.#schedule();
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
