/**
 * Tag registry: tag string <-> numeric tag id (the kernel-map value and the
 * per-tag counter slot), refcounted by entries.
 *
 * - Ids start at 1 (slot 0 is the helper's overflow slot).
 * - When the last entry of a tag goes, its id is freed; freed ids are
 *   reused lowest first. A reused id is reported by takeResets() so that the
 *   caller zeroes its counters (helper.resetTags) before the first kernel
 *   write carrying it: a re-created tag starts from zero, as in Couic.
 * - Ids >= maxTags stay unique (the data plane counts them in slot 0), so
 *   the registry never fails.
 */
import { NumberMinHeap } from './heap.js';

export class TagRegistry {
  readonly #idByTag = new Map<string, number>();
  /** Index = id; undefined = free or never used. */
  readonly #tagById: (string | undefined)[] = [undefined];
  readonly #refs: number[] = [0];
  readonly #free = new NumberMinHeap();
  #nextId = 1;
  #resets: number[] = [];

  /** Number of live tags. */
  get size(): number {
    return this.#idByTag.size;
  }

  /** Highest id ever handed out + 1. */
  get idLimit(): number {
    return this.#nextId;
  }

  idOf(tag: string): number | undefined {
    return this.#idByTag.get(tag);
  }

  tagOf(id: number): string | undefined {
    return this.#tagById[id];
  }

  refCount(id: number): number {
    return this.#refs[id] ?? 0;
  }

  /** Takes one reference on `tag`, allocating an id when it is new. */
  acquire(tag: string): number {
    let id = this.#idByTag.get(tag);
    if (id === undefined) {
      const reused = this.#free.pop();
      if (reused !== undefined) {
        id = reused;
        this.#resets.push(id);
      } else {
        id = this.#nextId;
        this.#nextId += 1;
      }
      this.#idByTag.set(tag, id);
      this.#tagById[id] = tag;
      this.#refs[id] = 0;
    }
    this.#refs[id] = (this.#refs[id] ?? 0) + 1;
    return id;
  }

  /** Drops one reference; the id is freed (for reuse) when none is left. Returns true when freed. */
  release(id: number): boolean {
    const refs = this.#refs[id];
    const tag = this.#tagById[id];
    if (refs === undefined || refs <= 0 || tag === undefined) {
      throw new Error(`tag id ${id} released more often than acquired`);
    }
    if (refs > 1) {
      this.#refs[id] = refs - 1;
      return false;
    }
    this.#refs[id] = 0;
    this.#tagById[id] = undefined;
    this.#idByTag.delete(tag);
    this.#free.push(id);
    return true;
  }

  /** Reused ids handed out since the last call (their counters must be reset before use). */
  takeResets(): number[] {
    const r = this.#resets;
    this.#resets = [];
    return r;
  }

  /** Puts back ids returned by takeResets() that could not be reset yet. */
  restoreResets(ids: readonly number[]): void {
    this.#resets = [...ids, ...this.#resets];
  }

  /** [tag, id, refs] for every live tag. */
  *entries(): IterableIterator<[string, number, number]> {
    for (const [tag, id] of this.#idByTag) yield [tag, id, this.#refs[id] ?? 0];
  }
}
