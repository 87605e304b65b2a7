/**
 * Planning of a set reload for one policy (spec §3): every target entry
 * the state lacks is added, set entries with another tag are retagged, an
 * API or claim entry the set now covers is taken over; then set entries no
 * longer in the target go (all of them not in the target on a full reload,
 * or only the `removals` of a delta reload). A reload runs alone in its
 * batch and can plan a million ops, so the target's ops and the full-diff
 * removals stay out of the overlay (ScopeOptions.track).
 */
import { isSetTag } from '../../domain/rules.js';
import type { SetsReq } from '../model/requests.js';
import { storeIndex } from '../state/table.js';
import { adoptByClaims, unmanageClaims } from './claims.js';
import type { EntryView, ReqPlan } from './plan.js';
import type { PlanScope } from './scope.js';

export function planSets(tracked: PlanScope, req: SetsReq, rp: ReqPlan): void {
  const counts = { created: 0, updated: 0, removed: 0 };
  rp.counts = counts;
  const s = tracked.with({ track: false });
  const { plan, table, tags } = s;
  // Target keys absent from the table (at least this many) are each
  // one ADD: room for them at once, e.g. the whole set on a first load.
  const present = table.count(storeIndex(req.policy, 4)) + table.count(storeIndex(req.policy, 6));
  plan.ops.reserve(Math.max(0, req.target.size - present));
  for (const [key, t] of req.target) {
    // Keys (canonical CIDR texts), not Cidr objects: the kernel op derives
    // the address bytes when it is encoded (no Uint8Array per op kept).
    const store = storeIndex(req.policy, t.cidr.family);
    let cur: EntryView | undefined;
    if (plan.overlaySize(store) === 0) {
      const slot = table.slotOf(store, key);
      if (slot !== undefined) {
        // Unchanged set entry (the common case of a full diff): no EntryView built.
        const tagId = table.tagId[slot]!;
        const tag = tags.tagOf(tagId) ?? '';
        if (tag === t.tag && table.expiration[slot] === 0 && isSetTag(tag)) continue;
        cur = { tagId, tag, creation: table.creation[slot]!, expiration: table.expiration[slot]! };
      }
    } else {
      cur = s.entry(store, key);
    }
    if (cur === undefined) {
      rp.error = s.addAbsent(store, key, t.tag, 0);
      if (rp.error !== undefined) return;
      counts.created += 1;
    } else if (isSetTag(cur.tag)) {
      if (cur.tag !== t.tag || cur.expiration !== 0) {
        s.replace(store, key, cur, t.tag, 0);
        counts.updated += 1;
      }
    } else {
      s.replace(store, key, cur, t.tag, 0);
      unmanageClaims(tracked, store, key);
      counts.created += 1;
    }
  }
  if (req.removals !== undefined) {
    for (const t of req.removals) {
      if (req.target.has(t.cidr.text)) continue;
      const store = storeIndex(req.policy, t.cidr.family);
      const cur = tracked.entry(store, t.cidr.text);
      if (cur === undefined || !isSetTag(cur.tag)) continue;
      if (!adoptByClaims(tracked, store, t.cidr.text)) tracked.delete(store, t.cidr.text, cur);
      counts.removed += 1;
    }
    return;
  }
  const target = req.target;
  for (const family of [4, 6] as const) {
    const store = storeIndex(req.policy, family);
    // IPv4 keys are looked up by number when the target can: no key text built per entry.
    const byNum = family === 4 && target.hasKeyNum !== undefined;
    for (const slot of table.slots(store)) {
      if (byNum ? target.hasKeyNum!(table.key4[slot]!) : target.has(table.keyOf(slot)!)) continue;
      const tag = tags.tagOf(table.tagId[slot]!) ?? '';
      if (!isSetTag(tag)) continue;
      const key = table.keyOf(slot)!;
      const cur = s.entry(store, key);
      if (cur === undefined) continue;
      // Each slot is one key, visited once, and no target key: like the
      // target's ops, these deletions stay out of the overlay (a million
      // of them when every set file goes).
      if (!adoptByClaims(tracked, store, key)) s.delete(store, key, cur);
      counts.removed += 1;
    }
  }
}
