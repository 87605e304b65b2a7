/**
 * The boundary between the API (src/api) and the state owner (src/core):
 * what the core offers, in the domain's shapes (src/domain/types.ts). The
 * API parses and validates requests into these shapes; the core applies
 * them (kernel batch + journal frame) and throws AppError (src/errors.ts).
 * EntryStore (core/entries.ts) implements every interface here.
 */
import type { Actor, Cidr, CreateRequest, Entry, PeerJob, Policy } from '../../domain/types.js';
import type { HelperStats } from '../../xdp/types.js';

/**
 * Entry state. Every mutation resolves only once the change is in the
 * kernel map and fsync'd in the journal.
 * Errors (AppError): conflict (duplicate, with errors.cidr; map full),
 * not_found (with errors.cidr), invalid + plainBody for set entries on
 * remove, busy (queue full), unavailable (helper down past the wait bound).
 */
/** The entries of a policy at one instant, read by index (0 .. size-1) in list() order. */
export interface EntryListCopy {
  readonly size: number;
  /** Canonical CIDR text. */
  cidr(i: number): string;
  /** '' when none. */
  tag(i: number): string;
  creation(i: number): number;
  expiration(i: number): number;
}

export interface EntryService {
  list(policy: Policy): Entry[];
  /** The same entries as list(), copied compactly for streaming (optional: list() is used without it). */
  listCopy?(policy: Policy): EntryListCopy;
  get(policy: Policy, cidr: Cidr): Entry | undefined;
  count(policy: Policy): number;
  create(policy: Policy, req: CreateRequest, actor: Actor): Promise<Entry>;
  remove(policy: Policy, cidr: Cidr, actor: Actor): Promise<void>;
  /** Sequential: the first failing job throws; earlier jobs stay applied. */
  applyPeer(policy: Policy, jobs: readonly PeerJob[], actor: Actor): Promise<void>;
}

/** One ban of a POST /v1/bans/{owner} (cidr normalized, drop policy). */
export interface BanItem {
  readonly cidr: Cidr;
  /** Unix seconds; 0 = permanent. */
  readonly expiration: number;
}

/**
 * One change a fleet node made to what it holds (src/fleet): a hold with
 * the tag, creation and expiration it holds the CIDR with, its release, or
 * an operator's fleet-wide delete: every fleet hold goes, and this host's
 * own holds (and entry) created at or before `before` (unix seconds).
 */
export type FleetItem =
  | { readonly op: 'hold'; readonly policy: Policy; readonly cidr: Cidr; readonly tag: string; readonly creation: number; readonly expiration: number }
  | { readonly op: 'release'; readonly policy: Policy; readonly cidr: Cidr }
  | { readonly op: 'revoke'; readonly policy: Policy; readonly cidr: Cidr; readonly before: number };

/** What the fleet applies: a node's changes, in the order the node made them. */
export interface FleetService {
  /** Applies `items` of fleet node `node`; resolves with the number applied (never refused as busy). */
  applyFleet(node: string, items: readonly FleetItem[]): Promise<number>;
}

/** A claim of `owner` as GET /v1/bans/{owner} lists it. */
export interface BanClaim {
  readonly cidr: string;
  readonly expiration: number;
  readonly creation: number;
}

/** Bans held by owners (docs/api-extensions.md), the state behind `/v1/bans/{owner}`. */
export interface BanService {
  /** Upserts `owner`'s claims on `items`; resolves with the number applied. */
  ban(owner: string, items: readonly BanItem[], actor: Actor): Promise<number>;
  /** Releases `owner`'s claim on `cidr` (a no-op when it holds none). */
  unban(owner: string, cidr: Cidr, actor: Actor): Promise<void>;
  /** Releases every claim of `owner`; resolves with their number. */
  flushBans(owner: string, actor: Actor): Promise<number>;
  /** `owner`'s live claims, in the order it made them. */
  bansOf(owner: string): BanClaim[];
}

/** What the statistics routes read. */
export interface StatsSource {
  /** Kernel counters; AppError('unavailable') while the helper restarts past the bound. */
  stats(): Promise<HelperStats>;
  count(policy: Policy): number;
  /** Tag string of a kernel tag id, undefined when not in use. */
  tagName(tagId: number): string | undefined;
}

/** One entry of a set reload's target. */
export interface SetTarget {
  readonly cidr: Cidr;
  /** The set file name, e.g. "lan.couic". */
  readonly tag: string;
}

/** What a set reload hands to the core: normalized CIDR text -> set entry (a Map fits). */
export interface SetTargets extends Iterable<[string, SetTarget]> {
  readonly size: number;
  has(key: string): boolean;
  /** has() of an IPv4 key by its number (net/v4-key.ts), when the target can answer without the text. */
  hasKeyNum?(n: number): boolean;
}

/** Entries a set reload created, updated and removed. */
export interface SetsResult {
  readonly created: number;
  readonly updated: number;
  readonly removed: number;
}
