/**
 * The in-memory entry state: four stores (policy x family), each a Map from
 * the normalized CIDR text to a slot of a shared slab of typed columns.
 *
 * Per entry we keep the key string, one Map entry and 25 bytes of columns
 * (store/route byte, tag id, creation, expiration, heap position): no
 * object, no Uint8Array. Address bytes are derived from the key when the
 * kernel needs them (addr.ts).
 */
import type { Family, Policy } from '../../domain/types.js';
import { keyPrefixLen, keyToBytes } from '../../net/keys.js';
import { v4KeyBytes, v4KeyNum, v4KeyText } from '../../net/v4-key.js';
import { NumberIndex } from './num-index.js';

/** Store index = policy * 2 + (family === 6 ? 1 : 0). */
export type StoreIndex = 0 | 1 | 2 | 3;

export function storeIndex(policy: Policy, family: Family): StoreIndex {
  return ((policy === 'drop' ? 0 : 2) + (family === 6 ? 1 : 0)) as StoreIndex;
}

export function storePolicy(store: number): Policy {
  return store < 2 ? 'drop' : 'ignore';
}

export function storeFamily(store: number): Family {
  return (store & 1) === 1 ? 6 : 4;
}

/**
 * Kernel map slot (order of MAP_SLOTS / HELLO capacity[]) an entry lives in:
 * slot = policy * 4 + (lpm ? 2 : 0) + (family === 6 ? 1 : 0).
 */
export function mapSlotOf(store: number, prefixLen: number, lpmOnly: boolean): number {
  const fam6 = (store & 1) === 1;
  const exact = !lpmOnly && prefixLen === (fam6 ? 128 : 32);
  return (store < 2 ? 0 : 4) + (exact ? 0 : 2) + (fam6 ? 1 : 0);
}

const INITIAL_CAPACITY = 1024;

/** Key -> table slot index of one store. */
interface KeyIndex {
  readonly size: number;
  get(key: string): number | undefined;
  /** `key` must be absent. */
  set(key: string, slot: number): void;
  delete(key: string): number | undefined;
  /** Slots in index order. */
  slots(): IterableIterator<number>;
}

class StringIndex implements KeyIndex {
  readonly #m = new Map<string, number>();
  get size(): number {
    return this.#m.size;
  }
  get(key: string): number | undefined {
    return this.#m.get(key);
  }
  set(key: string, slot: number): void {
    this.#m.set(key, slot);
  }
  delete(key: string): number | undefined {
    const s = this.#m.get(key);
    if (s !== undefined) this.#m.delete(key);
    return s;
  }
  slots(): IterableIterator<number> {
    return this.#m.values();
  }
}

/**
 * IPv4 keys: a NumberIndex on addr * 64 + len (no string kept per entry).
 * The *Num methods take the key number (v4KeyNum) of callers that have it.
 */
class V4Index implements KeyIndex {
  readonly #index = new NumberIndex();

  get size(): number {
    return this.#index.size;
  }

  get(key: string): number | undefined {
    return this.getNum(v4KeyNum(key));
  }

  getNum(k: number): number | undefined {
    return k < 0 ? undefined : this.#index.get(k);
  }

  set(key: string, slot: number): void {
    this.setNum(v4KeyNum(key), slot, key);
  }

  setNum(k: number, slot: number, key?: string): void {
    if (k < 0) throw new RangeError(`not a canonical IPv4 CIDR: ${key ?? k}`);
    this.#index.set(k, slot);
  }

  delete(key: string): number | undefined {
    return this.deleteNum(v4KeyNum(key));
  }

  deleteNum(k: number): number | undefined {
    return k < 0 ? undefined : this.#index.delete(k);
  }

  slots(): IterableIterator<number> {
    return this.#index.values();
  }
}

