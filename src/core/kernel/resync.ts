/**
 * Making a helper's kernel maps hold exactly the state: at start and after
 * every helper restart (the supervisor calls it with the kernel lock held).
 */
import type { Logger } from 'pino';
import { v4KeyAddr } from '../../net/v4-key.js';
import type { OpStatus } from '../../xdp/abi.js';
import type { Helper } from '../../xdp/helper.js';
import { BatchRecords } from '../../xdp/protocol.js';
import type { KernelEntry } from '../../xdp/types.js';
import { storeFamily, storePolicy, type EntryTable } from '../state/table.js';

/** Entries per BATCH when filling empty kernel maps. */
const RESYNC_CHUNK = 65_536;

/** Every entry of `table` as the kernel should hold it (addresses derived from the keys). */
export function* kernelEntries(table: EntryTable): IterableIterator<KernelEntry> {
  for (let store = 0; store < 4; store += 1) {
    const family = storeFamily(store);
    const policy = storePolicy(store);
    for (const slot of table.slots(store)) {
      const addr = new Uint8Array(family === 4 ? 4 : 16);
      const prefixLen = table.addrOf(slot, addr);
      yield { policy, family, prefixLen, addr, tagId: table.tagId[slot]! };
    }
  }
}

/**
 * Makes `h` hold exactly `table`. Maps that are empty (HELLO counts: a
 * fresh helper without pinned maps) are simply filled with BATCHes of
 * upserts; maps holding entries (re-used pins) are REPLACEd, which also
 * removes what the state no longer has. On a fresh start over re-used
 * pinned maps the per-tag counters are zeroed first (tag ids are not
 * persistent). Throws when the kernel refuses an entry: serving a state the
 * kernel does not enforce is not an option.
 */
export async function resyncKernel(h: Helper, reason: 'start' | 'restart', table: EntryTable, log: Logger): Promise<void> {
  const t0 = performance.now();
  if (reason === 'start' && h.hello.features.reused) {
    const ids: number[] = [];
    for (let id = 1; id < h.hello.maxTags; id += 1) ids.push(id);
    await h.resetTags(ids);
  }
  const empty = h.hello.count.every((c) => c === 0);
  const { statuses, removed } = empty ? await fillEmpty(h, table) : await h.replaceAll(kernelEntries(table));
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
    // Fail the start (the daemon exits) or the restart (the supervisor retries).
    const why = Object.entries(byStatus).map(([s, n]) => `${s}: ${n}`).join(', ');
    const hint = byStatus.full !== undefined ? ': raise the [dataplane] map capacities (drop_exact, drop_cidr, ignore_exact, ignore_cidr)' : '';
    log.error({ failed, byStatus, reason }, 'resync: the kernel refused some entries');
    throw new Error(`resync (${reason}): the kernel refused ${failed} of ${statuses.length} entries of the journal (${why})${hint}`);
  }
  log.info({ entries: statuses.length, removed, reason, ms, pid: h.pid }, 'kernel maps resynced from state');
}

/**
 * Writes the whole state into empty kernel maps: BATCHes of upserts of
 * RESYNC_CHUNK entries, two in flight, so the helper applies one while the
 * next is encoded. Records are written straight from the table, a chunk at
 * a time: no MapOp and no address array per entry.
 */
async function fillEmpty(h: Helper, table: EntryTable): Promise<{ statuses: OpStatus[]; removed: number }> {
  const inFlight: Promise<OpStatus[]>[] = [];
  const statuses: OpStatus[] = [];
  const collect = async (): Promise<void> => {
    const st = await inFlight.shift()!;
    for (let i = 0; i < st.length; i += 1) statuses.push(st[i]!);
  };
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
    for (const slot of table.slots(store)) {
      const tagId = table.tagId[slot]!;
      if (family === 4) {
        const k4 = table.key4[slot]!;
        rec.putV4('upsert', policy, v4KeyAddr(k4), k4 % 64, tagId);
      } else {
        const prefixLen = table.addrOf(slot, addr6);
        rec.put({ kind: 'upsert', policy, family, prefixLen, addr: addr6, tagId });
      }
      if (rec.length === RESYNC_CHUNK) await flush();
    }
  }
  if (rec.length > 0) await flush();
  while (inFlight.length > 0) await collect();
  return { statuses, removed: 0 };
}
