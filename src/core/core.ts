/**
 * Builds the daemon core (without the API): journal replay -> state ->
 * supervised helper (state pushed with REPLACE) -> EntryStore with expiry.
 * Used by the daemon (src/daemon/app.ts), the tests and the bench.
 */
import type { Logger } from 'pino';
import { nowSeconds, systemClock, type Clock } from '../domain/clock.js';
import type { Helper } from '../xdp/helper.js';
import { EntryStore } from './entries.js';
import { Journal, type ReplayStats } from './journal/journal.js';
import { Mutex } from './kernel/mutex.js';
import { HelperSupervisor, type BackoffOptions } from './kernel/supervisor.js';
import { ClaimTable } from './state/claims.js';
import { ExpiryHeap } from './state/expiry.js';
import { ReplayLoader } from './state/replay.js';
import { EntryTable } from './state/table.js';
import { TagRegistry } from './state/tags.js';

export interface CoreOptions {
  /** Journal directory. */
  readonly journalDir: string;
  readonly fsync?: boolean;
  readonly compactAfter?: number;
  /** Starts one helper instance (resolves after HELLO). */
  readonly startHelper: () => Promise<Helper>;
  readonly lpmOnly?: boolean;
  readonly batching?: boolean;
  readonly maxPending?: number;
  readonly helperWaitMs?: number;
  readonly backoff?: BackoffOptions;
  readonly logger: Logger;
  /** @default systemClock */
  readonly clock?: Clock;
}

export interface Core {
  readonly entries: EntryStore;
  readonly supervisor: HelperSupervisor;
  readonly journal: Journal;
  readonly replay: ReplayStats & { readonly entries: number; readonly expiredWhileDown: number };
  /** Drains the queue, closes the journal and the helper. */
  close(): Promise<void>;
}

export async function openCore(opts: CoreOptions): Promise<Core> {
  // The helper loads and attaches while the journal is replayed.
  const starting = opts.startHelper();
  starting.catch(() => {});
  try {
    return await openWith(opts, starting);
  } catch (err) {
    await starting.then((h) => h.close(), () => {});
    throw err;
  }
}

async function openWith(opts: CoreOptions, starting: Promise<Helper>): Promise<Core> {
  const table = new EntryTable({ lpmOnly: opts.lpmOnly ?? false });
  const tags = new TagRegistry();
  const heap = new ExpiryHeap(table);
  const claims = new ClaimTable();
  const loader = new ReplayLoader(table, tags, claims);
  const journalLog = opts.logger.child({ module: 'journal' });
  const { journal, stats } = await Journal.open(
    { dir: opts.journalDir, ...(opts.fsync === undefined ? {} : { fsync: opts.fsync }), logger: journalLog },
    loader,
  );
  const clock = opts.clock ?? systemClock;
  const expiredWhileDown = loader.finish(heap, nowSeconds(clock));
  const replay = { ...stats, entries: table.size, expiredWhileDown };
  journalLog.info({ ...replay, tags: tags.size }, 'journal replayed');

  const lock = new Mutex();
  let store: EntryStore | undefined;
  const supervisor = new HelperSupervisor({
    lock,
    logger: opts.logger.child({ module: 'supervisor' }),
    ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
    startHelper: opts.startHelper,
    resync: (h, reason) => {
      if (store === undefined) throw new Error('state not ready');
      return store.resync(h, reason);
    },
  });
  const entries = new EntryStore(
    {
      supervisor, journal, table, tags, lock, claims,
      logger: opts.logger.child({ module: 'entries' }),
      ...(opts.batching === undefined ? {} : { batching: opts.batching }),
      ...(opts.maxPending === undefined ? {} : { maxPending: opts.maxPending }),
      ...(opts.helperWaitMs === undefined ? {} : { helperWaitMs: opts.helperWaitMs }),
      ...(opts.compactAfter === undefined ? {} : { compactAfter: opts.compactAfter }),
      heap,
      clock,
    },
  );
  store = entries;
  try {
    await supervisor.start(starting);
  } catch (err) {
    await journal.close();
    throw err;
  }
  entries.start();

  let closing: Promise<void> | undefined;
  return {
    entries,
    supervisor,
    journal,
    replay,
    close(): Promise<void> {
      closing ??= (async () => {
        supervisor.quiesce();
        await entries.drain();
        await journal.close();
        await supervisor.stop();
      })();
      return closing;
    },
  };
}
