/** A CIDR of a policy as the fleet handles it: its claim key (core/state/claims.ts) and back. */
import { claimCidr, claimKey, claimStore } from '../core/state/claims.js';
import { storeFamily, storeIndex, storePolicy } from '../core/state/table.js';
import type { Cidr, Policy } from '../domain/types.js';
import { StoredCidr } from '../net/keys.js';

export function pkeyOf(policy: Policy, cidr: Cidr | string): string {
  const text = typeof cidr === 'string' ? cidr : cidr.text;
  return claimKey(storeIndex(policy, text.includes(':') ? 6 : 4), text);
}

export function pkeyPolicy(pkey: string): Policy {
  return storePolicy(claimStore(pkey));
}

export function pkeyCidr(pkey: string): Cidr {
  return new StoredCidr(storeFamily(claimStore(pkey)), claimCidr(pkey));
}
