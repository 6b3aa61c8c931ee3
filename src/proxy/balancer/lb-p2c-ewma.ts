// Power of two choices over peak-EWMA latency × in-flight requests (the default balancer):
// pick two distinct available endpoints at random and send to the cheaper one.
import { noneResult, type EndpointState, type PickContext, type PickResult, type Picker } from './endpoint-state.ts';

export class P2cEwmaPicker implements Picker {
  readonly #endpoints: readonly EndpointState[];
  readonly #random: () => number;

  constructor(endpoints: readonly EndpointState[], random: () => number = Math.random) {
    this.#endpoints = endpoints;
    this.#random = random;
  }

  pick(ctx: PickContext): PickResult {
    const eps = this.#endpoints;
    const n = eps.length;
    if (n === 0) return noneResult(eps);
    if (n === 1) {
      const only = eps[0]!;
      return only.available(ctx.now) ? only.picked : noneResult(eps);
    }
    // Two random draws; fall back to a scan when one or both are unavailable.
    const i = Math.floor(this.#random() * n);
    let j = Math.floor(this.#random() * (n - 1));
    if (j >= i) j++;
    const a = eps[i]!;
    const b = eps[j]!;
    const aOk = a.available(ctx.now);
    const bOk = b.available(ctx.now);
    if (aOk && bOk) return (a.cost() <= b.cost() ? a : b).picked;
    if (aOk) return a.picked;
    if (bOk) return b.picked;
    let best: EndpointState | undefined;
    for (let k = 0; k < n; k++) {
      const e = eps[k]!;
      if (e.available(ctx.now) && (best === undefined || e.cost() < best.cost())) best = e;
    }
    return best ? best.picked : noneResult(eps);
  }
}
