// Builds the per-cluster balancing objects once per snapshot ("build per target, run per request"):
// each ClusterRuntime owns its endpoints' state (reused across snapshots by endpoint key, so EWMA,
// in-flight counts and ejections survive config updates) and the picker its `lb` policy names.
import type { ClusterConfig, RuntimeSnapshot } from '../runtime/snapshot.ts';
import { EndpointState, type PickContext, type PickResult, type Picker } from './endpoint-state.ts';
import { P2cEwmaPicker } from './lb-p2c-ewma.ts';
import { RoundRobinPicker } from './lb-round-robin.ts';
import { RingHashPicker } from './lb-ring-hash.ts';

export class ClusterRuntime {
  readonly config: ClusterConfig;
  readonly endpoints: readonly EndpointState[];
  readonly #picker: Picker;

  constructor(config: ClusterConfig, endpoints: readonly EndpointState[]) {
    this.config = config;
    this.endpoints = endpoints;
    this.#picker = makePicker(config, endpoints);
  }

  pick(ctx: PickContext): PickResult {
    return this.#picker.pick(ctx);
  }

  get ejectedCount(): number {
    let n = 0;
    for (const e of this.endpoints) if (e.ejected) n++;
    return n;
  }
}

export function makePicker(config: ClusterConfig, endpoints: readonly EndpointState[]): Picker {
  switch (config.lb) {
    case 'round-robin':
      return new RoundRobinPicker(endpoints);
    case 'ring-hash':
      return new RingHashPicker(endpoints);
    case 'p2c-ewma':
      return new P2cEwmaPicker(endpoints);
  }
}

/** All clusters of the current snapshot; call `update` when a new snapshot arrives. */
export class ClusterSet {
  #byName = new Map<string, ClusterRuntime>();
  #states = new Map<string, EndpointState>();

  update(snapshot: RuntimeSnapshot): void {
    const next = new Map<string, ClusterRuntime>();
    const states = new Map<string, EndpointState>();
    for (const [name, config] of snapshot.clusters) {
      const eps = config.endpoints.map((ep) => {
        const k = `${name}|${ep.key}`;
        let s = states.get(k) ?? this.#states.get(k);
        if (s === undefined) s = new EndpointState(ep);
        else s.config = ep;
        states.set(k, s);
        return s;
      });
      next.set(name, new ClusterRuntime(config, eps));
    }
    this.#byName = next;
    this.#states = states;
  }

  get(name: string): ClusterRuntime | undefined {
    return this.#byName.get(name);
  }

  all(): IterableIterator<ClusterRuntime> {
    return this.#byName.values();
  }
}
