/**
 * The primitives every request planner writes with: look an entry up as
 * the plan sees it, and plan an add, an update, a removal of it, or a claim
 * state change. One PlanScope per request (its index in the batch and the
 * batch's "now" are fixed); the lookups walk the plan's overlay, then the
 * plan it stands on, then the committed state.
 *
 * Pure with respect to the outside world: nothing here touches the kernel,
 * the journal or the clock. What it changes is the plan, plus tentative
 * references in the tag registry (released if the op is never committed).
 */
import { conflictError, mapFullError, notFoundError, setEntryError } from '../../domain/entry-errors.js';
import { isSetTag } from '../../domain/rules.js';
import type { Cidr, Policy } from '../../domain/types.js';
import type { AppError } from '../../errors.js';
import { cidrKeyNum, keyPrefixLen } from '../../net/keys.js';
import { v4KeyNum } from '../../net/v4-key.js';
import { claimKey, type ClaimState, type ClaimTable } from '../state/claims.js';
import { mapSlotOf, storeIndex, type EntryTable } from '../state/table.js';
import type { TagRegistry } from '../state/tags.js';
import { PLANNED, type PlannedKind } from './op-list.js';
import type { EntryView, Plan } from './plan.js';

/** The state planning reads (and the tag registry it takes references in). */
export interface PlannerContext {
  readonly table: EntryTable;
  readonly tags: TagRegistry;
  readonly claims: ClaimTable;
  /** Kernel capacity of each map slot (MAP_SLOTS order); undefined before the helper's HELLO. */
  capacities(): readonly number[] | undefined;
}

export interface ScopeOptions {
  /**
   * Record each op in the plan's overlay, so later lookups of the same key
   * in this batch see it. A set reload's walk of its target turns this off:
   * its keys are distinct and nothing planned after them looks them up, and
   * a million overlay entries would cost memory and time. @default true
   */
  readonly track?: boolean;
}

/** What a removal does with a set entry. */
export type SetEntryRule = 'refuse' | 'remove';

/** Key number of `cidr` (a key or a Cidr) in `store`: -1 in IPv6 stores. */
function keyNumIn(store: number, cidr: Cidr | string): number {
  if ((store & 1) === 1) return -1;
  return typeof cidr === 'string' ? v4KeyNum(cidr) : cidrKeyNum(cidr);
}

/** Address bytes an op keeps: an IPv6 Cidr's (IPv4 ones are made from k4 when encoded, keys are parsed then). */
function opAddr(cidr: Cidr | string, k4: number): Uint8Array | undefined {
  return k4 >= 0 || typeof cidr === 'string' ? undefined : cidr.addr;
}

export class PlanScope {
  readonly plan: Plan;
  /** Index of the request in the batch. */
  readonly r: number;
  /** The batch's time (unix seconds): creation of what it adds, the limit of what has expired. */
  readonly now: number;
  readonly #ctx: PlannerContext;
  readonly #track: boolean;

  constructor(ctx: PlannerContext, plan: Plan, r: number, now: number, opts: ScopeOptions = {}) {
    this.#ctx = ctx;
    this.plan = plan;
    this.r = r;
    this.now = now;
    this.#track = opts.track ?? true;
  }

  /** The same request, with other options (a set reload plans part of its ops untracked). */
  with(opts: ScopeOptions): PlanScope {
    return new PlanScope(this.#ctx, this.plan, this.r, this.now, opts);
  }

  get table(): EntryTable {
    return this.#ctx.table;
  }

  get tags(): TagRegistry {
    return this.#ctx.tags;
  }

  /* ---------------- lookups ---------------- */

  /** `key` of `store` once the plan (and its base) is applied; `k4` = its IPv4 key number when known. */
  entry(store: number, key: string, k4 = keyNumIn(store, key)): EntryView | undefined {
    for (let p: Plan | undefined = this.plan; p !== undefined; p = p.base) {
      const o = p.opOf(store, key, k4);
      if (o === undefined) continue;
      const c = p.ops.cols;
      if (c.kind[o] === PLANNED.DELETE) return undefined;
      return { tagId: c.tagId[o]!, tag: p.ops.tagAt(o), creation: c.creation[o]!, expiration: c.expiration[o]! };
    }
    const t = this.#ctx.table;
    const slot = this.#slotOf(store, key, k4);
    if (slot === undefined) return undefined;
    const tagId = t.tagId[slot]!;
    return { tagId, tag: this.#ctx.tags.tagOf(tagId) ?? '', creation: t.creation[slot]!, expiration: t.expiration[slot]! };
  }

  /** Whether `key` is in `store` once the plan (and its base) is applied. */
  #present(store: number, key: string, k4: number): boolean {
    for (let p: Plan | undefined = this.plan; p !== undefined; p = p.base) {
      const o = p.opOf(store, key, k4);
      if (o !== undefined) return p.ops.cols.kind[o] !== PLANNED.DELETE;
    }
    return this.#slotOf(store, key, k4) !== undefined;
  }

  /** Table slot of `key` in `store`, by key number when `k4` holds it. */
  #slotOf(store: number, key: string, k4: number): number | undefined {
    return k4 >= 0 ? this.#ctx.table.slotOfV4(store, k4) : this.#ctx.table.slotOf(store, key);
  }

  /** The claims on claim `key` (state/claims.ts claimKey) once the plan (and its base) is applied. */
  claimsOf(key: string): ClaimState | undefined {
    for (let p: Plan | undefined = this.plan; p !== undefined; p = p.base) {
      const o = p.claimOverlay.get(key);
      if (o !== undefined) return o ?? undefined;
    }
    return this.#ctx.claims.get(key);
  }

