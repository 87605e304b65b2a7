/**
 * Planning of owner-held claims (`/v1/bans/{owner}`, and the fleet nodes'
 * holds, state/claims.ts): each request kind as one function, and the two
 * hooks the other planners call when an entry with claims is taken over by
 * a set (unmanageClaims) or goes away by expiry or set reload (adoptByClaims).
 */
import type { Cidr } from '../../domain/types.js';
import type { AppError } from '../../errors.js';
import { StoredCidr } from '../../net/keys.js';
import { isSetTag } from '../../domain/rules.js';
import type { ClaimReq, ClaimSyncReq, FleetReq, FlushReq, UnclaimReq } from '../model/requests.js';
import type { FleetItem } from '../model/types.js';
import {
  claimCidr,
  claimIndex,
  claimKey,
  claimStore,
  fleetOwner,
  isFleetOwner,
  deriveEntry,
  pruneClaims,
  removeClaim,
  sameClaims,
  putClaim,
  sameState,
  upsertClaim,
  type Claim,
  type ClaimState,
} from '../state/claims.js';
import { storeFamily, storeIndex } from '../state/table.js';
import type { ReqPlan } from './plan.js';
import type { PlanScope } from './scope.js';

/** How planClaims treats the entry it finds. */
export type ClaimTakeover = 'keep' | 'adopt';

/**
 * Records `claims` (already pruned) as the claims on `key` and plans the
 * entry they call for: added (managed) when absent, retagged/re-expired
 * when managed, removed with the last claim when managed, untouched when
 * not managed. With 'adopt' the entry is taken over (made managed) whatever
 * it was. Returns the error of a refused add (map full).
 */
export function planClaims(
  s: PlanScope, key: string, prev: ClaimState | undefined, claims: readonly Claim[], takeover: ClaimTakeover, cidr?: Cidr,
): AppError | undefined {
  const store = claimStore(key);
  const text = claimCidr(key);
  const cur = s.entry(store, text);
  const adopt = takeover === 'adopt';
  let managed = adopt || (prev?.managed ?? false);
  if (claims.length === 0) {
    if (cur !== undefined && managed) s.delete(store, cidr ?? text, cur);
  } else if (cur === undefined) {
    const d = deriveEntry(claims);
    const err = s.addAbsent(store, cidr ?? text, d.tag, d.expiration);
    if (err !== undefined) return err;
    managed = true;
  } else if (managed) {
    const d = deriveEntry(claims);
    const adopting = adopt && prev?.managed !== true;
    if (cur.tag !== d.tag || cur.expiration !== d.expiration || adopting) {
      const at = cidr ?? new StoredCidr(storeFamily(store), text);
      // Taken over, it is a new entry of the claims; else it keeps its creation.
      if (adopting) s.replace(store, at, cur, d.tag, d.expiration);
      else s.update(store, at, cur, d.tag, d.expiration);
    }
  }
  const next: ClaimState | undefined = claims.length === 0 ? undefined : { managed, claims };
  if (!sameState(prev, next)) s.setClaims(key, next);
  return undefined;
}

/**
 * An entry with claims is going away by expiry or set reload: the live
 * claims take it over (or it goes, with the claims, when none is live).
 * Returns false when CIDR `text` of `store` has no claims (plain removal).
 */
export function adoptByClaims(s: PlanScope, store: number, text: string): boolean {
  const key = claimKey(store, text);
  const prev = s.claimsOf(key);
  if (prev === undefined) return false;
  planClaims(s, key, prev, pruneClaims(prev.claims, s.now), 'adopt');
  return true;
}

/** A set entry now holds CIDR `text` of `store`: its claims stay recorded but no longer manage the entry. */
export function unmanageClaims(s: PlanScope, store: number, text: string): void {
  const key = claimKey(store, text);
  const prev = s.claimsOf(key);
  if (prev !== undefined && prev.managed) s.setClaims(key, { managed: false, claims: prev.claims });
}

/** POST /v1/bans/{owner}: upserts the owner's claim on each item; rp.n = items applied. */
export function planClaim(s: PlanScope, req: ClaimReq, rp: ReqPlan): void {
  for (const it of req.items) {
    const key = it.cidr.text;
    const prev = s.claimsOf(key);
    const base = prev === undefined ? [] : pruneClaims(prev.claims, s.now);
    const claims = upsertClaim(base, req.owner, it.expiration, s.now);
    if (prev === undefined || !sameClaims(prev.claims, claims) || s.entry(claimStore(key), key) === undefined) {
      rp.error = planClaims(s, key, prev, claims, 'keep', it.cidr);
      if (rp.error !== undefined) break;
    }
    rp.n += 1;
  }
}

