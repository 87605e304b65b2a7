/**
 * EntryStore: the EntryService implementation, owner of the entry state.
 *
 * Every mutation goes through one Batcher (one p-queue, concurrency 1). A
 * batch is planned against the userspace state (duplicates, missing
 * entries, set protection and map capacity are decided here, as in Couic),
 * then, under the kernel lock shared with the helper supervisor:
 *
 *   1. reused tag ids are reset (TAG_RESET), the map ops go to the helper
 *      in one BATCH (UPSERT / DEL);
 *   2. the confirmed ops are written to the journal in one frame + one
 *      fdatasync;
 *   3. the state is updated and every caller gets its own result.
 *
 * So a caller is answered only once its change is in the kernel AND durable.
 * If the helper dies mid-batch, the batch waits (bounded) for the restarted
 * and resynced helper and is sent again; past the bound it fails with
 * AppError('unavailable'). If the kernel refuses an op (rare: the capacity
 * is checked first), the ops planned after it are undone in the kernel and
 * their requests planned again in the next batch, so every answer matches
 * sequential execution.
 */
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { Helper, HelperStats, KernelEntry, MapOp, OpStatus } from '../xdp/types.js';
import { StoredCidr, keyToBytes } from './addr.js';
import { Batcher, type BatchRequest } from './batcher.js';
import { ExpiryHeap, ExpiryTimer } from './expiry.js';
import type { Journal, RecordEncoder, ReplaySink } from './journal.js';
import { RecordEncoder as Encoder } from './journal.js';
import { Mutex } from './mutex.js';
import type { HelperSupervisor } from './supervisor.js';
import { EntryTable, mapSlotOf, keyPrefixLen, storeFamily, storeIndex, storePolicy } from './table.js';
import { TagRegistry } from './tags.js';
import type { Actor, Cidr, CreateRequest, Entry, EntryService, Family, PeerJob, Policy } from './types.js';

export const SET_TAG_SUFFIX = '.couic';
export const SET_ENTRY_MESSAGE = 'Entry defined in a set cannot be removed';
const SYSTEM_ACTOR: Actor = { name: 'couic', group: 'admin' };

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/* ------------------------------------------------------------------ */
/* Errors (Couic's texts, spec §1.7)                                    */
/* ------------------------------------------------------------------ */

export function conflictError(text: string): AppError {
  return new AppError('conflict', 'submitted entry is not valid', {
    cidr: { code: 'conflict', message: `${text} already exists` },
  });
}

export function notFoundError(text: string): AppError {
  return new AppError('not_found', 'submitted entry not found', {
    cidr: { code: 'not_found', message: `cidr \`${text}\` not found` },
  });
}

export function mapFullError(capacity: number): AppError {
  return new AppError('conflict', `couic underlying ebpf map is full: max ${capacity} entries`);
}

export function setEntryError(): AppError {
  return new AppError('invalid', SET_ENTRY_MESSAGE, {}, { plainBody: SET_ENTRY_MESSAGE });
}

/* ------------------------------------------------------------------ */
/* Requests and planned ops                                             */
/* ------------------------------------------------------------------ */

interface ReqBase extends BatchRequest {
  readonly deadline: number;
  readonly actor: Actor;
  resolve(value: unknown): void;
}
interface CreateReq extends ReqBase {
  readonly kind: 'create';
  readonly policy: Policy;
  readonly entry: CreateRequest;
}
interface RemoveReq extends ReqBase {
  readonly kind: 'remove';
  readonly policy: Policy;
  readonly cidr: Cidr;
}
interface PeerReq extends ReqBase {
  readonly kind: 'peer';
  readonly policy: Policy;
  readonly jobs: readonly PeerJob[];
}
export interface DueEntry {
  readonly store: number;
  readonly key: string;
}
interface ExpireReq extends ReqBase {
  readonly kind: 'expire';
  readonly items: readonly DueEntry[];
}
export interface SetTarget {
  readonly cidr: Cidr;
  /** The set file name, e.g. "lan.couic". */
  readonly tag: string;
}
export interface SetsResult {
  readonly created: number;
  readonly updated: number;
  readonly removed: number;
}
interface SetsReq extends ReqBase {
  readonly kind: 'sets';
  readonly policy: Policy;
  readonly target: ReadonlyMap<string, SetTarget>;
}
type Req = CreateReq | RemoveReq | PeerReq | ExpireReq | SetsReq;