  /** Keys `owner` holds a committed claim on (a live view: copy before planning on it). */
  committedClaimKeys(owner: string): ReadonlySet<string> {
    return this.#ctx.claims.keysOf(owner);
  }

  /** Plans `state` as the claims on claim `key` (undefined: unclaimed). */
  setClaims(key: string, state: ClaimState | undefined): void {
    this.plan.setClaim(this.r, key, state);
  }

  /* ---------------- ops ---------------- */

  /** Kernel map slot of `cidr` in `store`; `k4` = its key number. */
  #kslot(store: number, cidr: Cidr | string, k4: number): number {
    const prefixLen = k4 >= 0 ? k4 % 64 : typeof cidr === 'string' ? keyPrefixLen(cidr) : cidr.prefixLen;
    return mapSlotOf(store, prefixLen, this.#ctx.table.lpmOnly);
  }

  /** The error of one more entry in kernel map slot `ks` when it is full, counting this plan and its base. */
  #full(ks: number): AppError | undefined {
    const caps = this.#ctx.capacities();
    if (caps === undefined) return undefined; // checked again by the kernel
    const cap = caps[ks] ?? Infinity;
    const planned = this.plan.mapDelta[ks]! + (this.plan.base?.mapDelta[ks] ?? 0);
    if (this.#ctx.table.mapCounts[ks]! + planned >= cap) return mapFullError(cap);
    return undefined;
  }

  #append(kind: PlannedKind, store: number, key: string, k4: number, ks: number, addr: Uint8Array | undefined): number {
    const ops = this.plan.ops;
    const i = ops.append(kind, store, key, k4, ks);
    if (addr !== undefined) ops.setAddr(i, addr);
    if (this.#track) this.plan.setOp(store, key, k4, i);
    return i;
  }

  /** Plans `cidr` into `store` (created now); a conflict error when it is there, a map-full error when no room is left. */
  add(store: number, cidr: Cidr | string, tag: string, expiration: number): AppError | undefined {
    const key = typeof cidr === 'string' ? cidr : cidr.text;
    const k4 = keyNumIn(store, cidr);
    if (this.#present(store, key, k4)) return conflictError(key);
    return this.#add(store, cidr, key, k4, tag, expiration);
  }

  /** add() of a key the caller just found absent (entry() returned undefined). */
  addAbsent(store: number, cidr: Cidr | string, tag: string, expiration: number): AppError | undefined {
    return this.#add(store, cidr, typeof cidr === 'string' ? cidr : cidr.text, keyNumIn(store, cidr), tag, expiration);
  }

  #add(store: number, cidr: Cidr | string, key: string, k4: number, tag: string, expiration: number): AppError | undefined {
    const ks = this.#kslot(store, cidr, k4);
    const full = this.#full(ks);
    if (full !== undefined) return full;
    const tagId = this.#ctx.tags.acquire(tag);
    const i = this.#append(PLANNED.ADD, store, key, k4, ks, opAddr(cidr, k4));
    this.plan.ops.setValue(i, tagId, tag, this.now, expiration);
    this.plan.ops.setOrigin(i, this.r, 0);
    this.plan.mapDelta[ks]! += 1;
    return undefined;
  }

  /** Plans a new tag and expiration for `cidr` (as `cur`), keeping its creation. */
  update(store: number, cidr: Cidr | string, cur: EntryView, tag: string, expiration: number): void {
    this.#update(store, cidr, cur, tag, cur.creation, expiration);
  }

  /** Plans `cidr` (as `cur`) replaced by a new entry created now (a set or the claims taking it over). */
  replace(store: number, cidr: Cidr | string, cur: EntryView, tag: string, expiration: number): void {
    this.#update(store, cidr, cur, tag, this.now, expiration);
  }

  #update(store: number, cidr: Cidr | string, cur: EntryView, tag: string, creation: number, expiration: number): void {
    const tagId = this.#ctx.tags.acquire(tag);
    const key = typeof cidr === 'string' ? cidr : cidr.text;
    const k4 = keyNumIn(store, cidr);
    const i = this.#append(PLANNED.UPDATE, store, key, k4, this.#kslot(store, cidr, k4), opAddr(cidr, k4));
    this.plan.ops.setValue(i, tagId, tag, creation, expiration);
    this.plan.ops.setOrigin(i, this.r, cur.tagId);
  }

  /** Plans the removal of `cidr` (a key or a Cidr, as `cur`) from `store`. */
  delete(store: number, cidr: Cidr | string, cur: EntryView): void {
    const key = typeof cidr === 'string' ? cidr : cidr.text;
    const k4 = keyNumIn(store, cidr);
    const ks = this.#kslot(store, cidr, k4);
    const i = this.#append(PLANNED.DELETE, store, key, k4, ks, opAddr(cidr, k4));
    this.plan.ops.setValue(i, cur.tagId, cur.tag, 0, 0);
    this.plan.ops.setOrigin(i, this.r, cur.tagId);
    this.plan.mapDelta[ks]! -= 1;
  }

  /**
   * Plans the removal of `cidr` from `policy` as an API or peer request
   * does: not found when absent; a set entry refused or removed per `sets`.
   * The operator has the last word: the claims on a removed drop entry go with it.
   */
  remove(policy: Policy, cidr: Cidr, sets: SetEntryRule): AppError | undefined {
    const store = storeIndex(policy, cidr.family);
    const cur = this.entry(store, cidr.text, keyNumIn(store, cidr));
    if (cur === undefined) return notFoundError(cidr.text);
    if (sets === 'refuse' && isSetTag(cur.tag)) return setEntryError();
    this.delete(store, cidr, cur);
    const key = claimKey(store, cidr.text);
    if (this.claimsOf(key) !== undefined) this.setClaims(key, undefined);
    return undefined;
  }
}
