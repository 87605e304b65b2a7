/**
 * The requests of the core's one queue (queue/batcher.ts): what EntryStore
 * submits for each mutation, and the one table (KINDS) of how each kind is
 * treated along the path — whether it may be planned ahead, whether its
 * committed ops are streamed as events, whether its removals are expiries.
 * Planning (plan/planner.ts) and answering (commit/answers.ts) dispatch on
 * the kind through tables of their own.
 */
import type { Actor, Cidr, CreateRequest, PeerJob, Policy } from '../../domain/types.js';
import type { BatchRequest } from '../queue/batcher.js';
import type { BanItem, FleetItem, SetTarget, SetTargets } from './types.js';

/** The actor of the core's own mutations (expiry, claim sync, set reloads at start). */
export const SYSTEM_ACTOR: Actor = { name: 'couic', group: 'admin' };

/** The actor of the fleet's changes (src/fleet); the events also name the node. */
export const FLEET_ACTOR: Actor = { name: 'fleet', group: 'admin' };

interface ReqBase extends BatchRequest {
  /** Time (ms) past which the request stops waiting for a restarting helper. */
  readonly deadline: number;
  readonly actor: Actor;
  resolve(value: unknown): void;
}

export interface CreateReq extends ReqBase {
  readonly kind: 'create';
  readonly policy: Policy;
  readonly entry: CreateRequest;
}

export interface RemoveReq extends ReqBase {
  readonly kind: 'remove';
  readonly policy: Policy;
  readonly cidr: Cidr;
}

export interface PeerReq extends ReqBase {
  readonly kind: 'peer';
  readonly policy: Policy;
  readonly jobs: readonly PeerJob[];
}

/** An entry the expiry heap found due. */
export interface DueEntry {
  readonly store: number;
  readonly key: string;
}

export interface ExpireReq extends ReqBase {
  readonly kind: 'expire';
  readonly items: readonly DueEntry[];
}

export interface SetsReq extends ReqBase {
  readonly kind: 'sets';
  readonly policy: Policy;
  readonly target: SetTargets;
  /** Delta reload: the only set entries to consider for removal (else every set entry not in `target`). */
  readonly removals?: readonly SetTarget[];
}

export interface ClaimReq extends ReqBase {
  readonly kind: 'claim';
  readonly owner: string;
  readonly items: readonly BanItem[];
}

export interface UnclaimReq extends ReqBase {
  readonly kind: 'unclaim';
  readonly owner: string;
  readonly cidr: Cidr;
}

export interface FlushReq extends ReqBase {
  readonly kind: 'flush';
  readonly owner: string;
}

/** Drops expired claims of `keys` and brings their entries in line (claim expiry, startup). */
export interface ClaimSyncReq extends ReqBase {
  readonly kind: 'claims-sync';
  readonly keys: readonly string[];
}

/** Changes of fleet node `node` (src/fleet), applied as its claims (owner '@node'). */
export interface FleetReq extends ReqBase {
  readonly kind: 'fleet';
  readonly node: string;
  readonly items: readonly FleetItem[];
}

export type Req = CreateReq | RemoveReq | PeerReq | ExpireReq | SetsReq | ClaimReq | UnclaimReq | FlushReq | ClaimSyncReq | FleetReq;
export type ReqKind = Req['kind'];
export type ReqOf<K extends ReqKind> = Extract<Req, { kind: K }>;

/**
 * Where a committed change came from: the Couic entry routes (`api`), a
 * peer body (`peer`), the owner-held bans (`bans`), expiry (`expiry`: an
 * entry's or its last claim's), another fleet node (`fleet`, src/fleet).
 * Consumers that share changes with other hosts (reporting, peering, the
 * fleet) tell their own from what they received by it.
 */
export type ChangeOrigin = 'api' | 'peer' | 'bans' | 'expiry' | 'fleet';

export interface KindTraits {
  /** May be planned on top of the batch in flight (commit/pipeline.ts). */
  readonly ahead: boolean;
  /**
   * Its committed ops are streamed as entry events and counted as set
   * mutations. A set reload is not streamed entry by entry (it can touch a
   * million): the set loader emits one event per reload.
   */
  readonly streamed: boolean;
  /** Its removals are expiries (events of type 'expired', without an actor). */
  readonly expires: boolean;
  /** The origin of its events. */
  readonly origin: ChangeOrigin;
}

export const KINDS: { readonly [K in ReqKind]: KindTraits } = {
  create: { ahead: true, streamed: true, expires: false, origin: 'api' },
  remove: { ahead: true, streamed: true, expires: false, origin: 'api' },
  peer: { ahead: true, streamed: true, expires: false, origin: 'peer' },
  expire: { ahead: false, streamed: true, expires: true, origin: 'expiry' },
  // not streamed: the set loader emits one event per reload
  sets: { ahead: false, streamed: false, expires: false, origin: 'api' },
  claim: { ahead: false, streamed: true, expires: false, origin: 'bans' },
  unclaim: { ahead: false, streamed: true, expires: false, origin: 'bans' },
  flush: { ahead: false, streamed: true, expires: false, origin: 'bans' },
  // claims-sync deletes entries whose last claim expired: an expiry too
  'claims-sync': { ahead: false, streamed: true, expires: true, origin: 'expiry' },
  fleet: { ahead: false, streamed: true, expires: false, origin: 'fleet' },
};