const OP_ADD = 1;
const OP_UPD = 2;
const OP_DEL = 3;

/** One planned map op. `prevTagId`: the tag of the entry an UPD/DEL replaces. */
interface POp {
  readonly kind: number;
  readonly store: number;
  readonly key: string;
  /** Kernel map slot (0..7). */
  readonly ks: number;
  /** Address bytes when the request carried them (else derived from the key). */
  readonly addr: Uint8Array | undefined;
  readonly tagId: number;
  readonly tag: string;
  readonly creation: number;
  readonly expiration: number;
  readonly prevTagId: number;
  /** Index of the owning request in the batch. */
  readonly req: number;
}

/** An entry as planning sees it (committed state or a planned op). */
interface Cur {
  readonly kind?: number;
  readonly tagId: number;
  readonly tag: string;
  readonly creation: number;
  readonly expiration: number;
}

interface ReqPlan {
  /** Error decided in userspace (the ops planned before it still apply). */
  error: AppError | undefined;
  /** sets: counters. */
  counts: { created: number; updated: number; removed: number } | undefined;
}

/** What planning a batch produced. */
class Plan {
  readonly ops: POp[] = [];
  readonly reqs: ReqPlan[] = [];
  /** Last planned op per key (a DEL op = absent). */
  readonly overlay: Map<string, POp>[] = [new Map(), new Map(), new Map(), new Map()];
  readonly mapDelta = new Int32Array(8);
}

/* ------------------------------------------------------------------ */
/* Options                                                              */
/* ------------------------------------------------------------------ */

export interface EntryStoreOptions {
  readonly supervisor: HelperSupervisor;
  readonly journal: Journal;
  readonly table: EntryTable;
  readonly tags: TagRegistry;
  readonly lock: Mutex;
  readonly logger: Logger;
  /** Coalesce mutations. @default true */
  readonly batching?: boolean;
  /** @default 262144 */
  readonly maxPending?: number;
  /** How long a mutation waits for a restarting helper. @default 5000 */
  readonly helperWaitMs?: number;
  /** Compact the journal after this many records. @default 1000000 */
  readonly compactAfter?: number;
}

/**
 * Loads the state the journal holds into `table`/`tags` (replay sink),
 * dropping entries already expired.
 */
export class ReplayLoader implements ReplaySink {
  readonly #table: EntryTable;
  readonly #tags: TagRegistry;
  constructor(table: EntryTable, tags: TagRegistry) {
    this.#table = table;
    this.#tags = tags;
  }

  put(store: number, key: string, tag: string, creation: number, expiration: number): void {
    const t = this.#table;
    const slot = t.slotOf(store, key);
    const tagId = this.#tags.acquire(tag);
    if (slot === undefined) {
      t.insert(store, key, mapSlotOf(store, keyPrefixLen(key), t.lpmOnly), tagId, creation, expiration);
    } else {
      this.#tags.release(t.tagId[slot]!);
      t.tagId[slot] = tagId;
      t.creation[slot] = creation;
      t.expiration[slot] = expiration;
    }
  }

  del(store: number, key: string): void {
    const t = this.#table;
    const slot = t.slotOf(store, key);
    if (slot === undefined) return;
    this.#tags.release(t.tagId[slot]!);
    t.delete(store, key);
  }

  /** Removes entries expired at `now` and fills the expiry heap. Returns the number removed. */
  finish(heap: ExpiryHeap, now: number): number {
    const t = this.#table;
    let removed = 0;
    for (let store = 0; store < 4; store += 1) {
      const doomed: string[] = [];
      for (const slot of t.slots(store)) {
        const exp = t.expiration[slot]!;
        if (exp === 0) continue;
        if (exp <= now) doomed.push(t.keyOf(slot)!);
        else heap.add(slot);
      }
      for (const key of doomed) this.del(store, key);
      removed += doomed.length;
    }
    this.#tags.takeResets();
    return removed;
  }
}

export class EntryStore implements EntryService {
  readonly #sup: HelperSupervisor;
  readonly #journal: Journal;
  readonly #table: EntryTable;
  readonly #tags: TagRegistry;
  readonly #lock: Mutex;
  readonly #log: Logger;
  readonly #batching: boolean;
  readonly #waitMs: number;
  readonly #compactAfter: number;
  readonly #heap: ExpiryHeap;
  readonly #timer: ExpiryTimer;
  readonly batcher: Batcher<Req>;
  #helperCalls = 0;
  #closed = false;

