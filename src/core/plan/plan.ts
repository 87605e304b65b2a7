/**
 * A batch's plan: the map ops its requests call for, in request order, and
 * what each request is answered. Planning (planner.ts) fills it against the
 * committed state as seen through the plan's overlay; the committer
 * (commit/committer.ts) sends the ops to the kernel, journals them, applies
 * them to the state and answers the requests.
 *
 * The overlay: the last op planned per key, so a later request of the same
 * batch sees what the earlier ones did. A plan made ahead (commit/pipeline.ts)
 * stands on the plan of the batch in flight (`base`) as if it were committed.
 */
import type { AppError } from '../../errors.js';
import type { OpStatus } from '../../xdp/abi.js';
import type { Helper } from '../../xdp/helper.js';
import type { RecordEncoder } from '../journal/journal.js';
import type { ClaimState } from '../state/claims.js';
import { NumberIndex } from '../state/num-index.js';
import { OpList } from './op-list.js';

/** An entry as planning sees it (the committed state or a planned op). */
export interface EntryView {
  readonly tagId: number;
  readonly tag: string;
  readonly creation: number;
  readonly expiration: number;
}

/** What planning decided for one request. */
export interface ReqPlan {
  /** Error decided in userspace (the ops planned before it still apply). */
  error: AppError | undefined;
  /** sets: counters. */
  counts: { created: number; updated: number; removed: number } | undefined;
  /** claim: bans applied; flush: claims removed. */
  n: number;
  /** claims-sync: keys whose sync could not be planned (map full...), to retry. */
  retry?: string[];
}

export function newReqPlan(): ReqPlan {
  return { error: undefined, counts: undefined, n: 0 };
}

/** A plan's ops sent to the helper ahead of their turn (commit/pipeline.ts). */
export interface EarlySend {
  readonly h: Helper;
  /** The kernel's statuses of the ops (after `resets`). */
  readonly statuses: Promise<OpStatus[]>;
  /** Tag ids reset before the ops. */
  readonly resets: readonly number[];
  /** The journal records of the ops, encoded meanwhile; written in the batch's turn. */
  readonly pre: RecordEncoder;
}

/** A claim state change, in planning order; `opsBefore` = ops planned when it was made (its own included). */
export interface ClaimChange {
  readonly req: number;
  readonly opsBefore: number;
  readonly key: string;
  readonly state: ClaimState | undefined;
}

export class Plan {
  /**
   * The plan of the batch in flight when this one was planned ahead: its
   * ops are looked up as if committed. Cleared once that batch committed
   * whole (the plan then stands on the committed state alone).
   */
  base: Plan | undefined;
  /** A set reload: its ops are not all in the overlay, so it is no base. */
  solo = false;
  /** Every op and request of the batch is committed. */
  committed = false;
  /** Planning on top of this one failed: no more of it. */
  noAhead = false;
  /** Sent to the helper before its turn. */
  early: EarlySend | undefined;
  /** Reused tag ids to reset in the kernel before the ops (again on a retry). */
  readonly resets: number[] = [];
  readonly ops = new OpList();
  readonly reqs: ReqPlan[] = [];
  /**
   * Index in `ops` of the last planned op per key (a DELETE op = absent), by
   * key number in IPv4 stores (op.k4: no key text hashed, no heap number per
   * key as a Map would make), by key text in IPv6 ones. Made on first use.
   */
  readonly #v4: (NumberIndex | undefined)[] = [undefined, undefined];
  readonly #v6: (Map<string, number> | undefined)[] = [undefined, undefined];
  /** Entries added (+) and removed (-) per kernel map slot. */
  readonly mapDelta = new Int32Array(8);
  /** Planned claim states by key (null = unclaimed). */
  readonly claimOverlay = new Map<string, ClaimState | null>();
  readonly claimChanges: ClaimChange[] = [];

  constructor(base?: Plan) {
    this.base = base;
  }

  /** Index of the last planned op on `key` in `store` (`k4` = its key number in IPv4 stores, else -1). */
  opOf(store: number, key: string, k4: number): number | undefined {
    return k4 >= 0 ? this.#v4[store >> 1]?.get(k4) : this.#v6[store >> 1]?.get(key);
  }

  setOp(store: number, key: string, k4: number, i: number): void {
    if (k4 >= 0) (this.#v4[store >> 1] ??= new NumberIndex()).set(k4, i);
    else (this.#v6[store >> 1] ??= new Map()).set(key, i);
  }

  /** Room in the overlay of IPv4 store `store` for `n` more keys (a peer request's jobs). */
  reserveV4(store: number, n: number): void {
    (this.#v4[store >> 1] ??= new NumberIndex()).reserve(n);
  }

  /** Keys of `store` with a planned op. */
  overlaySize(store: number): number {
    return ((store & 1) === 0 ? this.#v4[store >> 1] : this.#v6[store >> 1])?.size ?? 0;
  }

  /** Records a claim state change of request `r`. */
  setClaim(r: number, key: string, state: ClaimState | undefined): void {
    this.claimOverlay.set(key, state ?? null);
    this.claimChanges.push({ req: r, opsBefore: this.ops.length, key, state });
  }

  /** The claim states planned by the committed part of the batch: key -> last state. */
  committedClaims(committedOps: number, committedReqs: number): Map<string, ClaimState | undefined> {
    const out = new Map<string, ClaimState | undefined>();
    for (const c of this.claimChanges) {
      if (c.req < committedReqs && c.opsBefore <= committedOps) out.set(c.key, c.state);
    }
    return out;
  }
}
