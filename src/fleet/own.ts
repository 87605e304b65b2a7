/**
 * What this host holds itself, and so publishes under its own keys: for a
 * CIDR of a shared policy, the union of its own sources, never what it got
 * from the fleet or from Couic peering:
 *
 *   - the entry, when the Couic entry routes created it (the ledger says so,
 *     with the entry's creation; a peer or set entry is not ours to share);
 *   - every live claim of a local owner (`/v1/bans/{owner}`, e.g.
 *     fail2ban-sshd); fleet nodes' claims (owner '@node') are not.
 *
 * The hold's tag is the API entry's, else the oldest claim's; its creation
 * the earliest; its expiration 0 if any source is permanent, else the
 * latest (as claims derive an entry, core/state/claims.ts).
 */
import { isSetTag } from '../domain/rules.js';
import type { Entry, Policy } from '../domain/types.js';
import type { Cidr } from '../domain/types.js';
import { claimLive, claimTag, isFleetOwner, type ClaimState } from '../core/state/claims.js';
import type { HoldValue } from './values.js';

/** The state own holds are read from (EntryStore). */
export interface OwnSource {
  get(policy: Policy, cidr: Cidr): Entry | undefined;
  claimState(key: string): ClaimState | undefined;
}

/** True when claims `st` include one of a local owner (live or not: its release is ours to publish). */
export function hasLocalClaim(st: ClaimState | undefined): boolean {
  return st !== undefined && st.claims.some((c) => !isFleetOwner(c.owner));
}

/** This host's own hold on `cidr` of `policy` (claim key `key`), undefined when it holds none. */
export function ownHold(
  src: OwnSource, policy: Policy, cidr: Cidr, key: string, apiCreation: number | undefined, now: number,
): HoldValue | undefined {
  let tag: string | undefined;
  let creation = Infinity;
  let expiration = -1;
  const add = (t: string, c: number, e: number): void => {
    tag ??= t;
    if (c < creation) creation = c;
    if (expiration !== 0) expiration = e === 0 ? 0 : Math.max(expiration, e);
  };
  const st = src.claimState(key);
  if (apiCreation !== undefined) {
    const e = src.get(policy, cidr);
    if (e !== undefined && e.creation === apiCreation && st?.managed !== true && !isSetTag(e.tag) && (e.expiration === 0 || e.expiration > now)) {
      add(e.tag, e.creation, e.expiration);
    }
  }
  if (st !== undefined) {
    for (const c of st.claims) if (!isFleetOwner(c.owner) && claimLive(c, now)) add(claimTag(c), c.creation, c.expiration);
  }
  return tag === undefined ? undefined : { tag, creation, expiration };
}
