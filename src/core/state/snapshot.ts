/** The whole state as journal records: what a compaction writes as its snapshot. */
import type { RecordEncoder } from '../journal/journal.js';
import { claimCidr, claimStore, type ClaimTable } from './claims.js';
import type { EntryTable } from './table.js';
import type { TagRegistry } from './tags.js';

/** Writes every entry and every claim state into `enc`; returns the number of records. */
export function writeSnapshot(enc: RecordEncoder, table: EntryTable, tags: TagRegistry, claims: ClaimTable): number {
  let n = 0;
  for (let store = 0; store < 4; store += 1) {
    for (const [key, slot] of table.entries(store)) {
      enc.put(store, key, tags.tagOf(table.tagId[slot]!) ?? '', table.creation[slot]!, table.expiration[slot]!);
      n += 1;
    }
  }
  for (const [key, st] of claims.entries()) {
    enc.claims(claimStore(key), claimCidr(key), st.managed, st.claims);
    n += 1;
  }
  return n;
}
