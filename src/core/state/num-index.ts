/**
 * A number -> int32 index for IPv4 keys (addr * 64 + prefix length):
 * open addressing on typed arrays (linear probing, backward-shift deletion).
 * No string is hashed or kept per entry: about 24 bytes per entry at the
 * worst load, one cache miss per lookup. Keys are non-negative; -1 marks an
 * empty slot.
 */
export class NumberIndex {
  #keys: Float64Array;
  #vals: Int32Array;
  #mask: number;
  #size = 0;

  /**
   * `expected`: entries about to be set, so a million-key index is allocated
   * once rather than grown by doubling (each step leaving the previous
   * arrays as garbage).
   */
  constructor(expected = 0) {
    let n = 1024;
    while (expected * 2 > n) n *= 2;
    this.#keys = new Float64Array(n).fill(-1);
    this.#vals = new Int32Array(n);
    this.#mask = n - 1;
  }

  get size(): number {
    return this.#size;
  }

  #home(k: number): number {
    const len = k % 64;
    let h = Math.imul(((k - len) / 64) ^ Math.imul(len + 1, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 13;
    return h & this.#mask;
  }

  /** Index of `k`, or -1 - (the empty slot where it would go). */
  #find(k: number): number {
    const keys = this.#keys;
    let i = this.#home(k);
    for (;;) {
      const x = keys[i]!;
      if (x === k) return i;
      if (x === -1) return -1 - i;
      i = (i + 1) & this.#mask;
    }
  }

  has(k: number): boolean {
    return this.#find(k) >= 0;
  }

  get(k: number): number | undefined {
    const i = this.#find(k);
    return i >= 0 ? this.#vals[i] : undefined;
  }

  /** Maps `k` to `v`; returns the value it replaced (undefined when `k` was absent). */
  set(k: number, v: number): number | undefined {
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    const i = this.#find(k);
    if (i >= 0) {
      const old = this.#vals[i];
      this.#vals[i] = v;
      return old;
    }
    this.#keys[-1 - i] = k;
    this.#vals[-1 - i] = v;
    this.#size += 1;
    return undefined;
  }

  /** Removes `k`; returns its value (undefined when absent). */
  delete(k: number): number | undefined {
    let i = this.#find(k);
    if (i < 0) return undefined;
    const removed = this.#vals[i];
    const keys = this.#keys;
    const vals = this.#vals;
    const mask = this.#mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const x = keys[j]!;
      if (x === -1) break;
      const h = this.#home(x);
      // Move x back into the hole at i unless its home lies cyclically in (i, j].
      const inRange = i <= j ? h > i && h <= j : h > i || h <= j;
      if (!inRange) {
        keys[i] = x;
        vals[i] = vals[j]!;
        i = j;
      }
    }
    keys[i] = -1;
    this.#size -= 1;
    return removed;
  }

  /** Makes room for `extra` more keys at once (one rehash instead of one per doubling). */
  reserve(extra: number): void {
    let n = this.#keys.length;
    while ((this.#size + extra) * 2 > n) n *= 2;
    if (n > this.#keys.length) this.#grow(n);
  }

  #grow(n = this.#keys.length * 2): void {
    const oldK = this.#keys;
    const oldV = this.#vals;
    this.#keys = new Float64Array(n).fill(-1);
    this.#vals = new Int32Array(n);
    this.#mask = n - 1;
    for (let i = 0; i < oldK.length; i += 1) {
      const k = oldK[i]!;
      if (k === -1) continue;
      let j = this.#home(k);
      while (this.#keys[j] !== -1) j = (j + 1) & this.#mask;
      this.#keys[j] = k;
      this.#vals[j] = oldV[i]!;
    }
  }

  /** Pairs in slot order. */
  *entries(): IterableIterator<[number, number]> {
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i += 1) {
      const k = keys[i]!;
      if (k !== -1) yield [k, this.#vals[i]!];
    }
  }

  /** Values in slot order. */
  *values(): IterableIterator<number> {
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i += 1) if (keys[i] !== -1) yield this.#vals[i]!;
  }
}
