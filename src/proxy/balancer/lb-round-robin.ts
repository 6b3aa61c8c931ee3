// Weighted round robin: endpoints repeated by weight in a fixed order, skipping unavailable ones.
import { noneResult, type EndpointState, type PickContext, type PickResult, type Picker } from './endpoint-state.ts';

export class RoundRobinPicker implements Picker {
  readonly #endpoints: readonly EndpointState[];
  readonly #order: readonly EndpointState[];
  #next = 0;

  constructor(endpoints: readonly EndpointState[]) {
    this.#endpoints = endpoints;
    const order: EndpointState[] = [];
    // Interleave by weight (smooth enough for small weights): round k takes every endpoint with weight > k.
    const maxW = endpoints.reduce((m, e) => Math.max(m, e.config.weight), 0);
    for (let k = 0; k < maxW; k++) for (const e of endpoints) if (e.config.weight > k) order.push(e);
    this.#order = order;
    this.#next = endpoints.length > 0 ? Math.floor(Math.random() * order.length) : 0;
  }

  pick(ctx: PickContext): PickResult {
    const order = this.#order;
    const n = order.length;
    for (let i = 0; i < n; i++) {
      const e = order[this.#next]!;
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      if (e.available(ctx.now)) return e.picked;
    }
    return noneResult(this.#endpoints);
  }
}