export class EntryTable {
  readonly lpmOnly: boolean;
  readonly #index: readonly [V4Index, StringIndex, V4Index, StringIndex] = [
    new V4Index(), new StringIndex(), new V4Index(), new StringIndex(),
  ];
  /** Entries per kernel map slot (8). */
  readonly mapCounts = new Int32Array(8);
  /** Key of IPv6 slots (IPv4 keys are rebuilt from addr4/prefix). */
  readonly #keys6: (string | undefined)[] = [];
  /** bits 6-7: store index, bits 0-2: kernel map slot (0..7); 0xff = free. */
  mapSlot: Uint8Array = new Uint8Array(INITIAL_CAPACITY).fill(0xff);
  /** IPv4 key number (addr * 64 + len) of IPv4 slots. */
  key4: Float64Array = new Float64Array(INITIAL_CAPACITY);
  tagId: Uint32Array = new Uint32Array(INITIAL_CAPACITY);
  creation: Uint32Array = new Uint32Array(INITIAL_CAPACITY);
  expiration: Float64Array = new Float64Array(INITIAL_CAPACITY);
  /** Position in the expiry heap, -1 when not in it. */
  heapPos: Int32Array = new Int32Array(INITIAL_CAPACITY).fill(-1);
  #free: number[] = [];
  #used = 0;

  constructor(opts: { lpmOnly?: boolean } = {}) {
    this.lpmOnly = opts.lpmOnly ?? false;
  }

  get capacity(): number {
    return this.mapSlot.length;
  }

  /** Total entries. */
  get size(): number {
    return this.#index[0].size + this.#index[1].size + this.#index[2].size + this.#index[3].size;
  }

  count(store: number): number {
    return this.#index[store as StoreIndex].size;
  }

  slotOf(store: number, key: string): number | undefined {
    return this.#index[store as StoreIndex].get(key);
  }

  /** slotOf in an IPv4 store (0 or 2) by key number (v4KeyNum of the key). */
  slotOfV4(store: number, k: number): number | undefined {
    return this.#v4(store).getNum(k);
  }

  #v4(store: number): V4Index {
    if ((store & 1) === 1) throw new RangeError(`store ${store} is not an IPv4 store`);
    return store === 0 ? this.#index[0] : this.#index[2];
  }

  /** Key (canonical CIDR text) of a used slot. */
  keyOf(slot: number): string | undefined {
    const ms = this.mapSlot[slot]!;
    if (ms === 0xff) return undefined;
    return (ms >> 6) & 1 ? this.#keys6[slot] : v4KeyText(this.key4[slot]!);
  }

  /** [key, slot] of every entry of `store` (keys of IPv4 stores are built on the fly). */
  *entries(store: number): IterableIterator<[string, number]> {
    const v6 = (store & 1) === 1;
    for (const slot of this.#index[store as StoreIndex].slots()) {
      yield [v6 ? this.#keys6[slot]! : v4KeyText(this.key4[slot]!), slot];
    }
  }

  /** Writes the address bytes of `slot` into `out` (4 or 16 bytes); returns the prefix length. */
  addrOf(slot: number, out: Uint8Array): number {
    const ms = this.mapSlot[slot]!;
    if ((ms >> 6) & 1) {
      const key = this.#keys6[slot]!;
      return keyToBytes(key, 6, out);
    }
    return v4KeyBytes(this.key4[slot]!, out);
  }

  /** Slots of `store` (no key strings built). */
  slots(store: number): IterableIterator<number> {
    return this.#index[store as StoreIndex].slots();
  }

  storeOfSlot(slot: number): number {
    return (this.mapSlot[slot]! >> 6) & 3;
  }

  /** Kernel map slot (0..7) of a used table slot. */
  kernelSlotOf(slot: number): number {
    return this.mapSlot[slot]! & 7;
  }

  /**
   * Inserts or overwrites `key` in `store`. Returns the table slot. The
   * caller owns tag references and the expiry heap (heapPos of an
   * overwritten slot is left as is). `k4`: v4KeyNum(key) in an IPv4 store,
   * when the caller has it (below 0: read from `key`).
   */
  put(store: number, key: string, tagId: number, creation: number, expiration: number, k4 = -1): number {
    const v6 = (store & 1) === 1;
    if (!v6 && k4 < 0) k4 = v4KeyNum(key);
    const slot = v6 ? this.#index[store as StoreIndex].get(key) : this.#v4(store).getNum(k4);
    if (slot === undefined) {
      const prefixLen = v6 ? keyPrefixLen(key) : k4 % 64;
      return this.insert(store, key, mapSlotOf(store, prefixLen, this.lpmOnly), tagId, creation, expiration, k4);
    }
    this.tagId[slot] = tagId;
    this.creation[slot] = creation;
    this.expiration[slot] = expiration;
    return slot;
  }

  /**
   * Inserts a key known to be absent from `store`; `kslot` = mapSlotOf(store,
   * prefixLen, lpmOnly); `k4` as in put().
   */
  insert(store: number, key: string, kslot: number, tagId: number, creation: number, expiration: number, k4 = -1): number {
    if ((store & 1) === 1) {
      const slot = this.#alloc();
      this.#index[store as StoreIndex].set(key, slot);
      this.#keys6[slot] = key;
      return this.#fill(slot, store, kslot, tagId, creation, expiration);
    }
    const k = k4 >= 0 ? k4 : v4KeyNum(key);
    if (k < 0) throw new RangeError(`not a canonical IPv4 CIDR: ${key}`);
    const slot = this.#alloc();
    this.#v4(store).setNum(k, slot);
    this.key4[slot] = k;
    return this.#fill(slot, store, kslot, tagId, creation, expiration);
  }

  #fill(slot: number, store: number, kslot: number, tagId: number, creation: number, expiration: number): number {
    this.mapSlot[slot] = (store << 6) | kslot;
    this.mapCounts[kslot]! += 1;
    this.tagId[slot] = tagId;
    this.creation[slot] = creation;
    this.expiration[slot] = expiration;
    return slot;
  }

  /**
   * Removes `key`; returns its (now free) slot, or undefined. Columns keep
   * their values until reuse. `k4` as in put().
   */
  delete(store: number, key: string, k4 = -1): number | undefined {
    const slot = k4 >= 0 ? this.#v4(store).deleteNum(k4) : this.#index[store as StoreIndex].delete(key);
    if (slot === undefined) return undefined;
    this.mapCounts[this.mapSlot[slot]! & 7]! -= 1;
    this.mapSlot[slot] = 0xff;
    // Only IPv6 slots have a key there: writing to the slots of a million
    // IPv4 deletions would make the sparse array a 30 MB dictionary.
    if ((store & 1) === 1) this.#keys6[slot] = undefined;
    this.#free.push(slot);
    this.#used -= 1;
    return slot;
  }

  #alloc(): number {
    const s = this.#free.pop();
    this.#used += 1;
    if (s !== undefined) return s;
    const slot = this.#used - 1;
    if (slot >= this.mapSlot.length) this.#grow();
    return slot;
  }

  #grow(): void {
    const n = this.mapSlot.length * 2;
    const grow = <T extends Uint8Array | Uint32Array | Float64Array | Int32Array>(a: T, make: (n: number) => T, fill?: number): T => {
      const b = make(n);
      if (fill !== undefined) b.fill(fill as never);
      b.set(a as never);
      return b;
    };
    this.mapSlot = grow(this.mapSlot, (k) => new Uint8Array(k), 0xff);
    this.key4 = grow(this.key4, (k) => new Float64Array(k));
    this.tagId = grow(this.tagId, (k) => new Uint32Array(k));
    this.creation = grow(this.creation, (k) => new Uint32Array(k));
    this.expiration = grow(this.expiration, (k) => new Float64Array(k));
    this.heapPos = grow(this.heapPos, (k) => new Int32Array(k), -1);
  }
}
