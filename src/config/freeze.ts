// Immutability helpers: deep-freeze plain objects and arrays, and a Map that refuses changes once built.

/** Freezes `value` and everything reachable from it (plain objects and arrays), iteratively. */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) continue;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (typeof item === 'object' && item !== null) stack.push(item);
      }
    } else if (v instanceof Map) {
      for (const item of v.values()) stack.push(item);
    } else {
      for (const key in v) {
        const item = (v as Record<string, unknown>)[key];
        if (typeof item === 'object' && item !== null) stack.push(item);
      }
    }
    Object.freeze(v);
  }
  return value;
}

/** A Map whose contents are fixed at construction: `set`, `delete` and `clear` throw TypeError. */
export class FrozenMap<K, V> extends Map<K, V> {
  #sealed = false;
  constructor(entries: Iterable<readonly [K, V]>) {
    super();
    for (const [k, v] of entries) super.set(k, v);
    this.#sealed = true;
    Object.freeze(this);
  }
  override set(key: K, value: V): this {
    if (this.#sealed) throw new TypeError('FrozenMap is immutable');
    return super.set(key, value);
  }
  override delete(_key: K): boolean {
    throw new TypeError('FrozenMap is immutable');
  }
  override clear(): void {
    throw new TypeError('FrozenMap is immutable');
  }
}
