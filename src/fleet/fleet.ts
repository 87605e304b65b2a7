/**
 * The fleet (docs/fleet.md): this host's bans shared with every host of the
 * fleet through a NATS JetStream key-value bucket, and theirs applied here.
 *
 *   own changes  --(events, claim changes)--> Publisher --(put/delete)--> bucket
 *   bucket --(watch, stream order)--> Applier --(applyFleet)--> core (claims '@node')
 *
 * The engine down or unreachable never blocks this host: the fleet starts
 * in the background, local mutations are acknowledged as always (kernel +
 * journal), and what they change is published once a server answers. A
 * restart enforces the fleet entries from the journal before any server is
 * reached. Status and gauges: status(), metricLines().
 */
import type { Logger } from 'pino';
import { nowSeconds, systemClock, type Clock } from '../domain/clock.js';
import type { Policy } from '../domain/types.js';
import type { EntryStore } from '../core/entries.js';
import type { EntryEvent } from '../core/state/events.js';
import { Applier, type CatchUp } from './apply.js';
import { connectionOptions, Engine, redactUrl } from './engine.js';
import { helloKey, nodeKeys, parseKey } from './keys.js';
import { Ledger } from './ledger.js';
import { hasLocalClaim, type OwnSource } from './own.js';
import { pkeyOf, pkeyPolicy } from './pkey.js';
import { NO_POSITION, readPosition, writePosition, writePositionSync, type Position } from './position.js';
import { Publisher } from './publish.js';
import type { FleetConfig } from './types.js';
import { decodeRevoke } from './values.js';

export interface FleetOptions {
  readonly config: FleetConfig;
  readonly entries: EntryStore;
  /** `<working_dir>/fleet`: the ledger and the position. */
  readonly dir: string;
  readonly logger: Logger;
  /** Written in this host's hello. */
  readonly version: string;
  readonly clock?: Clock;
}

export interface FleetPeer {
  readonly node: string;
  /** Unix seconds of its latest change seen. */
  readonly last_seen: number;
  readonly messages: number;
}

/** GET /v1/fleet (docs/api-extensions.md). */
export interface FleetStatus {
  readonly enabled: true;
  readonly node: string;
  readonly bucket: string;
  readonly policies: readonly Policy[];
  readonly connected: boolean;
  readonly server: string | null;
  readonly servers: readonly string[];
  readonly applied: { readonly revision: number; readonly received: number };
  readonly catching_up: CatchUp | null;
  readonly last_catch_up: { readonly mode: CatchUp; readonly revision: number; readonly released: number; readonly at: number } | null;
  readonly lag: { readonly messages: number; readonly seconds: number };
  readonly outbox: number;
  readonly published: number;
  readonly peers: readonly FleetPeer[];
  readonly last_error: string | null;
}

const RETRY_MS = 2_000;
const WATCHDOG_MS = 2_000;

export class Fleet {
  readonly #o: FleetOptions;
  readonly #cfg: FleetConfig;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #policies: ReadonlySet<Policy>;
  readonly #ledger: Ledger;
  readonly #publisher: Publisher;
  readonly #applier: Applier;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #position: Position;
  #engine: Engine | undefined;
  #connected = false;
  #stopped = false;
  #mirrorLoaded = false;
  #watch: { stop(): void } | undefined;
  #lastError: string | null = null;
  #lastCatchUp: FleetStatus['last_catch_up'] = null;
  #saveTimer: NodeJS.Timeout | undefined;
  #pumpTimer: NodeJS.Timeout | undefined;
  #ledgerFlush = false;
  #running: Promise<void> = Promise.resolve();
  /** The stream (its creation time) the watch follows; '' before the first watch. */
  #stream = '';
  /** A full resync not yet applied whole: a restart must resync again. */
  #resyncing = false;
  #t0 = 0;
  /** Revision of this host's hello in the current session (ends a catch-up). */
  #hello = 0;
  #watchdogTimer: NodeJS.Timeout | undefined;

