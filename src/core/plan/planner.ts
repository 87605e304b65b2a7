/**
 * The planner: requests + state -> ops and answers, without I/O. One
 * table maps each request kind to its planning function; planRequest runs
 * the one for `req` in a fresh PlanScope. The planners themselves live by
 * subject: entries.ts (create, remove, peer, expire), claims.ts (the
 * `/v1/bans` claims, the fleet's holds), sets.ts (set reloads).
 */
import type { Req, ReqKind, ReqOf } from '../model/requests.js';
import { planClaim, planClaimSync, planFleet, planFlush, planUnclaim } from './claims.js';
import { planCreate, planExpire, planPeer, planRemove } from './entries.js';
import { newReqPlan, type Plan, type ReqPlan } from './plan.js';
import { PlanScope, type PlannerContext } from './scope.js';
import { planSets } from './sets.js';

type PlanFn<K extends ReqKind> = (s: PlanScope, req: ReqOf<K>, rp: ReqPlan) => void;

const PLANNERS: { readonly [K in ReqKind]: PlanFn<K> } = {
  create: planCreate,
  remove: planRemove,
  peer: planPeer,
  expire: planExpire,
  sets: planSets,
  claim: planClaim,
  unclaim: planUnclaim,
  flush: planFlush,
  'claims-sync': planClaimSync,
  fleet: planFleet,
};

/** Plans `req`, request `r` of the plan's batch, at `now` (unix seconds). */
export function planRequest(ctx: PlannerContext, plan: Plan, r: number, req: Req, now: number): ReqPlan {
  const rp = newReqPlan();
  (PLANNERS[req.kind] as PlanFn<ReqKind>)(new PlanScope(ctx, plan, r, now), req as never, rp);
  return rp;
}
