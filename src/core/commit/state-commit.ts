/**
 * Committed ops into the in-memory state: the entry table, the expiry
 * heap, the tag references, and the entry events of the change stream.
 * Also what the state holds for a key once a prefix of a batch is
 * committed (keysAfter), which the kernel fix-up and the journal undo of a
 * partly refused batch both need.
 */
import { isSetTag } from '../../domain/rules.js';
import { KINDS, type Req } from '../model/requests.js';
import { PLANNED, type OpList } from '../plan/op-list.js';
import type { EntryView } from '../plan/plan.js';
import type { CoreEvents, EntryEvent } from '../state/events.js';
import type { ExpiryHeap } from '../state/expiry.js';
import { storePolicy, type EntryTable } from '../state/table.js';
import type { TagRegistry } from '../state/tags.js';

/** A key and what the state holds for it (entry undefined: absent). */
export interface KeyState {
  readonly store: number;
  readonly key: string;
  readonly entry: EntryView | undefined;
}

export interface StateCommitOptions {
  readonly table: EntryTable;
  readonly tags: TagRegistry;
  readonly heap: ExpiryHeap;
  readonly events: CoreEvents;
  /** Called after each commit (re-arms the expiry timer). */
  readonly committed: () => void;
}

export class StateCommit {
  readonly #o: StateCommitOptions;
  #setMutations = 0;

  constructor(opts: StateCommitOptions) {
    this.#o = opts;
  }

  /** Committed changes to set entries made by anything but a set reload (e.g. a peer remove). */
  get setMutations(): number {
    return this.#setMutations;
  }

  #slotOf(store: number, key: string, k4: number): number | undefined {
    return k4 >= 0 ? this.#o.table.slotOfV4(store, k4) : this.#o.table.slotOf(store, key);
  }

  /**
   * Each key touched by ops[from..], once, with what the state holds for it
   * once ops [0, from) are committed.
   */
  keysAfter(ops: OpList, from: number): KeyState[] {
    const c = ops.cols;
    const { table: t, tags } = this.#o;
    const prefix = new Map<string, number>();
    for (let i = 0; i < from; i += 1) prefix.set(`${c.store[i]!}|${ops.keyAt(i)}`, i);
    const seen = new Set<string>();
    const out: KeyState[] = [];
    for (let i = from; i < ops.length; i += 1) {
      const store = c.store[i]!;
      const key = ops.keyAt(i);
      const id = `${store}|${key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const p = prefix.get(id);
      let entry: EntryView | undefined;
      if (p !== undefined) {
        if (c.kind[p] !== PLANNED.DELETE) entry = { tagId: c.tagId[p]!, tag: ops.tagAt(p), creation: c.creation[p]!, expiration: c.expiration[p]! };
      } else {
        const slot = t.slotOf(store, key);
        if (slot !== undefined) {
          const tagId = t.tagId[slot]!;
          entry = { tagId, tag: tags.tagOf(tagId) ?? '', creation: t.creation[slot]!, expiration: t.expiration[slot]! };
        }
      }
      out.push({ store, key, entry });
    }
    return out;
  }

  /** Applies ops [0, n) of `batch`'s plan to the state. */
  apply(ops: OpList, n: number, batch: readonly Req[]): void {
    const { table: t, heap, tags, events: stream } = this.#o;
    const events: EntryEvent[] | undefined = stream.active ? [] : undefined;
    const c = ops.cols;
    for (let i = 0; i < n; i += 1) {
      const req = batch[c.req[i]!];
      const traits = req === undefined ? undefined : KINDS[req.kind];
      if (req !== undefined && traits!.streamed) {
        // No POp object per op here: a peer batch commits 16,384 of them.
        const kind = c.kind[i]!;
        const tag = ops.tagAt(i);
        // set entries changed behind the set loader's back (e.g. peer remove)
        if (isSetTag(tag) || (kind === PLANNED.UPDATE && isSetTag(tags.tagOf(c.prevTagId[i]!) ?? ''))) {
          this.#setMutations += 1;
        }
        if (events !== undefined) {
          const policy = storePolicy(c.store[i]!);
          const cidr = ops.keyAt(i);
          if (kind === PLANNED.DELETE) {
            const slot = this.#slotOf(c.store[i]!, cidr, c.k4[i]!);
            const expired = traits!.expires;
            const ev: EntryEvent = {
              type: expired ? 'expired' : 'removed', policy, cidr, tag,
              expiration: slot === undefined ? 0 : t.expiration[slot]!, creation: slot === undefined ? 0 : t.creation[slot]!,
              origin: traits!.origin,
            };
            events.push(expired ? ev : { ...ev, actor: req.actor.name, ...(req.kind === 'fleet' ? { node: req.node } : {}) });
          } else {
            const metadata = req.kind === 'create' ? req.entry.metadata : undefined;
            events.push({
              type: kind === PLANNED.ADD ? 'added' : 'updated', policy, cidr, tag,
              expiration: c.expiration[i]!, creation: c.creation[i]!, actor: req.actor.name, origin: traits!.origin,
              ...(req.kind === 'fleet' ? { node: req.node } : {}),
              ...(metadata === undefined ? {} : { metadata }),
            });
          }
        }
      }
      const store = c.store[i]!;
      const k4 = c.k4[i]!;
      const expiration = c.expiration[i]!;
      // With a key number the table needs no key text (none is built per set op).
      const key = k4 >= 0 ? '' : ops.keyAt(i);
      if (c.kind[i] === PLANNED.DELETE) {
        const slot = this.#slotOf(store, key, k4);
        if (slot === undefined) continue;
        heap.remove(slot);
        t.delete(store, key, k4);
        tags.release(c.prevTagId[i]!);
      } else if (c.kind[i] === PLANNED.ADD) {
        // Planned against the state + earlier ops: the key is absent here.
        const slot = t.insert(store, key, c.ks[i]!, c.tagId[i]!, c.creation[i]!, expiration, k4);
        if (expiration !== 0) heap.add(slot);
      } else {
        tags.release(c.prevTagId[i]!);
        const slot = t.put(store, key, c.tagId[i]!, c.creation[i]!, expiration, k4);
        if (expiration !== 0) heap.add(slot);
        else heap.remove(slot);
      }
    }
    this.#o.committed();
    if (events !== undefined) for (const ev of events) stream.emit(ev);
  }

  /** Releases the tentative tag references of ops [from, to) (never committed); `to` defaults to the end. */
  release(ops: OpList, from: number, to = ops.length): void {
    for (let i = from; i < to; i += 1) {
      if (ops.cols.kind[i] !== PLANNED.DELETE) this.#o.tags.release(ops.cols.tagId[i]!);
    }
  }
}
