// Watch<T>: a latest-value cell. Producers `set` immutable snapshots; consumers read `current`
// synchronously on the hot path or `subscribe` to be told of each new value.

export type Unsubscribe = () => void;

export class Watch<T> {
  #value: T;
  #version = 0;
  readonly #listeners = new Set<(value: T, version: number) => void>();

  constructor(initial: T) {
    this.#value = initial;
  }

  /** The latest value. Cheap: a field read. */
  get current(): T {
    return this.#value;
  }

  /** Incremented on every `set`; lets consumers detect change without comparing values. */
  get version(): number {
    return this.#version;
  }

  set(value: T): void {
    this.#value = value;
    this.#version++;
    for (const listener of [...this.#listeners]) listener(value, this.#version);
  }

  /** Calls `listener` on each future value; with `{ now: true }` also immediately with the current one. */
  subscribe(listener: (value: T, version: number) => void, options: { now?: boolean } = {}): Unsubscribe {
    this.#listeners.add(listener);
    if (options.now) listener(this.#value, this.#version);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves with the first value (current included) for which `predicate` holds. */
  until(predicate: (value: T) => boolean, signal?: AbortSignal): Promise<T> {
    if (predicate(this.#value)) return Promise.resolve(this.#value);
    return new Promise<T>((resolve, reject) => {
      const stop = this.subscribe((value) => {
        if (predicate(value)) {
          stop();
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        }
      });
      const onAbort = () => {
        stop();
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  get subscriberCount(): number {
    return this.#listeners.size;
  }
}
