/**
 * The domain's nouns, shared by every layer: what an entry is, who acts.
 * No behaviour here (rules.ts holds the grammar of names, tags, owners and
 * bans; src/net/cidr.ts the CIDR grammar).
 */

export const POLICIES = ['drop', 'ignore'] as const;
export type Policy = (typeof POLICIES)[number];
export type Family = 4 | 6;

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

/** The `metadata` of a create request (spec §1.4): never stored, only carried into reports. */
export interface EntryMetadata {
  readonly kind: string;
  readonly detail: string;
  readonly extra?: Readonly<Record<string, unknown>> | null;
}

/** A create request of the API (and of a peer job). */
export interface CreateRequest {
  readonly cidr: Cidr;
  /** "" when untagged (null or "" in the request). */
  readonly tag: string;
  readonly expiration: number;
  /** The request's metadata, when it had some (API creates only). */
  readonly metadata?: EntryMetadata;
}

/** One job of a `POST /v1/{policy}/peer` body (spec §1.7). */
export interface PeerJob {
  readonly action: 'add' | 'remove';
  readonly entry: CreateRequest;
}