  constructor(opts: EntryStoreOptions, heap?: ExpiryHeap) {
    this.#sup = opts.supervisor;
    this.#journal = opts.journal;
    this.#table = opts.table;
    this.#tags = opts.tags;
    this.#lock = opts.lock;
    this.#log = opts.logger;
    this.#batching = opts.batching ?? true;
    this.#waitMs = opts.helperWaitMs ?? 5_000;
    this.#compactAfter = opts.compactAfter ?? 1_000_000;
    this.#heap = heap ?? new ExpiryHeap(this.#table);
    this.#timer = new ExpiryTimer({ heap: this.#heap, table: this.#table, onDue: (due) => this.#onDue(due) });
    this.batcher = new Batcher<Req>({
      maxPending: opts.maxPending ?? 262_144,
      batching: this.#batching,
      run: (batch) => this.#runBatch(batch),
    });
  }

  /** Starts the expiry timer (after the initial resync). */
  start(): void {
    this.#timer.rearm();
    // A long journal tail is compacted soon, but not while the daemon is still starting.
    if (this.#journal.recordsSinceSnapshot >= this.#compactAfter) setTimeout(() => this.#maybeCompact(), 2000).unref();
  }

  /** Helper round trips carrying map ops (BATCH requests). */
  get helperCalls(): number {
    return this.#helperCalls;
  }

  get table(): EntryTable {
    return this.#table;
  }

  get tags(): TagRegistry {
    return this.#tags;
  }

  get expiryHeap(): ExpiryHeap {
    return this.#heap;
  }

  /* ---------------- reads ---------------- */

  #entryAt(policy: Policy, family: Family, key: string, slot: number, cidr?: Cidr): Entry {
    const t = this.#table;
    return {
      policy,
      cidr: cidr ?? new StoredCidr(family, key),
      tag: this.#tags.tagOf(t.tagId[slot]!) ?? '',
      expiration: t.expiration[slot]!,
      creation: t.creation[slot]!,
    };
  }

