// The memory store: configuration handed in by code (tests, embedding). Either a validated config
// (`put`) or raw documents validated as a whole like any other source (`apply`).
import type { ConfigProblem, ConfigValidator, ResourceRef, SourceDocument, Store, StoreSnapshot } from './store.ts';
import { StoreError } from './store.ts';
import { ValidatingCore } from './store-core.ts';

export interface MemoryStoreOptions<C> {
  /** The starting config (published on start). */
  readonly initial: C;
  /** Needed only for `apply(documents)`. */
  readonly validate?: ConfigValidator<C>;
  readonly clock?: () => number;
}

export class MemoryStore<C> implements Store<C> {
  readonly kind = 'memory';
  readonly #core: ValidatingCore<C>;
  readonly #initial: C;
  #tokenSeq = 0;

  constructor(options: MemoryStoreOptions<C>) {
    this.#initial = options.initial;
    this.#core = new ValidatingCore<C>(
      options.validate ?? (() => ({ ok: false, error: [{ message: 'this memory store has no validator; use put()' }] })),
      options.clock,
    );
  }

  get snapshot() {
    return this.#core.snapshot;
  }
  get rejection() {
    return this.#core.rejection;
  }

  async start(): Promise<StoreSnapshot<C>> {
    return this.#core.snapshot.current ?? this.put(this.#initial);
  }

  /** Publishes a config that is already validated. */
  put(config: C, resources: readonly ResourceRef[] = []): StoreSnapshot<C> {
    return this.#core.publish(config, resources, `mem-${++this.#tokenSeq}`);
  }

  /** Validates documents as a whole; returns the problems when rejected (the last good config stays). */
  apply(documents: readonly SourceDocument[]): readonly ConfigProblem[] {
    const r = this.#core.apply(documents);
    return r.accepted ? [] : r.problems;
  }

  async close(): Promise<void> {}
}

export { StoreError };
