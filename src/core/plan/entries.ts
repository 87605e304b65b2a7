/**
 * Planning of the Couic entry requests: create, remove, a peer body, and
 * the expiry of due entries.
 */
import type { CreateReq, ExpireReq, PeerReq, RemoveReq } from '../model/requests.js';
import { storeIndex } from '../state/table.js';
import { adoptByClaims } from './claims.js';
import type { ReqPlan } from './plan.js';
import type { PlanScope } from './scope.js';

/** Bodies of more jobs than this reserve room for all of them at once. */
const PEER_RESERVE_MIN = 256;

export function planCreate(s: PlanScope, req: CreateReq, rp: ReqPlan): void {
  const e = req.entry;
  rp.error = s.add(storeIndex(req.policy, e.cidr.family), e.cidr, e.tag, e.expiration);
}

/** An API removal: set entries are refused (edit the set instead). */
export function planRemove(s: PlanScope, req: RemoveReq, rp: ReqPlan): void {
  rp.error = s.remove(req.policy, req.cidr, 'refuse');
}

/** A peer body, job by job, stopping at the first failing one (Couic's semantics; set entries may be removed). */
export function planPeer(s: PlanScope, req: PeerReq, rp: ReqPlan): void {
  if (req.jobs.length > PEER_RESERVE_MIN) {
    // Room for every job at once: a 10,000-job body otherwise grows the op columns and the overlay ten times.
    s.plan.ops.reserve(req.jobs.length);
    s.plan.reserveV4(storeIndex(req.policy, 4), req.jobs.length);
  }
  for (const job of req.jobs) {
    const e = job.entry;
    rp.error = job.action === 'add'
      ? s.add(storeIndex(req.policy, e.cidr.family), e.cidr, e.tag, e.expiration)
      : s.remove(req.policy, e.cidr, 'remove');
    if (rp.error !== undefined) break;
  }
}

/** Due entries still expired once planned go (the live claims on a drop entry take it over). */
export function planExpire(s: PlanScope, req: ExpireReq, _rp: ReqPlan): void {
  for (const d of req.items) {
    const cur = s.entry(d.store, d.key);
    if (cur !== undefined && cur.expiration !== 0 && cur.expiration <= s.now && !adoptByClaims(s, d.store, d.key)) {
      s.delete(d.store, d.key, cur);
    }
  }
}