/** DELETE /v1/bans/{owner}/{ip}/{prefix}: releases the owner's claim, if it holds one. */
export function planUnclaim(s: PlanScope, req: UnclaimReq, rp: ReqPlan): void {
  const key = req.cidr.text;
  const prev = s.claimsOf(key);
  if (prev === undefined || claimIndex(prev.claims, req.owner) < 0) return;
  rp.error = planClaims(s, key, prev, pruneClaims(removeClaim(prev.claims, req.owner), s.now), 'keep', req.cidr);
}

/** DELETE /v1/bans/{owner}: releases every claim of the owner; rp.n = claims released. */
export function planFlush(s: PlanScope, req: FlushReq, rp: ReqPlan): void {
  const keys = new Set(s.committedClaimKeys(req.owner));
  for (const [k, st] of s.plan.claimOverlay) if (st !== null && claimIndex(st.claims, req.owner) >= 0) keys.add(k);
  for (const key of keys) {
    const prev = s.claimsOf(key);
    if (prev === undefined || claimIndex(prev.claims, req.owner) < 0) continue;
    // An error (re-adding a missing entry for the other owners, map full) keeps this claim for a later flush.
    if (planClaims(s, key, prev, pruneClaims(removeClaim(prev.claims, req.owner), s.now), 'keep') === undefined) rp.n += 1;
  }
}

/** Claim expiry and the startup check: drops expired claims of the keys and brings their entries in line. */
export function planClaimSync(s: PlanScope, req: ClaimSyncReq, rp: ReqPlan): void {
  for (const key of req.keys) {
    const prev = s.claimsOf(key);
    if (prev === undefined) continue;
    // Errors (an add refused, map full) leave the claims for the next
    // sync: the key left the due heap when popped, so requeue it.
    if (planClaims(s, key, prev, pruneClaims(prev.claims, s.now), 'keep') !== undefined) (rp.retry ??= []).push(key);
  }
}

/**
 * The fleet (src/fleet): other nodes' holds, their releases, and an
 * operator's fleet-wide delete. A hold is the claim of owner '@node' with
 * the tag, creation and expiration the node holds it with (one already
 * expired is a release). A revocation takes off the CIDR every fleet claim
 * (the fleet applies in stream order: any hold it holds was published
 * before the delete), and this host's own claims and entry created at or
 * before `before` (a set entry stays). rp.n = items applied.
 */
export function planFleet(s: PlanScope, req: FleetReq, rp: ReqPlan): void {
  const owner = fleetOwner(req.node);
  for (const it of req.items) {
    const store = storeIndex(it.policy, it.cidr.family);
    const key = claimKey(store, it.cidr.text);
    const prev = s.claimsOf(key);
    const base = prev === undefined ? [] : pruneClaims(prev.claims, s.now);
    rp.error = it.op === 'revoke' ? planRevoke(s, store, key, prev, base, it) : planHold(s, key, prev, base, owner, it);
    if (rp.error !== undefined) break;
    rp.n += 1;
  }
}

function planHold(
  s: PlanScope, key: string, prev: ClaimState | undefined, base: readonly Claim[], owner: string, it: FleetItem,
): AppError | undefined {
  let claims: readonly Claim[];
  if (it.op === 'hold' && (it.expiration === 0 || it.expiration > s.now)) {
    claims = putClaim(base, { owner, creation: it.creation, expiration: it.expiration, tag: it.tag });
  } else {
    claims = removeClaim(base, owner);
  }
  if (prev !== undefined && sameClaims(prev.claims, claims) && s.entry(claimStore(key), it.cidr.text) !== undefined) return undefined;
  return planClaims(s, key, prev, claims, 'keep', it.cidr);
}

function planRevoke(
  s: PlanScope, store: number, key: string, prev: ClaimState | undefined, base: readonly Claim[], it: Extract<FleetItem, { op: 'revoke' }>,
): AppError | undefined {
  const claims = base.filter((c) => !isFleetOwner(c.owner) && c.creation > it.before);
  const cur = s.entry(store, it.cidr.text);
  let state = prev;
  if (cur !== undefined && prev?.managed !== true && !isSetTag(cur.tag) && cur.creation <= it.before) {
    // An entry of its own (API or peer) from before the revocation: it goes;
    // newer claims, if any, then make a new one (managed).
    s.delete(store, it.cidr, cur);
    state = prev === undefined ? undefined : { managed: false, claims: prev.claims };
  }
  if (state === undefined && claims.length === 0) return undefined;
  return planClaims(s, key, state, claims, 'keep', it.cidr);
}
