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
 *
 * While a batch waits for the kernel and the disk, the API requests that
 * arrive (creates, removes, peer bodies) are planned at once on top of it,
 * as if it were committed (#planAhead); a plan of EARLY_SEND_MIN ops or
 * more goes to the helper straight away, queued behind it (#sendEarly). It
 * is journaled, committed and answered only in its own turn, and only if
 * the batch under it committed whole; otherwise what it sent is undone in
 * the kernel and its requests are planned again.
 */
import type { Logger } from 'pino';
import { conflictError, mapFullError, notFoundError, setEntryError } from '../domain/entry-errors.js';
import { isSetTag } from '../domain/rules.js';
import type { Actor, Cidr, CreateRequest, Entry, Family, PeerJob, Policy } from '../domain/types.js';
import { AppError } from '../errors.js';
import { cidrKeyNum, keyPrefixLen, keyToBytes, StoredCidr } from '../net/keys.js';
import { v4KeyAddr, v4KeyNum } from '../net/v4-key.js';
import type { OpStatus } from '../xdp/abi.js';
import type { Helper } from '../xdp/helper.js';
import { BatchRecords } from '../xdp/protocol.js';
import type { HelperStats, KernelEntry, MapOp, OpKind } from '../xdp/types.js';
import { Batcher, type BatchRequest } from './batcher.js';
import {
  claimIndex,
  claimStore,
  ClaimTable,
  deriveEntry,
  pruneClaims,
  removeClaim,
  sameClaims,
  sameState,
  upsertClaim,
  type Claim,
  type ClaimState,
} from './claims.js';
import { CoreEvents, type EntryEvent } from './events.js';
import { ExpiryHeap, ExpiryTimer } from './expiry.js';
import { RecordEncoder as Encoder, type Journal, type RecordEncoder, type ReplaySink } from './journal.js';
import { Mutex } from './mutex.js';
import { NumberIndex } from './num-index.js';
import { OpList } from './op-list.js';
import type { HelperSupervisor } from './supervisor.js';
import { EntryTable, mapSlotOf, storeFamily, storeIndex, storePolicy } from './table.js';
import { TagRegistry } from './tags.js';
import type { EntryService } from './types.js';

const SYSTEM_ACTOR: Actor = { name: 'couic', group: 'admin' };

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Entries per BATCH when filling empty kernel maps (resync). */
const RESYNC_CHUNK = 65_536;
/** Ops per BATCH call when a batch is sent in chunks (see #sendPlan). */
const SEND_CHUNK = 8_192;
/** Batches of up to this many ops go in one BATCH call. */
const SEND_WHOLE_MAX = 32_768;
/**
 * A batch planned ahead goes to the helper as soon as it has this many ops
 * (a peer body, an array of bans), queued behind the batch in flight: the
 * kernel applies it while that batch is committed and answered. Smaller
 * ones keep gathering requests until their turn (one journal write each).
 */
const EARLY_SEND_MIN = 1_024;

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
/** What a set reload hands to EntryStore: normalized CIDR text -> set entry (a Map fits). */
export interface SetTargets extends Iterable<[string, SetTarget]> {
  readonly size: number;
  has(key: string): boolean;
  /** has() of an IPv4 key by its number (table.ts v4KeyNum), when the target can answer without the text. */
  hasKeyNum?(n: number): boolean;
}
export interface SetsResult {
  readonly created: number;
  readonly updated: number;
  readonly removed: number;
}
interface SetsReq extends ReqBase {
  readonly kind: 'sets';
  readonly policy: Policy;
  readonly target: SetTargets;
  /** Delta reload: the only set entries to consider for removal (else every set entry not in `target`). */
  readonly removals?: readonly SetTarget[];
}
/** One ban of a POST /v1/bans/{owner} (cidr normalized, drop policy). */
export interface BanItem {
  readonly cidr: Cidr;
  /** Unix seconds; 0 = permanent. */
  readonly expiration: number;
}
/** A claim of `owner` as GET /v1/bans/{owner} lists it. */
export interface BanClaim {
  readonly cidr: string;
  readonly expiration: number;
  readonly creation: number;
}
interface ClaimReq extends ReqBase {
  readonly kind: 'claim';
  readonly owner: string;
  readonly items: readonly BanItem[];
}
interface UnclaimReq extends ReqBase {
  readonly kind: 'unclaim';
  readonly owner: string;
  readonly cidr: Cidr;
}
interface FlushReq extends ReqBase {
  readonly kind: 'flush';
  readonly owner: string;
}
/** Drops expired claims of `keys` and brings their entries in line (claim expiry, startup). */
interface ClaimSyncReq extends ReqBase {
  readonly kind: 'claims-sync';
  readonly keys: readonly string[];
}
type Req = CreateReq | RemoveReq | PeerReq | ExpireReq | SetsReq | ClaimReq | UnclaimReq | FlushReq | ClaimSyncReq;

const OP_ADD = 1;
const OP_UPD = 2;
const OP_DEL = 3;

/** The kernel's kind for a planned op: adds and updates are both upserts. */
const kernelKind = (kind: number): OpKind => (kind === OP_DEL ? 'delete' : 'upsert');

/** Appends the record of an IPv4 op on key number `k4` (address and prefix length packed, see addr.ts). */
function putV4Key(rec: BatchRecords, kind: OpKind, policy: Policy, k4: number, tagId: number): void {
  rec.putV4(kind, policy, v4KeyAddr(k4), k4 % 64, tagId);
}

/** An entry as planning sees it (committed state or a planned op). */
interface Cur {
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
  /** claim: bans applied; flush: claims removed. */
  n: number;
  /** claims-sync: keys whose sync could not be planned (map full...), to retry. */
  retry?: string[];
}

/** Requests that may be planned ahead, on top of the batch in flight (see #planAhead). */
const AHEAD_KINDS: ReadonlySet<Req['kind']> = new Set(['create', 'remove', 'peer']);

/** A plan's ops sent to the helper ahead of their turn. */
interface EarlySend {
  readonly h: Helper;
  /** The kernel's statuses of the ops (after `resets`). */
  readonly statuses: Promise<OpStatus[]>;
  /** Tag ids reset before the ops. */
  readonly resets: readonly number[];
  /** The journal records of the ops, encoded meanwhile; written in the batch's turn. */
  readonly pre: RecordEncoder;
}

/** What planning a batch produced. */
class Plan {
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
  /** Sent to the helper before its turn (see EARLY_SEND_MIN). */
  early: EarlySend | undefined;
  /** Reused tag ids to reset in the kernel before the ops (again on a retry). */
  readonly resets: number[] = [];
  readonly ops = new OpList();
  readonly reqs: ReqPlan[] = [];
  /**
   * Index in `ops` of the last planned op per key (a DEL op = absent), by
   * key number in IPv4 stores (op.k4: no key text hashed, no heap number per
   * key as a Map would make), by key text in IPv6 ones. Made on first use.
   */
  readonly #v4: (NumberIndex | undefined)[] = [undefined, undefined];
  readonly #v6: (Map<string, number> | undefined)[] = [undefined, undefined];
  readonly mapDelta = new Int32Array(8);
  /** Planned claim states by key (null = unclaimed). */
  readonly claimOverlay = new Map<string, ClaimState | null>();
  /** Claim state changes in planning order; `opsBefore` = ops planned when it was made (its own included). */
  readonly claimChanges: { readonly req: number; readonly opsBefore: number; readonly key: string; readonly state: ClaimState | undefined }[] = [];

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
  /** The claims replayed with the journal (src/core/claims.ts). @default empty */
  readonly claims?: ClaimTable;
  /** Ends the process on an unrecoverable inconsistency (tests override it). @default process.exit */
  readonly exit?: (code: number) => never;
}

/**
 * Loads the state the journal holds into `table`/`tags` (replay sink),
 * dropping entries already expired.
 */
export class ReplayLoader implements ReplaySink {
  readonly #table: EntryTable;
  readonly #tags: TagRegistry;
  readonly #claims: ClaimTable | undefined;
  constructor(table: EntryTable, tags: TagRegistry, claims?: ClaimTable) {
    this.#table = table;
    this.#tags = tags;
    this.#claims = claims;
  }

  claims(_store: number, key: string, managed: boolean, claims: Claim[]): void {
    this.#claims?.set(key, { managed, claims }, false);
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
    this.#claims?.rebuildDue();
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
  /** Committed changes, for the event stream (src/core/events.ts). */
  readonly events = new CoreEvents();
  #helperCalls = 0;
  #setMutations = 0;
  #closed = false;
  readonly #claims: ClaimTable;
  readonly #exit: (code: number) => never;
  #claimTimer: NodeJS.Timeout | undefined;
  /** Expiration (s) the claim timer is armed for; Infinity when idle. */
  #claimArmedFor = Infinity;
  /** The plan of the batch being applied, until it is committed or given up. */
  #inflight: Plan | undefined;
  /** The next batch, planned on top of #inflight while it is applied. */
  #ahead: { readonly plan: Plan; readonly batch: Req[]; readonly now: number } | undefined;
  readonly #aheadStats = { planned: 0, sentEarly: 0, dropped: 0 };

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
    this.#claims = opts.claims ?? new ClaimTable();
    this.#exit = opts.exit ?? ((code: number): never => process.exit(code));
    this.batcher = new Batcher<Req>({
      maxPending: opts.maxPending ?? 262_144,
      batching: this.#batching,
      run: (batch) => this.#runBatch(batch),
      ahead: (req) => this.#planAhead(req),
    });
  }

  /** Starts the expiry timer (after the initial resync). */
  start(): void {
    this.#timer.rearm();
    this.#startClaims();
    // A long journal tail is compacted soon, but not while the daemon is still starting.
    if (this.#journal.recordsSinceSnapshot >= this.#compactAfter) setTimeout(() => this.#maybeCompact(), 2000).unref();
  }

  /**
   * Batches run on a plan made ahead, sent to the helper before their turn,
   * and plans made ahead then given up (their base did not commit whole).
   */
  get aheadStats(): Readonly<{ planned: number; sentEarly: number; dropped: number }> {
    return { ...this.#aheadStats };
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
  applySets(policy: Policy, target: SetTargets, actor: Actor = SYSTEM_ACTOR): Promise<SetsResult> {
    // A reload is never refused as busy, and (weight 1, solo) it does not
    // make the API requests queued behind it busy either: they just wait.
    return this.#submit<SetsResult>((resolve, reject, deadline) => ({
      kind: 'sets', policy, target, actor, weight: 1, solo: true, deadline, resolve, reject,
    }), true);
  }

  /**
   * Delta set reload for one policy: `upserts` as in applySets, but only
   * the set entries listed in `removals` are removed (when they still are
   * set entries). The caller must know the state (see setMutations).
   */
  applySetsDelta(policy: Policy, upserts: SetTargets, removals: readonly SetTarget[], actor: Actor = SYSTEM_ACTOR): Promise<SetsResult> {
    return this.#submit<SetsResult>((resolve, reject, deadline) => ({
      kind: 'sets', policy, target: upserts, removals, actor, weight: 1, solo: true, deadline, resolve, reject,
    }), true);
  }

  /** Count of committed changes to set entries made by anything but a set reload (e.g. a peer remove). */
  get setMutations(): number {
    return this.#setMutations;
  }

  /* ---------------- claims (/v1/bans/{owner}) ---------------- */

  /** The committed claims. */
  get claims(): ClaimTable {
    return this.#claims;
  }

  /**
   * Upserts `owner`'s claims on `items` (drop CIDRs), replacing the
   * expiration of the ones it already holds. Resolves with the number of
   * items applied once they are in the kernel and the journal.
   */
  ban(owner: string, items: readonly BanItem[], actor: Actor): Promise<number> {
    if (items.length === 0) return Promise.resolve(0);
    return this.#submit<number>((resolve, reject, deadline) => ({ kind: 'claim', owner, items, actor, weight: items.length, deadline, resolve, reject }));
  }

  /** Releases `owner`'s claim on `cidr` (a no-op when it holds none). */
  unban(owner: string, cidr: Cidr, actor: Actor): Promise<void> {
    return this.#submit<void>((resolve, reject, deadline) => ({ kind: 'unclaim', owner, cidr, actor, weight: 1, deadline, resolve, reject }));
  }

  /** Releases every claim of `owner`; resolves with their number. */
  flushBans(owner: string, actor: Actor): Promise<number> {
    const weight = Math.max(1, this.#claims.countOf(owner));
    return this.#submit<number>((resolve, reject, deadline) => ({ kind: 'flush', owner, actor, weight, deadline, resolve, reject }));
  }

  /** `owner`'s live claims, in the order it made them. */
  bansOf(owner: string): BanClaim[] {
    const now = nowSeconds();
    const out: BanClaim[] = [];
    for (const { key, claim } of this.#claims.claimsOf(owner)) {
      if (claim.expiration !== 0 && claim.expiration <= now) continue;
      out.push({ cidr: key, expiration: claim.expiration, creation: claim.creation });
    }
    return out;
  }

  /** After replay: syncs the claimed CIDRs whose entry disagrees with their claims, arms the claim timer. */
  #startClaims(): void {
    const now = nowSeconds();
    const keys: string[] = [];
    const t = this.#table;
    for (const [key, st] of this.#claims.entries()) {
      const slot = t.slotOf(claimStore(key), key);
      let ok = slot !== undefined && pruneClaims(st.claims, now) === st.claims;
      if (ok && st.managed) {
        const d = deriveEntry(st.claims);
        ok = (this.#tags.tagOf(t.tagId[slot!]!) ?? '') === d.tag && t.expiration[slot!] === d.expiration;
      }
      if (!ok) keys.push(key);
    }
    if (keys.length > 0) {
      this.#log.info({ cidrs: keys.length }, 'claims: bringing claimed entries in line after replay');
      this.#submitClaimSync(keys);
    }
    this.#rearmClaims();
  }

  #submitClaimSync(keys: readonly string[]): void {
    if (this.#closed) return;
    this.#submit<void>(
      (resolve, reject, deadline) => ({ kind: 'claims-sync', keys, actor: SYSTEM_ACTOR, weight: keys.length, deadline, resolve, reject }),
      true,
    ).catch((err: unknown) => {
      if (this.#closed) return;
      this.#log.warn({ err, cidrs: keys.length }, 'claims: expiry failed, retrying in 1 s');
      this.#claims.requeue(keys, 0);
      this.#armClaimsAt(Date.now() + 1000);
    });
  }

  #rearmClaims(): void {
    if (this.#closed) return;
    const exp = this.#claims.nextDue();
    if (exp === Infinity || exp >= this.#claimArmedFor) return;
    this.#armClaimsAt(exp * 1000);
  }

  #armClaimsAt(ms: number): void {
    if (this.#claimTimer !== undefined) clearTimeout(this.#claimTimer);
    this.#claimArmedFor = Math.floor(ms / 1000);
    const delay = Math.max(0, Math.min(0x7fffffff, ms - Date.now()));
    this.#claimTimer = setTimeout(() => {
      this.#claimTimer = undefined;
      this.#claimArmedFor = Infinity;
      if (this.#closed) return;
      const keys = this.#claims.popDue(nowSeconds());
      if (keys.length > 0) this.#submitClaimSync(keys);
      this.#rearmClaims();
    }, delay);
    this.#claimTimer.unref();
  }

  #claimCur(plan: Plan, key: string): ClaimState | undefined {
    for (let p: Plan | undefined = plan; p !== undefined; p = p.base) {
      const o = p.claimOverlay.get(key);
      if (o !== undefined) return o ?? undefined;
    }
    return this.#claims.get(key);
  }

  #claimSet(plan: Plan, r: number, key: string, state: ClaimState | undefined): void {
    plan.claimOverlay.set(key, state ?? null);
    plan.claimChanges.push({ req: r, opsBefore: plan.ops.length, key, state });
  }

  /**
   * Records `claims` (already pruned) as the claims on `key` and plans the
   * entry they call for: added (managed) when absent, retagged/re-expired
   * when managed, removed with the last claim when managed, untouched when
   * not managed. `adopt`: the entry is taken over (made managed) whatever
   * it was. Returns the error of a refused add (map full).
   */
  #planClaims(plan: Plan, r: number, key: string, prev: ClaimState | undefined, claims: readonly Claim[], now: number, adopt: boolean, cidr?: Cidr): AppError | undefined {
    const store = claimStore(key);
    const cur = this.#cur(plan, store, key);
    let managed = adopt || (prev?.managed ?? false);
    if (claims.length === 0) {
      if (cur !== undefined && managed) this.#planDel(plan, r, store, key, cur, cidr?.addr);
    } else if (cur === undefined) {
      const d = deriveEntry(claims);
      const err = this.#planAdd(plan, r, store, cidr ?? key, d.tag, now, d.expiration);
      if (err !== undefined) return err;
      managed = true;
    } else if (managed) {
      const d = deriveEntry(claims);
      if (cur.tag !== d.tag || cur.expiration !== d.expiration || (adopt && prev?.managed !== true)) {
        this.#planUpd(plan, r, store, cidr ?? new StoredCidr(storeFamily(store), key), cur, d.tag, adopt && prev?.managed !== true ? now : cur.creation, d.expiration);
      }
    }
    const next: ClaimState | undefined = claims.length === 0 ? undefined : { managed, claims };
    if (!sameState(prev, next)) this.#claimSet(plan, r, key, next);
    return undefined;
  }

  /**
   * A drop entry with claims is going away by expiry or set reload: the
   * live claims take it over (or it goes, with the claims, when none is
   * live). Returns false when `key` has no claims (plain removal).
   */
  #adoptByClaims(plan: Plan, r: number, store: number, key: string, now: number): boolean {
    if (store >= 2) return false;
    const prev = this.#claimCur(plan, key);
    if (prev === undefined) return false;
    this.#planClaims(plan, r, key, prev, pruneClaims(prev.claims, now), now, true);
    return true;
  }

  /** A set entry now holds `key`: its claims stay recorded but no longer manage the entry. */
  #unmanageClaims(plan: Plan, r: number, store: number, key: string): void {
    if (store >= 2) return;
    const prev = this.#claimCur(plan, key);
    if (prev !== undefined && prev.managed) this.#claimSet(plan, r, key, { managed: false, claims: prev.claims });
  }

  #planClaimReq(plan: Plan, r: number, req: ClaimReq | UnclaimReq | FlushReq | ClaimSyncReq, rp: ReqPlan, now: number): void {
    switch (req.kind) {
      case 'claim':
        for (const it of req.items) {
          const key = it.cidr.text;
          const prev = this.#claimCur(plan, key);
          const base = prev === undefined ? [] : pruneClaims(prev.claims, now);
          const claims = upsertClaim(base, req.owner, it.expiration, now);
          if (prev === undefined || !sameClaims(prev.claims, claims) || this.#cur(plan, claimStore(key), key) === undefined) {
            rp.error = this.#planClaims(plan, r, key, prev, claims, now, false, it.cidr);
            if (rp.error !== undefined) break;
          }
          rp.n += 1;
        }
        break;
      case 'unclaim': {
        const key = req.cidr.text;
        const prev = this.#claimCur(plan, key);
        if (prev === undefined || claimIndex(prev.claims, req.owner) < 0) break;
        rp.error = this.#planClaims(plan, r, key, prev, pruneClaims(removeClaim(prev.claims, req.owner), now), now, false, req.cidr);
        break;
      }
      case 'flush': {
        const keys = new Set(this.#claims.keysOf(req.owner));
        for (const [k, st] of plan.claimOverlay) if (st !== null && claimIndex(st.claims, req.owner) >= 0) keys.add(k);
        for (const key of keys) {
          const prev = this.#claimCur(plan, key);
          if (prev === undefined || claimIndex(prev.claims, req.owner) < 0) continue;
          // An error (re-adding a missing entry for the other owners, map full) keeps this claim for a later flush.
          if (this.#planClaims(plan, r, key, prev, pruneClaims(removeClaim(prev.claims, req.owner), now), now, false) === undefined) rp.n += 1;
        }
        break;
      }
      case 'claims-sync':
        for (const key of req.keys) {
          const prev = this.#claimCur(plan, key);
          if (prev === undefined) continue;
          // Errors (an add refused, map full) leave the claims for the next
          // sync: the key left the due heap when popped, so requeue it.
          if (this.#planClaims(plan, r, key, prev, pruneClaims(prev.claims, now), now, false) !== undefined) (rp.retry ??= []).push(key);
        }
        break;
    }
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

  /** `k4` = #keyNum(store, key). */
  #cur(plan: Plan, store: number, key: string, k4 = this.#keyNum(store, key)): Cur | undefined {
    for (let p: Plan | undefined = plan; p !== undefined; p = p.base) {
      const o = p.opOf(store, key, k4);
      if (o === undefined) continue;
      const c = p.ops.cols;
      if (c.kind[o] === OP_DEL) return undefined;
      return { tagId: c.tagId[o]!, tag: p.ops.tagAt(o), creation: c.creation[o]!, expiration: c.expiration[o]! };
    }
    const t = this.#table;
    const slot = this.#slotOf(store, key, k4);
    if (slot === undefined) return undefined;
    const tagId = t.tagId[slot]!;
    return { tagId, tag: this.#tags.tagOf(tagId) ?? '', creation: t.creation[slot]!, expiration: t.expiration[slot]! };
  }

  /** Capacity check for adding `key`; returns the error or undefined. */
  #checkCapacity(plan: Plan, ks: number): AppError | undefined {
    const caps = this.#sup.helper?.hello.capacity;
    if (caps === undefined) return undefined; // checked again by the kernel
    const cap = caps[ks] ?? Infinity;
    const planned = plan.mapDelta[ks]! + (plan.base?.mapDelta[ks] ?? 0);
    if (this.#table.mapCounts[ks]! + planned >= cap) return mapFullError(cap);
    return undefined;
  }

  /** Whether `key` is in `store` once the plan (and its base) is applied. */
  #present(plan: Plan, store: number, key: string, k4: number): boolean {
    for (let p: Plan | undefined = plan; p !== undefined; p = p.base) {
      const o = p.opOf(store, key, k4);
      if (o !== undefined) return p.ops.cols.kind[o] !== OP_DEL;
    }
    return this.#slotOf(store, key, k4) !== undefined;
  }

  /** Table slot of `key` in `store`, by key number when `k4` holds it. */
  #slotOf(store: number, key: string, k4: number): number | undefined {
    return k4 >= 0 ? this.#table.slotOfV4(store, k4) : this.#table.slotOf(store, key);
  }

  /** Key number of `cidr` (a key or a Cidr) in `store`: -1 in IPv6 stores. */
  #keyNum(store: number, cidr: Cidr | string): number {
    if ((store & 1) === 1) return -1;
    return typeof cidr === 'string' ? v4KeyNum(cidr) : cidrKeyNum(cidr);
  }

  /** Kernel map slot of `cidr` in `store`; `k4` = #keyNum(store, cidr). */
  #kslot(store: number, cidr: Cidr | string, k4: number): number {
    const prefixLen = k4 >= 0 ? k4 % 64 : typeof cidr === 'string' ? keyPrefixLen(cidr) : cidr.prefixLen;
    return mapSlotOf(store, prefixLen, this.#table.lpmOnly);
  }

  /** Address bytes an op keeps: an IPv6 Cidr's (IPv4 ones are made from k4 when encoded, keys are parsed then). */
  #opAddr(cidr: Cidr | string, k4: number): Uint8Array | undefined {
    return k4 >= 0 || typeof cidr === 'string' ? undefined : cidr.addr;
  }

  /** `absent`: the caller just found `key` absent (#cur), no need to look again. */
  #planAdd(plan: Plan, r: number, store: number, cidr: Cidr | string, tag: string, creation: number, expiration: number, absent = false, overlay = true): AppError | undefined {
    const key = typeof cidr === 'string' ? cidr : cidr.text;
    const k4 = this.#keyNum(store, cidr);
    if (!absent && this.#present(plan, store, key, k4)) return conflictError(key);
    const ks = this.#kslot(store, cidr, k4);
    const full = this.#checkCapacity(plan, ks);
    if (full !== undefined) return full;
    const tagId = this.#tags.acquire(tag);
    const i = plan.ops.add(OP_ADD, store, key, ks, this.#opAddr(cidr, k4), k4, tagId, tag, creation, expiration, 0, r);
    if (overlay) plan.setOp(store, key, k4, i);
    plan.mapDelta[ks]! += 1;
    return undefined;
  }

  /** `addr`: the address bytes of an IPv6 `key` when the caller has them; `k4` = #keyNum(store, key). */
  #planDel(plan: Plan, r: number, store: number, key: string, cur: Cur, addr?: Uint8Array, k4 = this.#keyNum(store, key), overlay = true): void {
    const ks = this.#kslot(store, key, k4);
    const i = plan.ops.add(OP_DEL, store, key, ks, k4 >= 0 ? undefined : addr, k4, cur.tagId, cur.tag, 0, 0, cur.tagId, r);
    if (overlay) plan.setOp(store, key, k4, i);
    plan.mapDelta[ks]! -= 1;
  }

  #planUpd(plan: Plan, r: number, store: number, cidr: Cidr | string, cur: Cur, tag: string, creation: number, expiration: number, overlay = true): void {
    const tagId = this.#tags.acquire(tag);
    const key = typeof cidr === 'string' ? cidr : cidr.text;
    const k4 = this.#keyNum(store, cidr);
    const i = plan.ops.add(OP_UPD, store, key, this.#kslot(store, cidr, k4), this.#opAddr(cidr, k4), k4, tagId, tag, creation, expiration, cur.tagId, r);
    if (overlay) plan.setOp(store, key, k4, i);
  }

  #planRemove(plan: Plan, r: number, policy: Policy, cidr: Cidr, allowSet: boolean): AppError | undefined {
    const store = storeIndex(policy, cidr.family);
    const k4 = this.#keyNum(store, cidr);
    const cur = this.#cur(plan, store, cidr.text, k4);
    if (cur === undefined) return notFoundError(cidr.text);
    if (!allowSet && isSetTag(cur.tag)) return setEntryError();
    this.#planDel(plan, r, store, cidr.text, cur, this.#opAddr(cidr, k4), k4);
    // The operator has the last word: the claims on a removed drop entry go with it.
    if (store < 2 && this.#claimCur(plan, cidr.text) !== undefined) this.#claimSet(plan, r, cidr.text, undefined);
    return undefined;
  }

  #planRequest(plan: Plan, r: number, req: Req, now: number): ReqPlan {
    const rp: ReqPlan = { error: undefined, counts: undefined, n: 0 };
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
        if (req.jobs.length > 256) {
          // Room for every job at once: a 10,000-job body otherwise grows the op columns and the overlay ten times.
          plan.ops.reserve(req.jobs.length);
          plan.reserveV4(storeIndex(req.policy, 4), req.jobs.length);
        }
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
          if (cur !== undefined && cur.expiration !== 0 && cur.expiration <= now && !this.#adoptByClaims(plan, r, d.store, d.key, now)) {
            this.#planDel(plan, r, d.store, d.key, cur);
          }
        }
        break;
      case 'claim':
      case 'unclaim':
      case 'flush':
      case 'claims-sync':
        this.#planClaimReq(plan, r, req, rp, now);
        break;
      case 'sets': {
        const counts = { created: 0, updated: 0, removed: 0 };
        rp.counts = counts;
        const tbl = this.#table;
        // Target keys absent from the table (at least this many) are each
        // one ADD: room for them at once, e.g. the whole set on a first load.
        const present = tbl.count(storeIndex(req.policy, 4)) + tbl.count(storeIndex(req.policy, 6));
        plan.ops.reserve(Math.max(0, req.target.size - present));
        for (const [key, t] of req.target) {
          // Keys (canonical CIDR texts), not Cidr objects: the kernel op
          // derives the address bytes when it is encoded (no Uint8Array per op kept).
          // A sets request runs alone and its target keys are distinct: nothing
          // planned later looks its ops up (the removals skip target keys), so
          // they stay out of the overlay (memory, time), which then stays empty
          // while the target is walked.
          const store = storeIndex(req.policy, t.cidr.family);
          let cur: Cur | undefined;
          if (plan.overlaySize(store) === 0) {
            const slot = tbl.slotOf(store, key);
            if (slot !== undefined) {
              // Unchanged set entry (the common case of a full diff): no Cur built.
              const tagId = tbl.tagId[slot]!;
              const tag = this.#tags.tagOf(tagId) ?? '';
              if (tag === t.tag && tbl.expiration[slot] === 0 && isSetTag(tag)) continue;
              cur = { tagId, tag, creation: tbl.creation[slot]!, expiration: tbl.expiration[slot]! };
            }
          } else {
            cur = this.#cur(plan, store, key);
          }
          if (cur === undefined) {
            rp.error = this.#planAdd(plan, r, store, key, t.tag, now, 0, true, false);
            if (rp.error !== undefined) break;
            counts.created += 1;
          } else if (isSetTag(cur.tag)) {
            if (cur.tag !== t.tag || cur.expiration !== 0) {
              this.#planUpd(plan, r, store, key, cur, t.tag, now, 0, false);
              counts.updated += 1;
            }
          } else {
            this.#planUpd(plan, r, store, key, cur, t.tag, now, 0, false);
            this.#unmanageClaims(plan, r, store, key);
            counts.created += 1;
          }
        }
        if (rp.error !== undefined) break;
        if (req.removals !== undefined) {
          for (const t of req.removals) {
            if (req.target.has(t.cidr.text)) continue;
            const store = storeIndex(req.policy, t.cidr.family);
            const cur = this.#cur(plan, store, t.cidr.text);
            if (cur === undefined || !isSetTag(cur.tag)) continue;
            if (!this.#adoptByClaims(plan, r, store, t.cidr.text, now)) this.#planDel(plan, r, store, t.cidr.text, cur);
            counts.removed += 1;
          }
          break;
        }
        const target = req.target;
        for (const family of [4, 6] as const) {
          const store = storeIndex(req.policy, family);
          const t = this.#table;
          // IPv4 keys are looked up by number when the target can: no key text built per entry.
          const byNum = family === 4 && target.hasKeyNum !== undefined;
          for (const slot of t.slots(store)) {
            if (byNum ? target.hasKeyNum!(t.key4[slot]!) : target.has(t.keyOf(slot)!)) continue;
            const tag = this.#tags.tagOf(t.tagId[slot]!) ?? '';
            if (!isSetTag(tag)) continue;
            const key = t.keyOf(slot)!;
            const cur = this.#cur(plan, store, key);
            if (cur === undefined) continue;
            // Each slot is one key, visited once, and no target key: like the
            // target's ops, these deletions stay out of the overlay (a million
            // of them when every set file goes).
            if (!this.#adoptByClaims(plan, r, store, key, now)) this.#planDel(plan, r, store, key, cur, undefined, undefined, false);
            counts.removed += 1;
          }
        }
        break;
      }
    }
    return rp;
  }

  /* ---------------- execution ---------------- */

  /** `known`: the address bytes of `key` when at hand. */
  #kernelOp(kind: number, store: number, key: string, tagId: number, known?: Uint8Array): MapOp {
    const family = storeFamily(store);
    let addr = known;
    let prefixLen: number;
    if (addr !== undefined) {
      prefixLen = keyPrefixLen(key);
    } else {
      addr = new Uint8Array(family === 4 ? 4 : 16);
      prefixLen = keyToBytes(key, family, addr);
    }
    return {
      kind: kernelKind(kind),
      policy: storePolicy(store),
      family,
      prefixLen,
      addr,
      tagId,
    };
  }

  async #send(h: Helper, rec: BatchRecords): Promise<OpStatus[]> {
    if (rec.length === 0) return [];
    if (this.#batching) {
      this.#helperCalls += 1;
      return h.applyRecords(rec);
    }
    const out: OpStatus[] = [];
    for (let i = 0; i < rec.length; i += 1) {
      this.#helperCalls += 1;
      const [s] = await h.applyRecords(rec.slice(i, i + 1));
      out.push(s ?? 'error');
    }
    return out;
  }

  /** The BATCH records of ops [from, to), written from the op columns (no MapOp per IPv4 op). */
  #records(ops: OpList, from: number, to: number): BatchRecords {
    const c = ops.cols;
    const rec = new BatchRecords(to - from);
    for (let i = from; i < to; i += 1) {
      const kind = c.kind[i]!;
      const store = c.store[i]!;
      const k4 = c.k4[i]!;
      if (k4 >= 0) putV4Key(rec, kernelKind(kind), storePolicy(store), k4, c.tagId[i]!);
      else rec.put(this.#kernelOp(kind, store, ops.keyAt(i), c.tagId[i]!, ops.addrAt(i)));
    }
    return rec;
  }

  /** Journal records of ops [from, to). */
  #journalOps(enc: Encoder, ops: OpList, from: number, to: number): void {
    const c = ops.cols;
    for (let i = from; i < to; i += 1) {
      const store = c.store[i]!;
      const k4 = c.k4[i]!;
      if (c.kind[i] === OP_DEL) {
        if (k4 >= 0) enc.delV4(store, k4);
        else enc.del(store, ops.keyAt(i));
      } else if (k4 >= 0) {
        enc.putV4(store, k4, ops.tagAt(i), c.creation[i]!, c.expiration[i]!);
      } else {
        enc.put(store, ops.keyAt(i), ops.tagAt(i), c.creation[i]!, c.expiration[i]!);
      }
    }
  }

  /**
   * Sends the planned ops as one logical BATCH: small plans in one call;
   * big ones (set reloads) in chunks of SEND_CHUNK, two in flight, so the
   * helper applies one chunk while the next is encoded and only two chunks
   * of records exist at a time. The helper applies frames in order, so the
   * statuses are those of one call.
   *
   * `enc`: the journal records of the ops are encoded into it while the
   * helper applies them; `encoded` is called once all of them are in it
   * (the journal write then overlaps the helper's work, see #applyLocked).
   */
  async #sendPlan(h: Helper, ops: OpList, enc: Encoder, encoded: () => void): Promise<OpStatus[]> {
    if (!this.#batching || ops.length <= SEND_WHOLE_MAX) {
      const p = this.#send(h, this.#records(ops, 0, ops.length));
      p.catch(() => {}); // awaited below
      this.#journalOps(enc, ops, 0, ops.length);
      encoded();
      return await p;
    }
    this.#helperCalls += 1;
    // Sized once: a million pushes leave the array's growth copies behind as garbage.
    const statuses = new Array<OpStatus>(ops.length);
    let got = 0;
    const inFlight: Promise<OpStatus[]>[] = [];
    const collect = async (): Promise<void> => {
      const st = await inFlight.shift()!;
      for (let i = 0; i < st.length; i += 1) statuses[got++] = st[i]!;
    };
    for (let from = 0; from < ops.length; from += SEND_CHUNK) {
      const to = Math.min(ops.length, from + SEND_CHUNK);
      const p = h.applyRecords(this.#records(ops, from, to));
      p.catch(() => {}); // awaited in order below
      inFlight.push(p);
      this.#journalOps(enc, ops, from, to);
      if (inFlight.length >= 2) await collect();
    }
    encoded();
    while (inFlight.length > 0) await collect();
    return statuses;
  }

  /**
   * Plans `req` into the next batch while the batch in flight waits for the
   * kernel and the disk (Batcher `ahead`), as if that batch were committed.
   * The plan is used only if that batch commits whole (#takeAhead); else
   * its requests are planned again. Returns false to leave `req` pending.
   */
  #planAhead(req: Req): boolean {
    const base = this.#inflight;
    if (base === undefined || base.solo || base.noAhead || !AHEAD_KINDS.has(req.kind)) return false;
    let a = this.#ahead;
    if (a !== undefined && (a.plan.base !== base || a.plan.early !== undefined)) return false;
    a ??= this.#ahead = { plan: new Plan(base), batch: [], now: nowSeconds() };
    try {
      a.plan.reqs.push(this.#planRequest(a.plan, a.batch.length, req, a.now));
    } catch (err) {
      // Not planned whole: give the plan up; its requests are planned with their batch.
      this.#log.warn({ err }, 'planning ahead failed, the requests are planned with their batch');
      base.noAhead = true;
      void this.#dropAhead(); // never sent early: releases synchronously
      return false;
    }
    a.batch.push(req);
    if (a.plan.ops.length >= EARLY_SEND_MIN) {
      try {
        this.#sendEarly(a.plan);
      } catch (err) {
        // Nothing was sent: the plan goes to the helper in its turn.
        this.#log.warn({ err }, 'sending a batch early failed, it is sent in its turn');
      }
    }
    return true;
  }

  /**
   * Sends the ops of a plan made ahead to the helper now, behind the batch
   * in flight (the helper applies requests in order). The plan takes no
   * more requests. If the batch in flight does not commit whole, these ops
   * are undone in the kernel before their requests are planned again
   * (#dropAhead); nothing is journaled or answered before the plan's turn.
   */
  #sendEarly(plan: Plan): void {
    const h = this.#sup.helper;
    const n = plan.ops.length;
    if (h === undefined || !this.#batching || n > SEND_WHOLE_MAX) return;
    // Everything that can throw comes before the first byte is sent.
    const rec = this.#records(plan.ops, 0, n);
    const pre = new Encoder(64 + plan.ops.journalBytes + plan.claimChanges.length * 48);
    this.#journalOps(pre, plan.ops, 0, n);
    // Reused tag ids of this plan (only this plan was planned since the batch in flight took its own).
    const maxTags = h.hello.maxTags;
    const resets = this.#tags.takeResets().filter((id) => id > 0 && id < maxTags);
    const reset = resets.length > 0 ? h.resetTags(resets) : undefined;
    const records = h.applyRecords(rec);
    this.#helperCalls += 1;
    const statuses = reset === undefined ? records : reset.then(() => records);
    records.catch(() => {});
    statuses.catch(() => {}); // awaited in the plan's turn
    plan.early = { h, statuses, resets, pre };
    this.#aheadStats.sentEarly += 1;
  }

  /**
   * Gives up the plan made ahead: ops it sent early are undone in the
   * kernel (back to the committed state), its tag references released.
   */
  async #dropAhead(): Promise<void> {
    const a = this.#ahead;
    if (a === undefined) return;
    this.#ahead = undefined;
    this.#aheadStats.dropped += 1;
    const early = a.plan.early;
    a.plan.early = undefined;
    if (early !== undefined) {
      // Whatever the kernel took goes back to the committed state. A helper
      // that failed the request is restarted, and its resync does that.
      let failed: unknown;
      await early.statuses.catch((err: unknown) => (failed = err ?? new Error('helper request failed')));
      if (this.#sup.helper === early.h) {
        if (failed !== undefined) this.#sup.fail(early.h, failed);
        else await this.#lock.run(() => this.#restoreKernel(early.h, a.plan.ops, 0));
      }
    }
    this.#releaseFrom(a.plan, 0);
  }

  /**
   * The plan made ahead for `batch` when it still holds (same requests, its
   * base committed whole); 'stale' when one was made that does not.
   */
  #takeAhead(batch: readonly Req[]): { plan: Plan; now: number } | 'stale' | undefined {
    const a = this.#ahead;
    if (a === undefined) return undefined;
    const same = a.batch.length === batch.length && a.batch.every((r, i) => r === batch[i]);
    if (!same || a.plan.base?.committed !== true) return 'stale';
    this.#ahead = undefined;
    a.plan.base = undefined;
    this.#aheadStats.planned += 1;
    return a;
  }

  async #runBatch(batch: Req[]): Promise<Req[]> {
    // No await before the plan exists (the Batcher plans ahead on it right after calling us),
    // but a stale plan made ahead is undone first, in the kernel too.
    let ahead = this.#takeAhead(batch);
    if (ahead === 'stale') {
      await this.#dropAhead();
      ahead = undefined;
    }
    const now = ahead?.now ?? nowSeconds();
    let plan: Plan;
    if (ahead !== undefined) {
      plan = ahead.plan;
    } else {
      plan = new Plan();
      for (let r = 0; r < batch.length; r += 1) plan.reqs.push(this.#planRequest(plan, r, batch[r]!, now));
    }
    plan.solo = batch.some((r) => r.kind === 'sets');
    plan.resets.push(...this.#tags.takeResets());
    let deadline = Infinity;
    for (const req of batch) deadline = Math.min(deadline, req.deadline);

    if (plan.ops.length === 0 && plan.claimChanges.length === 0) {
      // Nothing for the kernel or the journal: answer at once.
      this.#finish(batch, plan, plan.reqs.length, now);
      plan.committed = true;
      return [];
    }

    // From here until it is committed, the next batch may be planned on top of this one.
    this.#inflight = plan;
    try {
      for (;;) {
        let h: Helper;
        try {
          h = await this.#sup.waitReady(deadline);
        } catch (err) {
          this.#abort(batch, plan, err instanceof AppError ? err : new AppError('unavailable'));
          return [];
        }
        const out = await this.#lock.run(() => this.#applyLocked(h, batch, plan, now));
        if (out !== 'retry') return out;
      }
    } finally {
      if (this.#inflight === plan) this.#inflight = undefined;
    }
  }

  /** Releases the tentative tag references of ops [from, to) (never committed); `to` defaults to the end. */
  #releaseFrom(plan: Plan, from: number, to = plan.ops.length): void {
    for (let i = from; i < to; i += 1) {
      if (plan.ops.cols.kind[i] !== OP_DEL) this.#tags.release(plan.ops.cols.tagId[i]!);
    }
  }

  #abort(batch: Req[], plan: Plan, err: Error): void {
    this.#releaseFrom(plan, 0);
    for (const req of batch) req.reject(err);
    this.#log.warn({ requests: batch.length, ops: plan.ops.length, err: err.message }, 'batch failed');
  }

  async #applyLocked(h: Helper, batch: Req[], plan: Plan, now: number): Promise<Req[] | 'retry'> {
    if (this.#sup.helper !== h) return 'retry';
    const ops = plan.ops;
    // The journal frame of the batch as if the kernel takes every op, encoded
    // and written while the helper applies the ops: the fdatasync and the
    // helper round trip overlap. A refusal or a lost helper is undone in the
    // journal by a second frame (#journalUndo) before anything is answered.
    // Sent early (#sendEarly) to this very helper: its statuses and journal
    // records are at hand. Sent to a helper since lost: sent again.
    let early = plan.early;
    plan.early = undefined;
    if (early !== undefined && early.h !== h) {
      plan.resets.unshift(...early.resets);
      early = undefined;
    }
    const pre = early?.pre ?? new Encoder(64 + ops.journalBytes + plan.claimChanges.length * 48);
    let written: Promise<unknown> | undefined;
    let journalError: unknown;
    // Claim changes of the whole batch (the last state per key): journaled now, committed unless the kernel refuses an op.
    const allClaims = this.#committedClaims(plan, ops.length, batch.length);
    const writeJournal = (): void => {
      for (const [key, st] of allClaims) {
        pre.claims(claimStore(key), key, st?.managed ?? false, st?.claims ?? []);
      }
      if (pre.records === 0) return;
      // Alone in the queue (a fail2ban ban, one couicctl add): written on the
      // main thread, which has nothing else to do meanwhile; under load in
      // the thread pool, so requests keep being read during the fdatasync.
      const sync = batch.length === 1 && this.batcher.waiting === 0;
      written = this.#journal.append(pre.finish(), pre.records, { sync }).catch((err: unknown) => {
        journalError = err ?? new Error('journal write failed');
      });
    };
    let statuses: OpStatus[] | undefined;
    let helperError: unknown;
    try {
      const maxTags = h.hello.maxTags;
      const toReset = plan.resets.filter((id) => id > 0 && id < maxTags);
      if (toReset.length > 0) await h.resetTags(toReset);
      if (early !== undefined) {
        writeJournal();
        statuses = await early.statuses;
      } else {
        statuses = await this.#sendPlan(h, ops, pre, writeJournal);
      }
    } catch (err) {
      helperError = err ?? new Error('helper request failed');
    }
    await written;
    const journaled = written !== undefined && journalError === undefined;

    if (statuses === undefined) {
      // Gone or wedged: either way it is not ready any more (no hot retry loop).
      this.#sup.fail(h, helperError);
      // Resets sent early may not have been applied: sent again with the retry.
      if (early !== undefined) plan.resets.unshift(...early.resets);
      this.#log.warn({ err: (helperError as Error).message, ops: ops.length }, 'helper failed during a batch, waiting for its restart');
      // The batch is planned again once the helper is back; the journal must
      // not keep it meanwhile (its requests may end up refused).
      if (journaled) await this.#journalUndo(plan, 0, 0);
      return 'retry';
    }

    if (journalError !== undefined) {
      this.#log.error({ err: journalError }, 'journal write failed, undoing the batch in the kernel');
      await this.#restoreKernel(h, ops, 0);
      this.#releaseFrom(plan, 0);
      const e = new AppError('internal', 'couic could not write its journal', {}, { cause: journalError });
      for (const req of batch) req.reject(e);
      return [];
    }

    let k = -1;
    for (let i = 0; i < ops.length; i += 1) {
      const s = statuses[i];
      if (s === 'ok' || (s === 'absent' && ops.cols.kind[i] === OP_DEL)) continue;
      k = i;
      break;
    }

    let committedOps = ops.length;
    let committedReqs = batch.length;
    let again: Req[] = [];
    if (k >= 0) {
      // The kernel refused op k. Undo ops after it, fail its request, plan
      // the later requests again.
      const owner = ops.cols.req[k]!;
      const status = statuses[k] ?? 'error';
      await this.#restoreKernel(h, ops, k);
      this.#releaseFrom(plan, k);
      committedOps = k;
      committedReqs = owner + 1;
      const op = ops.at(k);
      const ks = mapSlotOf(op.store, keyPrefixLen(op.key), this.#table.lpmOnly);
      const err = status === 'full'
        ? mapFullError(h.hello.capacity[ks] ?? 0)
        : new AppError('internal', `kernel map update failed (${status}) for ${op.key}`);
      plan.reqs[owner]!.error = err;
      again = batch.slice(owner + 1);
      this.#log.error({ cidr: op.key, status, requeued: again.length }, 'kernel refused a map update');
      if (journaled) await this.#journalUndo(plan, committedOps, committedReqs);
    }

    // The journal holds the batch: it is authoritative. A failure from here
    // on would leave memory half-updated against the kernel and the journal,
    // so the process exits and a restart replays a consistent state.
    // Committed below: a plan made ahead from now on would count this batch twice.
    if (this.#inflight === plan) this.#inflight = undefined;
    try {
      this.#commit(ops, committedOps, batch);
      // Claim changes that go with the committed ops (the last state per key).
      const claims = k < 0 ? allClaims : this.#committedClaims(plan, committedOps, committedReqs);
      if (claims.size > 0) {
        for (const [key, st] of claims) this.#claims.set(key, st);
        this.#rearmClaims();
      }
      this.#finish(batch, plan, committedReqs, now);
      plan.committed = k < 0;
      this.#maybeCompact();
    } catch (err) {
      this.#fatal(err);
    }
    return again;
  }

  /** An inconsistency after a journal write: log and exit, a restart replays the journal. */
  #fatal(err: unknown): never {
    this.#log.fatal({ err }, 'internal error after the journal write: exiting so a restart replays a consistent state');
    return this.#exit(70);
  }

  /**
   * Each key touched by ops[from..], once, with what the state holds for it
   * once ops [0, from) are committed (entry undefined: absent).
   */
  #keysAfter(ops: OpList, from: number): { readonly store: number; readonly key: string; readonly entry: Cur | undefined }[] {
    const c = ops.cols;
    const t = this.#table;
    const prefix = new Map<string, number>();
    for (let i = 0; i < from; i += 1) prefix.set(`${c.store[i]!}|${ops.keyAt(i)}`, i);
    const seen = new Set<string>();
    const out: { store: number; key: string; entry: Cur | undefined }[] = [];
    for (let i = from; i < ops.length; i += 1) {
      const store = c.store[i]!;
      const key = ops.keyAt(i);
      const id = `${store}|${key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const p = prefix.get(id);
      let entry: Cur | undefined;
      if (p !== undefined) {
        if (c.kind[p] !== OP_DEL) entry = { tagId: c.tagId[p]!, tag: ops.tagAt(p), creation: c.creation[p]!, expiration: c.expiration[p]! };
      } else {
        const slot = t.slotOf(store, key);
        if (slot !== undefined) {
          const tagId = t.tagId[slot]!;
          entry = { tagId, tag: this.#tags.tagOf(tagId) ?? '', creation: t.creation[slot]!, expiration: t.expiration[slot]! };
        }
      }
      out.push({ store, key, entry });
    }
    return out;
  }

  /**
   * Puts every key touched by ops[from..] back to what the state will hold
   * once ops[0, from) are committed (those ops are kept). Any doubt (the
   * helper fails or refuses) ends in a full resync by the supervisor.
   */
  async #restoreKernel(h: Helper, ops: OpList, from: number): Promise<void> {
    const fix = this.#keysAfter(ops, from).map(({ store, key, entry }) =>
      entry === undefined ? this.#kernelOp(OP_DEL, store, key, 0) : this.#kernelOp(OP_ADD, store, key, entry.tagId));
    try {
      const st = await this.#send(h, BatchRecords.of(fix));
      if (st.some((x) => x !== 'ok' && x !== 'absent')) throw new Error(`restore statuses: ${st.join(',')}`);
    } catch (err) {
      this.#sup.fail(h, err);
    }
  }

  /**
   * Appends the frame that takes the journal from "the whole batch applied"
   * (written while the helper applied it) back to what is committed: ops
   * [0, from) and the claim changes of requests [0, committedReqs). If it
   * cannot be written, the journal is ahead of memory and the kernel: the
   * process exits and a restart replays it (nothing it holds beyond them
   * was acknowledged).
   */
  async #journalUndo(plan: Plan, from: number, committedReqs: number): Promise<void> {
    const keys = this.#keysAfter(plan.ops, from);
    const enc = new Encoder(64 + keys.length * 64 + plan.claimChanges.length * 48);
    for (const { store, key, entry } of keys) {
      if (entry === undefined) enc.del(store, key);
      else enc.put(store, key, entry.tag, entry.creation, entry.expiration);
    }
    const kept = this.#committedClaims(plan, from, committedReqs);
    for (const key of new Set(plan.claimChanges.map((c) => c.key))) {
      const st = kept.has(key) ? kept.get(key) : this.#claims.get(key);
      enc.claims(claimStore(key), key, st?.managed ?? false, st?.claims ?? []);
    }
    if (enc.records === 0) return;
    try {
      await this.#journal.append(enc.finish(), enc.records);
    } catch (err) {
      this.#fatal(err);
    }
  }

  /** The claim states planned by the committed part of a batch: key -> last state. */
  #committedClaims(plan: Plan, committedOps: number, committedReqs: number): Map<string, ClaimState | undefined> {
    const out = new Map<string, ClaimState | undefined>();
    for (const c of plan.claimChanges) {
      if (c.req < committedReqs && c.opsBefore <= committedOps) out.set(c.key, c.state);
    }
    return out;
  }

  /** Applies ops [0, n) to the state. */
  #commit(ops: OpList, n: number, batch: readonly Req[]): void {
    const t = this.#table;
    const heap = this.#heap;
    const events: EntryEvent[] | undefined = this.events.active ? [] : undefined;
    const c = ops.cols;
    for (let i = 0; i < n; i += 1) {
      const req = batch[c.req[i]!];
      if (req !== undefined && req.kind !== 'sets') {
        // No POp object per op here: a peer batch commits 16,384 of them.
        const kind = c.kind[i]!;
        const tag = ops.tagAt(i);
        // set entries changed behind the set loader's back (e.g. peer remove)
        if (isSetTag(tag) || (kind === OP_UPD && isSetTag(this.#tags.tagOf(c.prevTagId[i]!) ?? ''))) {
          this.#setMutations += 1;
        }
        if (events !== undefined) {
          const policy = storePolicy(c.store[i]!);
          const cidr = ops.keyAt(i);
          if (kind === OP_DEL) {
            const slot = this.#slotOf(c.store[i]!, cidr, c.k4[i]!);
            // claims-sync deletes entries whose last claim expired: an expiry too
            const expired = req.kind === 'expire' || req.kind === 'claims-sync';
            const ev: EntryEvent = {
              type: expired ? 'expired' : 'removed', policy, cidr, tag,
              expiration: slot === undefined ? 0 : t.expiration[slot]!, creation: slot === undefined ? 0 : t.creation[slot]!,
            };
            events.push(expired ? ev : { ...ev, actor: req.actor.name });
          } else {
            events.push({
              type: kind === OP_ADD ? 'added' : 'updated', policy, cidr, tag,
              expiration: c.expiration[i]!, creation: c.creation[i]!, actor: req.actor.name,
            });
          }
        }
      }
      const store = c.store[i]!;
      const k4 = c.k4[i]!;
      const expiration = c.expiration[i]!;
      // With a key number the table needs no key text (none is built per set op).
      const key = k4 >= 0 ? '' : ops.keyAt(i);
      if (c.kind[i] === OP_DEL) {
        const slot = this.#slotOf(store, key, k4);
        if (slot === undefined) continue;
        heap.remove(slot);
        t.delete(store, key, k4);
        this.#tags.release(c.prevTagId[i]!);
      } else if (c.kind[i] === OP_ADD) {
        // Planned against the state + earlier ops: the key is absent here.
        const slot = t.insert(store, key, c.ks[i]!, c.tagId[i]!, c.creation[i]!, expiration, k4);
        if (expiration !== 0) heap.add(slot);
      } else {
        this.#tags.release(c.prevTagId[i]!);
        const slot = t.put(store, key, c.tagId[i]!, c.creation[i]!, expiration, k4);
        if (expiration !== 0) heap.add(slot);
        else heap.remove(slot);
      }
    }
    this.#timer.rearm();
    if (events !== undefined) for (const ev of events) this.events.emit(ev);
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
        case 'claim':
          this.#log.info({ client: a.name, group: a.group, owner: req.owner, bans: rp.n, cidr: req.items.length === 1 ? req.items[0]!.cidr.text : undefined }, 'bans applied');
          req.resolve(rp.n);
          break;
        case 'unclaim':
          this.#log.info({ client: a.name, group: a.group, owner: req.owner, cidr: req.cidr.text }, 'ban released');
          req.resolve(undefined);
          break;
        case 'flush':
          this.#log.info({ client: a.name, group: a.group, owner: req.owner, removed: rp.n }, 'bans flushed');
          req.resolve(rp.n);
          break;
        case 'claims-sync':
          this.#log.debug({ cidrs: req.keys.length }, 'claims expired or synced');
          if (rp.retry !== undefined && rp.retry.length > 0) {
            this.#log.warn({ cidrs: rp.retry.length }, 'claims: some syncs failed, retrying in 1 s');
            this.#claims.requeue(rp.retry, now + 1);
            this.#rearmClaims();
          }
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
   * Makes `h` hold exactly the state. Called by the supervisor with the
   * kernel lock held. Maps that are empty (HELLO counts: a fresh helper
   * without pinned maps) are simply filled with BATCHes of upserts; maps
   * holding entries (re-used pins) are REPLACEd, which also removes what the
   * state no longer has. On a fresh start over re-used pinned maps the
   * per-tag counters are zeroed first (tag ids are not persistent).
   */
  async resync(h: Helper, reason: 'start' | 'restart'): Promise<void> {
    const t0 = performance.now();
    if (reason === 'start' && h.hello.features.reused) {
      const ids: number[] = [];
      for (let id = 1; id < h.hello.maxTags; id += 1) ids.push(id);
      await h.resetTags(ids);
    }
    const empty = h.hello.count.every((c) => c === 0);
    const { statuses, removed } = empty ? await this.#fillEmpty(h) : await h.replaceAll(this.kernelEntries());
    let failed = 0;
    const byStatus: Record<string, number> = {};
    for (const s of statuses) {
      if (s !== 'ok') {
        failed += 1;
        byStatus[s] = (byStatus[s] ?? 0) + 1;
      }
    }
    const ms = Math.round(performance.now() - t0);
    if (failed > 0) {
      // Serving a state the kernel does not enforce is not an option: fail
      // the start (the daemon exits) or the restart (the supervisor retries).
      const why = Object.entries(byStatus).map(([s, n]) => `${s}: ${n}`).join(', ');
      const hint = byStatus.full !== undefined ? ': raise the [dataplane] map capacities (drop_exact, drop_cidr, ignore_exact, ignore_cidr)' : '';
      this.#log.error({ failed, byStatus, reason }, 'resync: the kernel refused some entries');
      throw new Error(`resync (${reason}): the kernel refused ${failed} of ${statuses.length} entries of the journal (${why})${hint}`);
    }
    this.#log.info({ entries: statuses.length, removed, reason, ms, pid: h.pid }, 'kernel maps resynced from state');
  }

  /**
   * Writes the whole state into empty kernel maps: BATCHes of upserts of
   * RESYNC_CHUNK entries, two in flight, so the helper applies one while the
   * next is encoded.
   */
  async #fillEmpty(h: Helper): Promise<{ statuses: OpStatus[]; removed: number }> {
    const t = this.#table;
    const inFlight: Promise<OpStatus[]>[] = [];
    const statuses: OpStatus[] = [];
    const collect = async (): Promise<void> => {
      const st = await inFlight.shift()!;
      for (let i = 0; i < st.length; i += 1) statuses.push(st[i]!);
    };
    // Records written straight from the table, a chunk at a time: no MapOp
    // and no address array per entry.
    let rec = new BatchRecords(RESYNC_CHUNK);
    const addr6 = new Uint8Array(16);
    const flush = async (): Promise<void> => {
      const p = h.applyRecords(rec);
      p.catch(() => {}); // awaited in order below; a later chunk may fail while an earlier one is awaited
      inFlight.push(p);
      rec = new BatchRecords(RESYNC_CHUNK);
      if (inFlight.length >= 2) await collect();
    };
    for (let store = 0; store < 4; store += 1) {
      const family = storeFamily(store);
      const policy = storePolicy(store);
      for (const slot of t.slots(store)) {
        const tagId = t.tagId[slot]!;
        if (family === 4) {
          putV4Key(rec, 'upsert', policy, t.key4[slot]!, tagId);
        } else {
          const prefixLen = t.addrOf(slot, addr6);
          rec.put({ kind: 'upsert', policy, family, prefixLen, addr: addr6, tagId });
        }
        if (rec.length === RESYNC_CHUNK) await flush();
      }
    }
    if (rec.length > 0) await flush();
    while (inFlight.length > 0) await collect();
    return { statuses, removed: 0 };
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
    for (const [key, st] of this.#claims.entries()) {
      enc.claims(claimStore(key), key, st.managed, st.claims);
      n += 1;
    }
    return n;
  }

  /** Stops expiry, refuses new mutations and waits for the queued ones. */
  async drain(): Promise<void> {
    this.#closed = true;
    this.#timer.stop();
    if (this.#claimTimer !== undefined) clearTimeout(this.#claimTimer);
    this.#claimTimer = undefined;
    await this.batcher.drain();
  }
}
