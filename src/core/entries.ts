/**
 * EntryStore: the core's facade, owner of the entry state. It reads the
 * state directly (list, get, counts, claims) and turns every mutation into
 * a request of the one queue (requests.ts), which the pipeline plans and
 * commits:
 *
 *   EntryStore.create()  ->  commit/batcher.ts (group commit, one queue)
 *     -> commit/pipeline.ts (plan the batch, or take the plan made ahead)
 *       -> plan/planner.ts (pure: requests + state -> ops and answers)
 *     -> commit/committer.ts (kernel BATCH + journal frame, undo, apply, answer)
 *
 * A caller is answered only once its change is in the kernel map and
 * fsync'd in the journal. Expiry (state/expiry.ts) and claim expiry
 * (claim-expiry.ts) submit requests of their own; compaction runs on the
 * same queue between batches.
 */
import type { Logger } from 'pino';
import { nowSeconds, systemClock, type Clock } from '../domain/clock.js';
import type { Actor, Cidr, CreateRequest, Entry, Family, PeerJob, Policy } from '../domain/types.js';
import { StoredCidr } from '../net/keys.js';
import type { Helper } from '../xdp/helper.js';
import type { HelperStats, KernelEntry } from '../xdp/types.js';
import { ClaimExpiry } from './claim-expiry.js';
import { Committer } from './commit/committer.js';
import { KernelWriter } from './commit/kernel-writer.js';
import { Pipeline, type AheadStats } from './commit/pipeline.js';
import { StateCommit } from './commit/state-commit.js';
import type { Journal } from './journal/journal.js';
import type { Mutex } from './kernel/mutex.js';
import { kernelEntries, resyncKernel } from './kernel/resync.js';
import type { HelperSupervisor } from './kernel/supervisor.js';
import { FLEET_ACTOR, SYSTEM_ACTOR, type Req } from './model/requests.js';
import type {
  BanClaim,
  BanItem,
  BanService,
  EntryListCopy,
  EntryService,
  FleetItem,
  FleetService,
  SetsResult,
  SetTarget,
  SetTargets,
  StatsSource,
} from './model/types.js';
import type { PlannerContext } from './plan/scope.js';
import type { Batcher } from './queue/batcher.js';
import { ClaimTable } from './state/claims.js';
import { CoreEvents } from './state/events.js';
import { ExpiryHeap, ExpiryTimer } from './state/expiry.js';
import { copyEntryList } from './state/list-copy.js';
import { writeSnapshot } from './state/snapshot.js';
import { storeIndex, type EntryTable } from './state/table.js';
import type { TagRegistry } from './state/tags.js';

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
  /** The claims replayed with the journal (state/claims.ts). @default empty */
  readonly claims?: ClaimTable;
  /** The expiry heap filled by the replay. @default empty */
  readonly heap?: ExpiryHeap;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Ends the process on an unrecoverable inconsistency (tests override it). @default process.exit */
  readonly exit?: (code: number) => never;
}

type Make = (resolve: (v: unknown) => void, reject: (e: Error) => void, deadline: number) => Req;

export class EntryStore implements EntryService, BanService, FleetService, StatsSource {
  /** Committed changes, for the event stream (api/events.ts). */
  readonly events = new CoreEvents();
  readonly #sup: HelperSupervisor;
  readonly #journal: Journal;
  readonly #table: EntryTable;
  readonly #tags: TagRegistry;
  readonly #claims: ClaimTable;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #waitMs: number;
  readonly #compactAfter: number;
  readonly #heap: ExpiryHeap;
  readonly #timer: ExpiryTimer;
  readonly #claimExpiry: ClaimExpiry;
  readonly #kernel: KernelWriter;
  readonly #state: StateCommit;
  readonly #pipeline: Pipeline;
  readonly #claimListeners = new Set<(keys: readonly string[]) => void>();
  #closed = false;

