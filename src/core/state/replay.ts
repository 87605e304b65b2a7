/**
 * Loads the state the journal holds (journal/journal.ts replays it into a
 * ReplaySink) into the entry table, the tag registry and the claims, then
 * drops what expired while the daemon was down.
 */
import { keyPrefixLen } from '../../net/keys.js';
import type { ReplaySink } from '../journal/journal.js';
import { claimKey, type Claim, type ClaimTable } from './claims.js';
import type { ExpiryHeap } from './expiry.js';
import { mapSlotOf, type EntryTable } from './table.js';
import type { TagRegistry } from './tags.js';

export class ReplayLoader implements ReplaySink {
  readonly #table: EntryTable;
  readonly #tags: TagRegistry;
  readonly #claims: ClaimTable | undefined;

  constructor(table: EntryTable, tags: TagRegistry, claims?: ClaimTable) {
    this.#table = table;
    this.#tags = tags;
    this.#claims = claims;
  }

  claims(store: number, cidr: string, managed: boolean, claims: Claim[]): void {
    this.#claims?.load(claimKey(store, cidr), { managed, claims });
  }

  put(store: number, key: string, tag: string, creation: number, expiration: number): void {
    const t = this.#table;
    const slot = t.slotOf(store, key);
    const tagId = this.#tags.acquire(tag);
    if (slot === undefined) {
      t.insert(store, key, mapSlotOf(store, keyPrefixLen(key), t.lpmOnly), tagId, creation, expiration);
    } else {
      this.#tags.release(t.tagId[slot]!);
      t.tagId[slot] = tagId;
      t.creation[slot] = creation;
      t.expiration[slot] = expiration;
    }
  }

  del(store: number, key: string): void {
    const t = this.#table;
    const slot = t.slotOf(store, key);
    if (slot === undefined) return;
    this.#tags.release(t.tagId[slot]!);
    t.delete(store, key);
  }

  /** Removes entries expired at `now` (unix seconds) and fills the expiry heap. Returns the number removed. */
  finish(heap: ExpiryHeap, now: number): number {
    const t = this.#table;
    let removed = 0;
    for (let store = 0; store < 4; store += 1) {
      const doomed: string[] = [];
      for (const slot of t.slots(store)) {
        const exp = t.expiration[slot]!;
        if (exp === 0) continue;
        if (exp <= now) doomed.push(t.keyOf(slot)!);
        else heap.add(slot);
      }
      for (const key of doomed) this.del(store, key);
      removed += doomed.length;
    }
    this.#tags.takeResets();
    this.#claims?.rebuildDue();
    return removed;
  }
}
