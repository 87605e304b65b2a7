/**
 * The boundary between the API (src/api) and the state owner (src/core).
 * The API parses and validates requests into these shapes; core applies
 * them (journal + helper batch) and throws AppError (src/errors.ts).
 */
import type { Family, Policy } from '../xdp/types.js';

export type { Family, Policy } from '../xdp/types.js';

export const GROUPS = ['admin', 'clientro', 'clientrw', 'monitoring', 'peering'] as const;
export type Group = (typeof GROUPS)[number];

/** A normalized CIDR (host bits zeroed). */
export interface Cidr {
  readonly family: Family;
  /** Network-order bytes, 4 or 16. */
  readonly addr: Uint8Array;
  readonly prefixLen: number;
  /** Canonical text, e.g. "192.0.2.0/24", "2001:db8::/32", "::ffff:192.0.2.0/120". */
  readonly text: string;
}

export interface Entry {
  readonly policy: Policy;
  readonly cidr: Cidr;
  /** "" = untagged; "name.couic" = set entry. */
  readonly tag: string;
  /** Unix seconds; 0 = never. */
  readonly expiration: number;
  /** Unix seconds of acceptance. */
  readonly creation: number;
}

/** Who performs a mutation (logged with it). */
export interface Actor {
  readonly name: string;
  readonly group: Group;
}

export interface CreateRequest {
  readonly cidr: Cidr;
  /** "" when untagged (null or "" in the request). */
  readonly tag: string;
  readonly expiration: number;
}

export interface PeerJob {
  readonly action: 'add' | 'remove';
  readonly entry: CreateRequest;
}

/**
 * Entry state (implemented by src/core). Every mutation resolves only once
 * the change is in the kernel map and fsync'd in the journal.
 * Errors (AppError): conflict (duplicate, with errors.cidr; map full),
 * not_found (with errors.cidr), invalid + plainBody for set entries on
 * remove, busy (queue full), unavailable (helper down past the wait bound).
 */
export interface EntryService {
  list(policy: Policy): Entry[];
  get(policy: Policy, cidr: Cidr): Entry | undefined;
  count(policy: Policy): number;
  create(policy: Policy, req: CreateRequest, actor: Actor): Promise<Entry>;
  remove(policy: Policy, cidr: Cidr, actor: Actor): Promise<void>;
  /** Sequential: the first failing job throws; earlier jobs stay applied. */
  applyPeer(policy: Policy, jobs: readonly PeerJob[], actor: Actor): Promise<void>;
}