  constructor(opts: EntryStoreOptions) {
    this.#sup = opts.supervisor;
    this.#journal = opts.journal;
    this.#table = opts.table;
    this.#tags = opts.tags;
    this.#claims = opts.claims ?? new ClaimTable();
    this.#log = opts.logger;
    this.#clock = opts.clock ?? systemClock;
    this.#waitMs = opts.helperWaitMs ?? 5_000;
    this.#compactAfter = opts.compactAfter ?? 1_000_000;
    this.#heap = opts.heap ?? new ExpiryHeap(this.#table);
    this.#timer = new ExpiryTimer({ heap: this.#heap, table: this.#table, clock: this.#clock, onDue: (due) => this.#onDue(due) });
    this.#claimExpiry = new ClaimExpiry({
      claims: this.#claims, table: this.#table, tags: this.#tags, clock: this.#clock, logger: this.#log,
      sync: (keys) => this.#submitInternal<void>((resolve, reject, deadline) => ({
        kind: 'claims-sync', keys, actor: SYSTEM_ACTOR, weight: keys.length, deadline, resolve, reject,
      })),
    });
    this.#kernel = new KernelWriter({ batching: opts.batching ?? true });
    this.#state = new StateCommit({
      table: this.#table, tags: this.#tags, heap: this.#heap, events: this.events, committed: () => this.#timer.rearm(),
    });
    const planner: PlannerContext = {
      table: this.#table, tags: this.#tags, claims: this.#claims, capacities: () => this.#sup.helper?.hello.capacity,
    };
    this.#pipeline = new Pipeline({
      planner, tags: this.#tags, supervisor: this.#sup, lock: opts.lock, kernel: this.#kernel, state: this.#state,
      clock: this.#clock, logger: this.#log, maxPending: opts.maxPending ?? 262_144,
      committer: (committing) => new Committer({
        supervisor: this.#sup, journal: this.#journal, kernel: this.#kernel, state: this.#state, claims: this.#claims,
        logger: this.#log, committing,
        waiting: () => this.#pipeline.batcher.waiting,
        claimsChanged: (keys) => {
          this.#claimExpiry.rearm();
          if (this.#claimListeners.size > 0) this.#tellClaims([...keys]);
        },
        retryClaims: (keys, at) => this.#claimExpiry.retry(keys, at),
        afterCommit: () => this.#maybeCompact(),
        exit: opts.exit ?? ((code: number): never => process.exit(code)),
      }),
    });
  }

  /** Starts the expiry timers (after the initial resync). */
  start(): void {
    this.#timer.rearm();
    this.#claimExpiry.start();
    // A long journal tail is compacted soon, but not while the daemon is still starting.
    if (this.#journal.recordsSinceSnapshot >= this.#compactAfter) setTimeout(() => this.#maybeCompact(), 2000).unref();
  }

  /** The one queue every mutation goes through. */
  get batcher(): Batcher<Req> {
    return this.#pipeline.batcher;
  }

  get aheadStats(): AheadStats {
    return this.#pipeline.aheadStats;
  }

  /** Helper round trips carrying map ops (BATCH requests). */
  get helperCalls(): number {
    return this.#kernel.calls;
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

  /** The committed claims. */
  get claims(): ClaimTable {
    return this.#claims;
  }

  /**
   * Calls `fn` with the claim keys (state/claims.ts claimKey) whose claims a
   * commit changed, synchronously at commit time, before the requests are
   * answered (the fleet follows this host's own holds by it). Returns the
   * unsubscribe function.
   */
  onClaimsChanged(fn: (keys: readonly string[]) => void): () => void {
    this.#claimListeners.add(fn);
    return () => this.#claimListeners.delete(fn);
  }

  #tellClaims(keys: readonly string[]): void {
    for (const fn of this.#claimListeners) {
      try {
        fn(keys);
      } catch (err) {
        this.#log.error({ err }, 'a claims listener failed');
      }
    }
  }

  /** Count of committed changes to set entries made by anything but a set reload (e.g. a peer remove). */
  get setMutations(): number {
    return this.#state.setMutations;
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

  listCopy(policy: Policy): EntryListCopy {
    return copyEntryList(this.#table, this.#tags, policy);
  }

  get(policy: Policy, cidr: Cidr): Entry | undefined {
    const slot = this.#table.slotOf(storeIndex(policy, cidr.family), cidr.text);
    return slot === undefined ? undefined : this.#entryAt(policy, cidr.family, cidr.text, slot, cidr);
  }

  count(policy: Policy): number {
    return this.#table.count(storeIndex(policy, 4)) + this.#table.count(storeIndex(policy, 6));
  }

  tagName(tagId: number): string | undefined {
    return this.#tags.tagOf(tagId);
  }

  async stats(): Promise<HelperStats> {
    const h = await this.#sup.waitReady(this.#clock.nowMs() + this.#waitMs);
    return h.stats();
  }

  /** The helper's capacity of each kernel map slot (MAP_SLOTS order). */
  capacities(): readonly number[] | undefined {
    return this.#sup.helper?.hello.capacity;
  }

  bansOf(owner: string): BanClaim[] {
    const now = nowSeconds(this.#clock);
    const out: BanClaim[] = [];
    for (const { key, claim } of this.#claims.claimsOf(owner)) {
      if (claim.expiration !== 0 && claim.expiration <= now) continue;
      out.push({ cidr: key, expiration: claim.expiration, creation: claim.creation });
    }
    return out;
  }

  /* ---------------- mutations ---------------- */

  /** An API request: refused as busy when the queue is full. */
  #submit<T>(make: Make): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.batcher.submit(make(resolve as (v: unknown) => void, reject, this.#clock.nowMs() + this.#waitMs));
    });
  }

  /** The core's own request (expiry, set reload): never refused as busy. */
  #submitInternal<T>(make: Make): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.batcher.submitInternal(make(resolve as (v: unknown) => void, reject, this.#clock.nowMs() + this.#waitMs));
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
    return this.#submitInternal<SetsResult>((resolve, reject, deadline) => ({
      kind: 'sets', policy, target, actor, weight: 1, solo: true, deadline, resolve, reject,
    }));
  }

  /**
   * Delta set reload for one policy: `upserts` as in applySets, but only
   * the set entries listed in `removals` are removed (when they still are
   * set entries). The caller must know the state (see setMutations).
   */
  applySetsDelta(policy: Policy, upserts: SetTargets, removals: readonly SetTarget[], actor: Actor = SYSTEM_ACTOR): Promise<SetsResult> {
    return this.#submitInternal<SetsResult>((resolve, reject, deadline) => ({
      kind: 'sets', policy, target: upserts, removals, actor, weight: 1, solo: true, deadline, resolve, reject,
    }));
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

  unban(owner: string, cidr: Cidr, actor: Actor): Promise<void> {
    return this.#submit<void>((resolve, reject, deadline) => ({ kind: 'unclaim', owner, cidr, actor, weight: 1, deadline, resolve, reject }));
  }

  /**
   * Applies fleet node `node`'s changes (plan/claims.ts planFleet) as its
   * claims; resolves with the number applied once in the kernel and the
   * journal. The fleet's own request: never refused as busy.
   */
  applyFleet(node: string, items: readonly FleetItem[]): Promise<number> {
    if (items.length === 0) return Promise.resolve(0);
    return this.#submitInternal<number>((resolve, reject, deadline) => ({
      kind: 'fleet', node, items, actor: FLEET_ACTOR, weight: items.length, deadline, resolve, reject,
    }));
  }

  flushBans(owner: string, actor: Actor): Promise<number> {
    const weight = Math.max(1, this.#claims.countOf(owner));
    return this.#submit<number>((resolve, reject, deadline) => ({ kind: 'flush', owner, actor, weight, deadline, resolve, reject }));
  }

  /* ---------------- expiry ---------------- */

  #onDue(due: { store: number; key: string }[]): void {
    if (this.#closed) return;
    const items = due.map((d) => ({ store: d.store, key: d.key }));
    this.#submitInternal<void>((resolve, reject, deadline) => ({
      kind: 'expire', items, actor: SYSTEM_ACTOR, weight: items.length, deadline, resolve, reject,
    })).catch((err: unknown) => {
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

  /* ---------------- kernel sync, compaction ---------------- */

  /** Every entry as the kernel should hold it (addresses derived from the keys). */
  kernelEntries(): IterableIterator<KernelEntry> {
    return kernelEntries(this.#table);
  }

  /** Makes `h` hold exactly the state (the supervisor calls it with the kernel lock held). */
  resync(h: Helper, reason: 'start' | 'restart'): Promise<void> {
    return resyncKernel(h, reason, this.#table, this.#log);
  }

  #maybeCompact(): void {
    if (this.#closed || this.#journal.compacting || this.#journal.recordsSinceSnapshot < this.#compactAfter) return;
    void this.compact().catch((err: unknown) => this.#log.error({ err }, 'journal compaction failed'));
  }

  /** Writes a snapshot of the state and drops the older journal (runs on the queue). */
  async compact(): Promise<void> {
    const { done } = await this.batcher.exclusive(() =>
      this.#journal.compact((enc) => writeSnapshot(enc, this.#table, this.#tags, this.#claims)));
    await done;
  }

  /** Stops expiry, refuses new mutations and waits for the queued ones. */
  async drain(): Promise<void> {
    this.#closed = true;
    this.#timer.stop();
    this.#claimExpiry.stop();
    await this.batcher.drain();
  }
}