  list(policy: Policy): Entry[] {
    const out: Entry[] = [];
    for (const family of [4, 6] as const) {
      for (const [key, slot] of this.#table.entries(storeIndex(policy, family))) {
        out.push(this.#entryAt(policy, family, key, slot));
      }
    }
    return out;
  }

  get(policy: Policy, cidr: Cidr): Entry | undefined {
    const slot = this.#table.slotOf(storeIndex(policy, cidr.family), cidr.text);
    return slot === undefined ? undefined : this.#entryAt(policy, cidr.family, cidr.text, slot, cidr);
  }

  count(policy: Policy): number {
    return this.#table.count(storeIndex(policy, 4)) + this.#table.count(storeIndex(policy, 6));
  }

  /** Tag string of a kernel tag id (per-tag stats), undefined when not in use. */
  tagName(tagId: number): string | undefined {
    return this.#tags.tagOf(tagId);
  }

  /** Kernel counters; AppError('unavailable') while the helper restarts past the bound. */
  async stats(): Promise<HelperStats> {
    const h = await this.#sup.waitReady(Date.now() + this.#waitMs);
    return h.stats();
  }

  /** The helper's capacity of each kernel map slot (MAP_SLOTS order). */
  capacities(): readonly number[] | undefined {
    return this.#sup.helper?.hello.capacity;
  }

  /* ---------------- mutations ---------------- */

  #submit<T>(make: (resolve: (v: unknown) => void, reject: (e: Error) => void, deadline: number) => Req, internal = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = make(resolve as (v: unknown) => void, reject, Date.now() + this.#waitMs);
      if (internal) this.batcher.submitInternal(req);
      else this.batcher.submit(req);
    });
  }

  create(policy: Policy, entry: CreateRequest, actor: Actor): Promise<Entry> {
    return this.#submit<Entry>((resolve, reject, deadline) => ({ kind: 'create', policy, entry, actor, weight: 1, deadline, resolve, reject }));
  }

  remove(policy: Policy, cidr: Cidr, actor: Actor): Promise<void> {
    return this.#submit<void>((resolve, reject, deadline) => ({ kind: 'remove', policy, cidr, actor, weight: 1, deadline, resolve, reject }));
  }

  async applyPeer(policy: Policy, jobs: readonly PeerJob[], actor: Actor): Promise<void> {
    if (jobs.length === 0) return;
    await this.#submit<void>((resolve, reject, deadline) => ({ kind: 'peer', policy, jobs, actor, weight: jobs.length, deadline, resolve, reject }));
  }

  /**
   * Set reload for one policy (spec §3, steps 2-3): `target` maps the
   * normalized CIDR text to its set entry. Applied in one batch of its own.
   */
  applySets(policy: Policy, target: ReadonlyMap<string, SetTarget>, actor: Actor = SYSTEM_ACTOR): Promise<SetsResult> {
    const weight = target.size + this.count(policy);
    return this.#submit<SetsResult>((resolve, reject, deadline) => ({
      kind: 'sets', policy, target, actor, weight, solo: true, deadline, resolve, reject,
    }));
  }

  /* ---------------- expiry ---------------- */

  #onDue(due: { store: number; key: string }[]): void {
    if (this.#closed) return;
    const items = due.map((d) => ({ store: d.store, key: d.key }));
    this.#submit<void>(
      (resolve, reject, deadline) => ({ kind: 'expire', items, actor: SYSTEM_ACTOR, weight: items.length, deadline, resolve, reject }),
      true,
    ).catch((err: unknown) => {
      // Put the survivors back and retry.
      let back = 0;
      for (const d of items) {
        const slot = this.#table.slotOf(d.store, d.key);
        if (slot !== undefined && this.#table.expiration[slot]! !== 0 && !this.#heap.has(slot)) {
          this.#heap.add(slot);
          back += 1;
        }
      }
      if (!this.#closed) {
        this.#log.warn({ err, entries: back }, 'expiry: removal failed, retrying in 1 s');
        this.#timer.retryIn(1000);
      }
    });
  }

  /* ---------------- planning ---------------- */

  #cur(plan: Plan, store: number, key: string): Cur | undefined {
    const o = plan.overlay[store]!.get(key);
    if (o !== undefined) return o.kind === OP_DEL ? undefined : o;
    const t = this.#table;
    const slot = t.slotOf(store, key);
    if (slot === undefined) return undefined;
    const tagId = t.tagId[slot]!;
    return { tagId, tag: this.#tags.tagOf(tagId) ?? '', creation: t.creation[slot]!, expiration: t.expiration[slot]! };
  }

  /** Capacity check for adding `key`; returns the error or undefined. */
  #checkCapacity(plan: Plan, ks: number): AppError | undefined {
    const caps = this.#sup.helper?.hello.capacity;
    if (caps === undefined) return undefined; // checked again by the kernel
    const cap = caps[ks] ?? Infinity;
    if (this.#table.mapCounts[ks]! + plan.mapDelta[ks]! >= cap) return mapFullError(cap);
    return undefined;
  }

  #planAdd(plan: Plan, r: number, store: number, cidr: Cidr | string, tag: string, creation: number, expiration: number): AppError | undefined {
    const key = typeof cidr === 'string' ? cidr : cidr.text;
    const ov = plan.overlay[store]!;
    const o = ov.get(key);
    if (o !== undefined ? o.kind !== OP_DEL : this.#table.slotOf(store, key) !== undefined) return conflictError(key);
    const prefixLen = typeof cidr === 'string' ? keyPrefixLen(key) : cidr.prefixLen;
    const ks = mapSlotOf(store, prefixLen, this.#table.lpmOnly);
    const full = this.#checkCapacity(plan, ks);
    if (full !== undefined) return full;
    const tagId = this.#tags.acquire(tag);
    const op: POp = {
      kind: OP_ADD, store, key, ks, addr: typeof cidr === 'string' ? undefined : cidr.addr,
      tagId, tag, creation, expiration, prevTagId: 0, req: r,
    };
    plan.ops.push(op);
    ov.set(key, op);
    plan.mapDelta[ks]! += 1;
    return undefined;
  }

  #planDel(plan: Plan, r: number, store: number, key: string, cur: Cur, addr?: Uint8Array): void {
    const ks = mapSlotOf(store, keyPrefixLen(key), this.#table.lpmOnly);
    const op: POp = {
      kind: OP_DEL, store, key, ks, addr, tagId: cur.tagId, tag: cur.tag, creation: 0, expiration: 0, prevTagId: cur.tagId, req: r,
    };
    plan.ops.push(op);
    plan.overlay[store]!.set(key, op);
    plan.mapDelta[ks]! -= 1;
  }

  #planUpd(plan: Plan, r: number, store: number, cidr: Cidr, cur: Cur, tag: string, creation: number, expiration: number): void {
    const tagId = this.#tags.acquire(tag);
    const key = cidr.text;
    const op: POp = {
      kind: OP_UPD, store, key, ks: mapSlotOf(store, cidr.prefixLen, this.#table.lpmOnly), addr: cidr.addr,
      tagId, tag, creation, expiration, prevTagId: cur.tagId, req: r,
    };
    plan.ops.push(op);
    plan.overlay[store]!.set(key, op);
  }

  #planRemove(plan: Plan, r: number, policy: Policy, cidr: Cidr, allowSet: boolean): AppError | undefined {
    const store = storeIndex(policy, cidr.family);
    const cur = this.#cur(plan, store, cidr.text);
    if (cur === undefined) return notFoundError(cidr.text);
    if (!allowSet && cur.tag.endsWith(SET_TAG_SUFFIX)) return setEntryError();
    this.#planDel(plan, r, store, cidr.text, cur, cidr.addr);
    return undefined;
  }

  #planRequest(plan: Plan, r: number, req: Req, now: number): ReqPlan {
    const rp: ReqPlan = { error: undefined, counts: undefined };
    switch (req.kind) {
      case 'create': {
        const e = req.entry;
        rp.error = this.#planAdd(plan, r, storeIndex(req.policy, e.cidr.family), e.cidr, e.tag, now, e.expiration);
        break;
      }
      case 'remove':
        rp.error = this.#planRemove(plan, r, req.policy, req.cidr, false);
        break;
      case 'peer':
        for (const job of req.jobs) {
          const e = job.entry;
          rp.error = job.action === 'add'
            ? this.#planAdd(plan, r, storeIndex(req.policy, e.cidr.family), e.cidr, e.tag, now, e.expiration)
            : this.#planRemove(plan, r, req.policy, e.cidr, true);
          if (rp.error !== undefined) break;
        }
        break;
      case 'expire':
        for (const d of req.items) {
          const cur = this.#cur(plan, d.store, d.key);
          if (cur !== undefined && cur.expiration !== 0 && cur.expiration <= now) this.#planDel(plan, r, d.store, d.key, cur);
        }
        break;
      case 'sets': {
        const counts = { created: 0, updated: 0, removed: 0 };
        rp.counts = counts;
        for (const [key, t] of req.target) {
          const store = storeIndex(req.policy, t.cidr.family);
          const cur = this.#cur(plan, store, key);
          if (cur === undefined) {
            rp.error = this.#planAdd(plan, r, store, t.cidr, t.tag, now, 0);
            if (rp.error !== undefined) break;
            counts.created += 1;
          } else if (cur.tag.endsWith(SET_TAG_SUFFIX)) {
            if (cur.tag !== t.tag || cur.expiration !== 0) {
              this.#planUpd(plan, r, store, t.cidr, cur, t.tag, now, 0);
              counts.updated += 1;
            }
          } else {
            this.#planUpd(plan, r, store, t.cidr, cur, t.tag, now, 0);
            counts.created += 1;
          }
        }
        if (rp.error !== undefined) break;
        for (const family of [4, 6] as const) {
          const store = storeIndex(req.policy, family);
          const t = this.#table;
          for (const [key, slot] of t.entries(store)) {
            if (req.target.has(key)) continue;
            const tag = this.#tags.tagOf(t.tagId[slot]!) ?? '';
            if (!tag.endsWith(SET_TAG_SUFFIX)) continue;
            const cur = this.#cur(plan, store, key);
            if (cur === undefined) continue;
            this.#planDel(plan, r, store, key, cur);
            counts.removed += 1;
          }
        }
        break;
      }
    }
    return rp;
  }

  /* ---------------- execution ---------------- */

  #kernelOp(kind: number, store: number, key: string, tagId: number, known?: Uint8Array): MapOp {
    const family = storeFamily(store);
    let addr = known;
    let prefixLen: number;
    if (addr === undefined) {
      addr = new Uint8Array(family === 4 ? 4 : 16);
      prefixLen = keyToBytes(key, family, addr);
    } else {
      prefixLen = keyPrefixLen(key);
    }
    return {
      kind: kind === OP_DEL ? 'delete' : 'upsert',
      policy: storePolicy(store),
      family,
      prefixLen,
      addr,
      tagId,
    };
  }

  async #send(h: Helper, ops: readonly MapOp[]): Promise<OpStatus[]> {
    if (ops.length === 0) return [];
    if (this.#batching) {
      this.#helperCalls += 1;
      return h.applyBatch(ops);
    }
    const out: OpStatus[] = [];
    for (const op of ops) {
      this.#helperCalls += 1;
      const [s] = await h.applyBatch([op]);
      out.push(s ?? 'error');
    }
    return out;
  }

  async #runBatch(batch: Req[]): Promise<Req[]> {
    const now = nowSeconds();
    const plan = new Plan();
    for (let r = 0; r < batch.length; r += 1) plan.reqs.push(this.#planRequest(plan, r, batch[r]!, now));
    const resets = this.#tags.takeResets();
    let deadline = Infinity;
    for (const req of batch) deadline = Math.min(deadline, req.deadline);

    if (plan.ops.length === 0) {
      // Nothing for the kernel or the journal: answer at once.
      this.#finish(batch, plan, plan.reqs.length, now);
      return [];
    }
    const kops = plan.ops.map((o) => this.#kernelOp(o.kind, o.store, o.key, o.tagId, o.addr));

    for (;;) {
      let h: Helper;
      try {
        h = await this.#sup.waitReady(deadline);
      } catch (err) {
        this.#abort(batch, plan, err instanceof AppError ? err : new AppError('unavailable'));
        return [];
      }
      const out = await this.#lock.run(() => this.#applyLocked(h, batch, plan, kops, resets, now));
      if (out !== 'retry') return out;
    }
  }

  /** Releases the tentative tag references of ops [from..] (never committed). */
  #releaseFrom(plan: Plan, from: number): void {
    for (let i = from; i < plan.ops.length; i += 1) {
      const op = plan.ops[i]!;
      if (op.kind !== OP_DEL) this.#tags.release(op.tagId);
    }
  }

  #abort(batch: Req[], plan: Plan, err: Error): void {
    this.#releaseFrom(plan, 0);
    for (const req of batch) req.reject(err);
    this.#log.warn({ requests: batch.length, ops: plan.ops.length, err: err.message }, 'batch failed');
  }

  async #applyLocked(h: Helper, batch: Req[], plan: Plan, kops: MapOp[], resets: number[], now: number): Promise<Req[] | 'retry'> {
    if (this.#sup.helper !== h) return 'retry';
    let statuses: OpStatus[];
    try {
      const maxTags = h.hello.maxTags;
      const toReset = resets.filter((id) => id > 0 && id < maxTags);
      if (toReset.length > 0) await h.resetTags(toReset);
      statuses = await this.#send(h, kops);
    } catch (err) {
      // Gone or wedged: either way it is not ready any more (no hot retry loop).
      this.#sup.fail(h, err);
      this.#log.warn({ err: (err as Error).message, ops: kops.length }, 'helper failed during a batch, waiting for its restart');
      return 'retry';
    }

    const ops = plan.ops;
    let k = -1;
    for (let i = 0; i < ops.length; i += 1) {
      const s = statuses[i];
      if (s === 'ok' || (s === 'absent' && ops[i]!.kind === OP_DEL)) continue;
      k = i;
      break;
    }

    let committedOps = ops.length;
    let committedReqs = batch.length;
    let again: Req[] = [];
    if (k >= 0) {
      // The kernel refused op k. Undo ops after it, fail its request, plan
      // the later requests again.
      const owner = ops[k]!.req;
      const status = statuses[k] ?? 'error';
      await this.#restoreKernel(h, ops, k);
      this.#releaseFrom(plan, k);
      committedOps = k;
      committedReqs = owner + 1;
      const op = ops[k]!;
      const ks = mapSlotOf(op.store, keyPrefixLen(op.key), this.#table.lpmOnly);
      const err = status === 'full'
        ? mapFullError(h.hello.capacity[ks] ?? 0)
        : new AppError('internal', `kernel map update failed (${status}) for ${op.key}`);
      plan.reqs[owner]!.error = err;
      again = batch.slice(owner + 1);
      this.#log.error({ cidr: op.key, status, requeued: again.length }, 'kernel refused a map update');
    }

    // Journal the committed ops: one frame, one write, one fdatasync.
    if (committedOps > 0) {
      const enc = new Encoder(64 + committedOps * 48);
      for (let i = 0; i < committedOps; i += 1) {
        const op = ops[i]!;
        if (op.kind === OP_DEL) enc.del(op.store, op.key);
        else enc.put(op.store, op.key, op.tag, op.creation, op.expiration);
      }
      try {
        await this.#journal.append(enc.finish(), enc.records);
      } catch (err) {
        this.#log.error({ err }, 'journal write failed, undoing the batch in the kernel');
        await this.#restoreKernel(h, ops, 0);
        this.#releaseFrom(plan, 0);
        const e = new AppError('internal', 'couic could not write its journal', {}, { cause: err });
        for (const req of batch) req.reject(e);
        return [];
      }
    }

    this.#commit(ops, committedOps);
    this.#finish(batch, plan, committedReqs, now);
    this.#maybeCompact();
    return again;
  }

  /**
   * Puts every key touched by ops[from..] back to what the state will hold
   * once ops[0, from) are committed (those ops are kept). Any doubt (the
   * helper fails or refuses) ends in a full resync by the supervisor.
   */
  async #restoreKernel(h: Helper, ops: readonly POp[], from: number): Promise<void> {
    const prefix = new Map<string, POp>();
    for (let i = 0; i < from; i += 1) prefix.set(`${ops[i]!.store}|${ops[i]!.key}`, ops[i]!);
    const seen = new Set<string>();
    const fix: MapOp[] = [];
    for (let i = from; i < ops.length; i += 1) {
      const op = ops[i]!;
      const id = `${op.store}|${op.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const p = prefix.get(id);
      let tagId: number | undefined;
      if (p !== undefined) {
        tagId = p.kind === OP_DEL ? undefined : p.tagId;
      } else {
        const slot = this.#table.slotOf(op.store, op.key);
        tagId = slot === undefined ? undefined : this.#table.tagId[slot]!;
      }
      fix.push(tagId === undefined ? this.#kernelOp(OP_DEL, op.store, op.key, 0) : this.#kernelOp(OP_ADD, op.store, op.key, tagId));
    }
    try {
      const st = await this.#send(h, fix);
      if (st.some((x) => x !== 'ok' && x !== 'absent')) throw new Error(`restore statuses: ${st.join(',')}`);
    } catch (err) {
      this.#sup.fail(h, err);
    }
  }

  /** Applies ops [0, n) to the state. */
  #commit(ops: readonly POp[], n: number): void {
    const t = this.#table;
    const heap = this.#heap;
    for (let i = 0; i < n; i += 1) {
      const op = ops[i]!;
      if (op.kind === OP_DEL) {
        const slot = t.slotOf(op.store, op.key);
        if (slot === undefined) continue;
        heap.remove(slot);
        t.delete(op.store, op.key);
        this.#tags.release(op.prevTagId);
      } else if (op.kind === OP_ADD) {
        // Planned against the state + earlier ops: the key is absent here.
        const slot = t.insert(op.store, op.key, op.ks, op.tagId, op.creation, op.expiration);
        if (op.expiration !== 0) heap.add(slot);
      } else {
        this.#tags.release(op.prevTagId);
        const slot = t.put(op.store, op.key, op.tagId, op.creation, op.expiration);
        if (op.expiration !== 0) heap.add(slot);
        else heap.remove(slot);
      }
    }
    this.#timer.rearm();
  }

  /** Answers requests [0, n) of the batch. */
  #finish(batch: Req[], plan: Plan, n: number, now: number): void {
    for (let r = 0; r < n; r += 1) {
      const req = batch[r]!;
      const rp = plan.reqs[r]!;
      const a = req.actor;
      if (rp.error !== undefined) {
        if (req.kind === 'peer') {
          this.#log.info({ client: a.name, group: a.group, policy: req.policy, jobs: req.jobs.length, err: rp.error.message }, 'peer jobs stopped at a failing job');
        }
        req.reject(rp.error);
        continue;
      }
      switch (req.kind) {
        case 'create': {
          const e = req.entry;
          this.#log.info({ client: a.name, group: a.group, policy: req.policy, cidr: e.cidr.text, tag: e.tag, expiration: e.expiration }, 'entry created');
          req.resolve({ policy: req.policy, cidr: e.cidr, tag: e.tag, expiration: e.expiration, creation: now } satisfies Entry);
          break;
        }
        case 'remove':
          this.#log.info({ client: a.name, group: a.group, policy: req.policy, cidr: req.cidr.text }, 'entry removed');
          req.resolve(undefined);
          break;
        case 'peer':
          this.#log.info({ client: a.name, group: a.group, policy: req.policy, jobs: req.jobs.length }, 'peer jobs applied');
          req.resolve(undefined);
          break;
        case 'expire':
          this.#log.debug({ entries: req.items.length }, 'entries expired');
          req.resolve(undefined);
          break;
        case 'sets':
          this.#log.info({ client: a.name, group: a.group, policy: req.policy, ...rp.counts }, `sets reload: policy=${req.policy}, updated=${rp.counts?.updated ?? 0}, removed=${rp.counts?.removed ?? 0}, created=${rp.counts?.created ?? 0}`);
          req.resolve(rp.counts);
          break;
      }
    }
  }

  /* ---------------- kernel sync, compaction ---------------- */

  /** Every entry as the kernel should hold it (addresses derived from the keys). */
  *kernelEntries(): IterableIterator<KernelEntry> {
    const t = this.#table;
    for (let store = 0; store < 4; store += 1) {
      const family = storeFamily(store);
      const policy = storePolicy(store);
      for (const slot of t.slots(store)) {
        const addr = new Uint8Array(family === 4 ? 4 : 16);
        const prefixLen = t.addrOf(slot, addr);
        yield { policy, family, prefixLen, addr, tagId: t.tagId[slot]! };
      }
    }
  }

  /**
   * Makes `h` hold exactly the state (REPLACE). Called by the supervisor
   * with the kernel lock held. On a fresh start over re-used pinned maps
   * the per-tag counters are zeroed first (tag ids are not persistent).
   */
  async resync(h: Helper, reason: 'start' | 'restart'): Promise<void> {
    const t0 = performance.now();
    if (reason === 'start' && h.hello.features.reused) {
      const ids: number[] = [];
      for (let id = 1; id < h.hello.maxTags; id += 1) ids.push(id);
      await h.resetTags(ids);
    }
    const { statuses, removed } = await h.replaceAll(this.kernelEntries());
    let failed = 0;
    const byStatus: Record<string, number> = {};
    for (const s of statuses) {
      if (s !== 'ok') {
        failed += 1;
        byStatus[s] = (byStatus[s] ?? 0) + 1;
      }
    }
    const ms = Math.round(performance.now() - t0);
    if (failed > 0) this.#log.error({ failed, byStatus, reason }, 'resync: the kernel refused some entries');
    this.#log.info({ entries: statuses.length, removed, reason, ms, pid: h.pid }, 'kernel maps resynced from state');
  }

  #maybeCompact(): void {
    if (this.#closed || this.#journal.compacting || this.#journal.recordsSinceSnapshot < this.#compactAfter) return;
    void this.compact().catch((err: unknown) => this.#log.error({ err }, 'journal compaction failed'));
  }

  /** Writes a snapshot of the state and drops the older journal (runs on the queue). */
  async compact(): Promise<void> {
    const { done } = await this.batcher.exclusive(() => this.#journal.compact((enc) => this.#serialize(enc)));
    await done;
  }

  #serialize(enc: RecordEncoder): number {
    const t = this.#table;
    let n = 0;
    for (let store = 0; store < 4; store += 1) {
      for (const [key, slot] of t.entries(store)) {
        enc.put(store, key, this.#tags.tagOf(t.tagId[slot]!) ?? '', t.creation[slot]!, t.expiration[slot]!);
        n += 1;
      }
    }
    return n;
  }

  /** Stops expiry, refuses new mutations and waits for the queued ones. */
  async drain(): Promise<void> {
    this.#closed = true;
    this.#timer.stop();
    await this.batcher.drain();
  }
}