  private constructor(opts: FleetOptions) {
    this.#o = opts;
    this.#cfg = opts.config;
    this.#log = opts.logger;
    this.#clock = opts.clock ?? systemClock;
    this.#policies = new Set(opts.config.policies);
    this.#ledger = Ledger.open(opts.dir);
    this.#position = readPosition(opts.dir);
    const entries = opts.entries;
    const src: OwnSource = { get: (p, c) => entries.get(p, c), claimState: (k) => entries.claims.get(k) };
    this.#publisher = new Publisher({
      node: opts.config.node, src, ledger: this.#ledger, logger: this.#log, now: () => nowSeconds(this.#clock),
    });
    this.#applier = new Applier({
      node: opts.config.node,
      policies: this.#policies,
      target: { applyFleet: (n, items) => entries.applyFleet(n, items), claimEntries: () => entries.claims.entries() },
      publisher: this.#publisher,
      logger: this.#log,
      onApplied: () => this.#scheduleSave(),
      onCaughtUp: (mode, revision, released) => this.#caughtUp(mode, revision, released),
    });
  }

  /**
   * Opens the ledger (synchronously: a bad working dir fails the start),
   * follows the core's changes and connects in the background.
   */
  static start(opts: FleetOptions): Fleet {
    const f = new Fleet(opts);
    f.#follow();
    f.#markOwn();
    f.#running = f.#run();
    return f;
  }

  /* ---------------- this host's changes ---------------- */

  #follow(): void {
    const entries = this.#o.entries;
    this.#unsubscribe.push(entries.events.on((ev) => {
      if (ev.type === 'sets_reloaded' || !this.#policies.has(ev.policy)) return;
      this.#onEntryEvent(ev);
    }));
    this.#unsubscribe.push(entries.onClaimsChanged((keys) => {
      for (const key of keys) {
        if (!this.#policies.has(pkeyPolicy(key))) continue;
        if (hasLocalClaim(entries.claims.get(key)) || this.#publisher.published(key)) this.#publisher.mark(key);
      }
      this.#schedulePump();
    }));
  }

  #onEntryEvent(ev: EntryEvent): void {
    const pkey = pkeyOf(ev.policy, ev.cidr);
    if (ev.origin === 'api') {
      if (ev.type === 'added') this.#ledger.markApi(pkey, ev.creation);
      else if (ev.type === 'removed') {
        // The operator has the last word, fleet-wide: a revocation of every hold from before now.
        const at = nowSeconds(this.#clock);
        this.#ledger.unmarkApi(pkey);
        this.#ledger.revoke(pkey, at);
      }
      // Written before the request is answered: its answer is a continuation queued after this microtask.
      if (!this.#ledgerFlush) {
        this.#ledgerFlush = true;
        queueMicrotask(() => {
          this.#ledgerFlush = false;
          try {
            this.#ledger.flush();
          } catch (err) {
            this.#log.error({ err }, 'fleet: the ledger could not be written');
          }
        });
      }
    } else if (ev.type !== 'added' && ev.type !== 'updated' && this.#ledger.api.has(pkey)) {
      this.#ledger.unmarkApi(pkey);
    }
    if (ev.origin !== 'fleet' || this.#publisher.published(pkey)) this.#publisher.mark(pkey);
    this.#schedulePump();
  }

  /** At start: every CIDR this host may hold is dirty (the published mirror adds its own keys once loaded). */
  #markOwn(): void {
    const entries = this.#o.entries;
    for (const [key, st] of entries.claims.entries()) {
      if (this.#policies.has(pkeyPolicy(key)) && hasLocalClaim(st)) this.#publisher.mark(key);
    }
    for (const key of this.#ledger.api.keys()) if (this.#policies.has(pkeyPolicy(key))) this.#publisher.mark(key);
  }

  #schedulePump(): void {
    if (this.#pumpTimer !== undefined || !this.#connected || !this.#mirrorLoaded) return;
    // Next turn of the event loop: the changes of one commit go out together.
    this.#pumpTimer = setTimeout(() => {
      this.#pumpTimer = undefined;
      void this.#pump();
    }, 0);
  }

  async #pump(): Promise<void> {
    const e = this.#engine;
    if (e === undefined || !this.#connected || !this.#mirrorLoaded || this.#stopped) return;
    const ok = await this.#publisher.pump(e);
    if (!ok) {
      this.#lastError = 'publish failed';
      // Retried at the next reconnect, or in a while if the connection stays up.
      this.#pumpTimer = setTimeout(() => {
        this.#pumpTimer = undefined;
        void this.#pump();
      }, RETRY_MS);
    } else if (this.#publisher.depth > 0) {
      this.#schedulePump();
    }
  }

  /* ---------------- the connection ---------------- */

  async #run(): Promise<void> {
    const servers = this.#cfg.servers.map(redactUrl);
    while (!this.#stopped) {
      this.#log.info({ servers, node: this.#cfg.node, bucket: this.#cfg.bucket }, 'fleet: connecting');
      let engine: Engine;
      try {
        engine = await Engine.open(this.#cfg, connectionOptions(this.#cfg));
      } catch (err) {
        this.#lastError = (err as Error).message;
        this.#log.error({ err: this.#lastError }, `fleet: cannot open the bucket, retrying in ${RETRY_MS} ms`);
        await this.#sleep(RETRY_MS);
        continue;
      }
      if (this.#stopped) {
        await engine.close().catch(() => {});
        return;
      }
      this.#engine = engine;
      this.#connected = true;
      this.#lastError = null;
      this.#log.info({ server: redactUrl(engine.server) }, 'fleet: connected');
      void this.#watchStatus(engine);
      try {
        await this.#session(engine);
      } catch (err) {
        if (this.#stopped) return;
        this.#lastError = (err as Error).message;
        this.#log.error({ err: this.#lastError }, 'fleet: session failed, reconnecting');
        this.#connected = false;
        this.#watch?.stop();
        this.#engine = undefined;
        await engine.close().catch(() => {});
        await this.#sleep(RETRY_MS);
        continue;
      }
      return;
    }
  }

  /** Follows the bucket: the hello, the own keys (once), the watch; started again after each reconnect. */
  async #session(engine: Engine): Promise<void> {
    const hello = await engine.put(helloKey(this.#cfg.node), JSON.stringify({ version: this.#o.version, started: Date.now() }));
    this.#hello = hello;
    if (!this.#mirrorLoaded) {
      await this.#loadMirror(engine, hello);
      this.#mirrorLoaded = true;
    }
    this.#schedulePump();
    await this.#startWatch(engine, hello);
    this.#startWatchdog(engine);
  }

  /**
   * Every WATCHDOG_MS: the stream's last revision (the lag), and a watch
   * that stopped delivering while the stream moved on (its consumer was on
   * a server that died: seen with a cluster server killed) is started
   * again from what was received.
   */
  #startWatchdog(engine: Engine): void {
    if (this.#watchdogTimer !== undefined) return;
    let stalledAt = -1;
    const tick = async (): Promise<void> => {
      if (this.#stopped || this.#engine !== engine) {
        this.#watchdogTimer = undefined;
        return;
      }
      if (this.#connected && this.#watch !== undefined) {
        try {
          const info = await engine.info();
          this.#applier.streamLast = info.lastSeq;
          const behind = info.lastSeq > this.#applier.received;
          if (behind && this.#applier.received === stalledAt) {
            this.#log.warn({ received: this.#applier.received, last: info.lastSeq }, 'fleet: the watch stalled, starting it again');
            this.#watch.stop();
            await this.#startWatch(engine, this.#hello);
            stalledAt = -1;
          } else {
            stalledAt = behind ? this.#applier.received : -1;
          }
        } catch {
          /* no answer: the connection's own status says why */
        }
      }
      this.#watchdogTimer = setTimeout(() => void tick(), WATCHDOG_MS);
      this.#watchdogTimer.unref();
    };
    this.#watchdogTimer = setTimeout(() => void tick(), WATCHDOG_MS);
    this.#watchdogTimer.unref();
  }

  /** Reads this host's keys (up to its hello, the newest of them) into the publisher's mirror. */
  async #loadMirror(engine: Engine, hello: number): Promise<void> {
    let done: () => void = () => {};
    const loaded = new Promise<void>((r) => (done = r));
    const w = await engine.watch(nodeKeys(this.#cfg.node), 0, (key, rev, value) => {
      const k = parseKey(key);
      if (k !== undefined && k.kind === 'hold') {
        this.#publisher.observeHold(key, pkeyOf(k.policy, k.cidr), rev, value);
      } else if (k !== undefined && k.kind === 'revoke' && value !== undefined) {
        const v = decodeRevoke(value, k.cidr);
        if (typeof v !== 'string') this.#publisher.observeRevoke(pkeyOf(k.policy, k.cidr), v.at);
      }
      if (rev >= hello) done();
    });
    try {
      await loaded;
    } finally {
      w.stop();
    }
  }

  async #startWatch(engine: Engine, hello: number): Promise<void> {
    const info = await engine.info();
    const p = this.#position;
    let resumeFrom = 0;
    if (this.#stream !== '') {
      // A reconnect: on from what was received, unless the bucket was made again or a resync was under way.
      if (this.#stream === info.created && !this.#resyncing && this.#applier.received <= info.lastSeq) resumeFrom = this.#applier.received + 1;
    } else if (p.stream === info.created && p.revision > 0 && p.revision <= info.lastSeq) {
      resumeFrom = p.revision + 1;
    }
    const mode: CatchUp = resumeFrom > 0 ? 'resume' : 'full';
    this.#stream = info.created;
    if (mode === 'full') {
      this.#resyncing = true;
      await writePosition(this.#o.dir, NO_POSITION);
    }
    this.#log.info({ mode, from: resumeFrom, last: info.lastSeq, first: info.firstSeq, replicas: info.replicas }, 'fleet: catching up');
    this.#applier.begin(mode, resumeFrom, hello);
    this.#t0 = performance.now();
    this.#watch = await engine.watch('>', resumeFrom, (key, rev, value, created, pending) => this.#applier.entry(key, rev, value, created, pending));
  }

  #caughtUp(mode: CatchUp, revision: number, released: number): void {
    this.#lastCatchUp = { mode, revision, released, at: nowSeconds(this.#clock) };
    this.#log.info({ mode, revision, released, ms: Math.round(performance.now() - this.#t0) }, mode === 'full' ? 'fleet: resync done' : 'fleet: caught up');
    void this.#applier.idle().then(() => {
      if (mode === 'full' && this.#applier.catchingUp === undefined) this.#resyncing = false;
      this.#scheduleSave();
    });
  }

  async #watchStatus(engine: Engine): Promise<void> {
    for await (const s of engine.status()) {
      if (this.#stopped) return;
      if (s.type === 'disconnect') {
        this.#connected = false;
        this.#log.warn({ server: redactUrl(s.server) }, 'fleet: disconnected');
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.#log.info({ server: redactUrl(s.server) }, 'fleet: reconnected');
        this.#watch?.stop();
        this.#session(engine).catch((err: unknown) => {
          this.#lastError = (err as Error).message;
          this.#log.warn({ err: this.#lastError }, 'fleet: could not resume after the reconnect, retrying');
          void this.#retrySession(engine);
        });
      } else if (s.type === 'error') {
        this.#lastError = String(s.error?.message ?? s.error);
      }
    }
  }

  async #retrySession(engine: Engine): Promise<void> {
    while (!this.#stopped && this.#engine === engine) {
      await this.#sleep(RETRY_MS);
      if (!this.#connected) return; // the next reconnect starts a session
      try {
        this.#watch?.stop();
        await this.#session(engine);
        return;
      } catch (err) {
        this.#lastError = (err as Error).message;
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms).unref());
  }

  /* ---------------- position ---------------- */

  #scheduleSave(): void {
    if (this.#saveTimer !== undefined) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      writePosition(this.#o.dir, this.#current()).catch((err: unknown) => this.#log.warn({ err }, 'fleet: the position could not be saved'));
    }, 1000);
    this.#saveTimer.unref();
  }

  /** The position to save: the one read at start until a watch ran, none while a full resync is not applied whole. */
  #current(): Position {
    if (this.#stream === '') return this.#position;
    if (this.#resyncing) return NO_POSITION;
    return { stream: this.#stream, revision: this.#applier.applied };
  }

  /* ---------------- status ---------------- */

  get connected(): boolean {
    return this.#connected;
  }

  status(): FleetStatus {
    const now = this.#clock.nowMs();
    const peers: FleetPeer[] = [...this.#applier.peers]
      .map(([node, p]) => ({ node, last_seen: Math.floor(p.lastSeen / 1000), messages: p.messages }))
      .sort((a, b) => a.node.localeCompare(b.node));
    return {
      enabled: true,
      node: this.#cfg.node,
      bucket: this.#cfg.bucket,
      policies: this.#cfg.policies,
      connected: this.#connected,
      server: this.#connected && this.#engine !== undefined ? redactUrl(this.#engine.server) : null,
      servers: this.#cfg.servers.map(redactUrl),
      applied: { revision: this.#applier.applied, received: this.#applier.received },
      catching_up: this.#applier.catchingUp ?? null,
      last_catch_up: this.#lastCatchUp,
      lag: { messages: this.#applier.lagMessages, seconds: Math.round(this.#applier.lagSeconds(now) * 1000) / 1000 },
      outbox: this.#publisher.depth,
      published: this.#publisher.sent,
      peers,
      last_error: this.#lastError,
    };
  }

  /** The fleet's OpenMetrics families (appended to GET /v1/metrics?format=prometheus). */
  metricLines(): string[] {
    const s = this.status();
    const l: string[] = [];
    const gauge = (name: string, help: string, value: number, unit?: string): void => {
      l.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      if (unit !== undefined) l.push(`# UNIT ${name} ${unit}`);
      l.push(`${name} ${value}`);
    };
    gauge('couic_fleet_connected', 'Whether couic is connected to a NATS server of its fleet (1) or not (0).', s.connected ? 1 : 0);
    gauge('couic_fleet_lag_messages', 'Changes of the fleet bucket not yet applied on this host.', s.lag.messages);
    gauge('couic_fleet_lag_seconds', 'Age of the oldest change of the fleet bucket not yet applied on this host.', s.lag.seconds, 'seconds');
    gauge('couic_fleet_outbox_entries', 'Changes of this host not yet in the fleet bucket.', s.outbox);
    gauge('couic_fleet_applied_revision', 'Revision of the fleet bucket applied on this host.', s.applied.revision);
    gauge('couic_fleet_peers', 'Other fleet nodes seen in the bucket.', s.peers.length);
    return l;
  }

  /** Stops following and publishing; saves the position; closes the connection (publishing what it can first). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    const e = this.#engine;
    if (e !== undefined && this.#connected && this.#mirrorLoaded) {
      // A stop right after a ban still shares it (bounded: a dead server does not hold the stop).
      await Promise.race([this.#publisher.pump(e), this.#sleep(2000)]);
    }
    this.#stopped = true;
    for (const u of this.#unsubscribe) u();
    if (this.#pumpTimer !== undefined) clearTimeout(this.#pumpTimer);
    if (this.#saveTimer !== undefined) clearTimeout(this.#saveTimer);
    if (this.#watchdogTimer !== undefined) clearTimeout(this.#watchdogTimer);
    this.#watch?.stop();
    await Promise.race([this.#applier.idle(), this.#sleep(2000)]);
    this.#applier.stop();
    try {
      writePositionSync(this.#o.dir, this.#current());
    } catch (err) {
      this.#log.warn({ err }, 'fleet: the position could not be saved');
    }
    this.#ledger.close();
    this.#connected = false;
    if (e !== undefined) await e.close().catch(() => {});
    await Promise.race([this.#running, this.#sleep(1000)]);
    this.#log.info('fleet: stopped');
  }
}
