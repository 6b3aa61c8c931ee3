// Consistent hashing on a key (a request header such as `x-session-id`, or the client address):
// a ring of virtual nodes per endpoint (more for heavier weights); the key's successor on the ring
// wins, walking on past unavailable endpoints. Adding or removing an endpoint moves ~1/N of keys.
import { noneResult, type EndpointState, type PickContext, type PickResult, type Picker } from './endpoint-state.ts';

const VNODES_PER_WEIGHT = 64;

/** 32-bit FNV-1a, then a murmur3 finaliser for avalanche. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class RingHashPicker implements Picker {
  readonly #endpoints: readonly EndpointState[];
  readonly #hashes: Uint32Array;
  readonly #owners: EndpointState[];
  #rr = 0;

  constructor(endpoints: readonly EndpointState[]) {
    this.#endpoints = endpoints;
    const points: Array<[number, EndpointState]> = [];
    for (const e of endpoints) {
      const n = VNODES_PER_WEIGHT * e.config.weight;
      for (let v = 0; v < n; v++) points.push([hash32(`${e.config.key}#${v}`), e]);
    }
    points.sort((x, y) => x[0] - y[0]);
    this.#hashes = Uint32Array.from(points.map((p) => p[0]));
    this.#owners = points.map((p) => p[1]);
  }

  pick(ctx: PickContext): PickResult {
    const n = this.#hashes.length;
    if (n === 0) return noneResult(this.#endpoints);
    if (ctx.hashKey === undefined) {
      // No key: spread like round robin over the ring owners.
      for (let i = 0; i < this.#endpoints.length; i++) {
        const e = this.#endpoints[this.#rr++ % this.#endpoints.length]!;
        if (e.available(ctx.now)) return e.picked;
      }
      return noneResult(this.#endpoints);
    }
    const h = hash32(ctx.hashKey);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    for (let k = 0; k < n; k++) {
      const e = this.#owners[(lo + k) % n]!;
      if (e.available(ctx.now)) return e.picked;
    }
    return noneResult(this.#endpoints);
  }
}
