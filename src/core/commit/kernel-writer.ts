/**
 * Planned ops to the kernel: BATCH records written from the op columns,
 * sent in one call or in chunks, and the fix-up batch that puts keys back
 * when the kernel refused part of a batch. Counts the helper round trips
 * (EntryStore.helperCalls).
 */
import { keyPrefixLen, keyToBytes } from '../../net/keys.js';
import { v4KeyAddr } from '../../net/v4-key.js';
import type { OpStatus } from '../../xdp/abi.js';
import type { Helper } from '../../xdp/helper.js';
import { BatchRecords } from '../../xdp/protocol.js';
import type { MapOp, OpKind } from '../../xdp/types.js';
import type { RecordEncoder } from '../journal/journal.js';
import { PLANNED, type OpList } from '../plan/op-list.js';
import { storeFamily, storePolicy } from '../state/table.js';
import { journalOps } from './journal-frames.js';

/** Ops per BATCH call when a batch is sent in chunks (see sendPlan). */
const SEND_CHUNK = 8_192;
/** Batches of up to this many ops go in one BATCH call (and may be sent early). */
export const SEND_WHOLE_MAX = 32_768;

/** The kernel's kind for a planned op: adds and updates are both upserts. */
const kernelKind = (kind: number): OpKind => (kind === PLANNED.DELETE ? 'delete' : 'upsert');

/** A key as the kernel should hold it after a fix-up (entry undefined: absent). */
export interface KernelFix {
  readonly store: number;
  readonly key: string;
  /** The tag id the key should have; undefined: it should be absent. */
  readonly tagId: number | undefined;
}

/** `key` of `store` as a MapOp (`known`: its address bytes when at hand). */
export function kernelOp(kind: OpKind, store: number, key: string, tagId: number, known?: Uint8Array): MapOp {
  const family = storeFamily(store);
  let addr = known;
  let prefixLen: number;
  if (addr !== undefined) {
    prefixLen = keyPrefixLen(key);
  } else {
    addr = new Uint8Array(family === 4 ? 4 : 16);
    prefixLen = keyToBytes(key, family, addr);
  }
  return { kind, policy: storePolicy(store), family, prefixLen, addr, tagId };
}

export interface KernelWriterOptions {
  /** One BATCH per batch (else one call per op, Couic's way, for comparison). */
  readonly batching: boolean;
}

export class KernelWriter {
  readonly #batching: boolean;
  #calls = 0;

  constructor(opts: KernelWriterOptions) {
    this.#batching = opts.batching;
  }

  get batching(): boolean {
    return this.#batching;
  }

  /** Helper round trips carrying map ops (BATCH requests). */
  get calls(): number {
    return this.#calls;
  }

  /** Counts a BATCH sent by the caller itself (an early send). */
  countCall(): void {
    this.#calls += 1;
  }

  async send(h: Helper, rec: BatchRecords): Promise<OpStatus[]> {
    if (rec.length === 0) return [];
    if (this.#batching) {
      this.#calls += 1;
      return h.applyRecords(rec);
    }
    const out: OpStatus[] = [];
    for (let i = 0; i < rec.length; i += 1) {
      this.#calls += 1;
      const [s] = await h.applyRecords(rec.slice(i, i + 1));
      out.push(s ?? 'error');
    }
    return out;
  }

  /** The BATCH records of ops [from, to), written from the op columns (no MapOp per IPv4 op). */
  records(ops: OpList, from: number, to: number): BatchRecords {
    const c = ops.cols;
    const rec = new BatchRecords(to - from);
    for (let i = from; i < to; i += 1) {
      const kind = kernelKind(c.kind[i]!);
      const store = c.store[i]!;
      const k4 = c.k4[i]!;
      if (k4 >= 0) rec.putV4(kind, storePolicy(store), v4KeyAddr(k4), k4 % 64, c.tagId[i]!);
      else rec.put(kernelOp(kind, store, ops.keyAt(i), c.tagId[i]!, ops.addrAt(i)));
    }
    return rec;
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
   * (the journal write then overlaps the helper's work).
   */
  async sendPlan(h: Helper, ops: OpList, enc: RecordEncoder, encoded: () => void): Promise<OpStatus[]> {
    if (!this.#batching || ops.length <= SEND_WHOLE_MAX) {
      const p = this.send(h, this.records(ops, 0, ops.length));
      p.catch(() => {}); // awaited below
      journalOps(enc, ops, 0, ops.length);
      encoded();
      return await p;
    }
    this.#calls += 1;
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
      const p = h.applyRecords(this.records(ops, from, to));
      p.catch(() => {}); // awaited in order below
      inFlight.push(p);
      journalOps(enc, ops, from, to);
      if (inFlight.length >= 2) await collect();
    }
    encoded();
    while (inFlight.length > 0) await collect();
    return statuses;
  }

  /**
   * Puts each key of `fix` in the kernel as it says (upserted with its tag
   * id, or deleted). Throws when the helper fails or refuses: the caller
   * then has the supervisor resync it from the state.
   */
  async restore(h: Helper, fix: readonly KernelFix[]): Promise<void> {
    const ops = fix.map(({ store, key, tagId }) =>
      tagId === undefined ? kernelOp('delete', store, key, 0) : kernelOp('upsert', store, key, tagId));
    const st = await this.send(h, BatchRecords.of(ops));
    if (st.some((x) => x !== 'ok' && x !== 'absent')) throw new Error(`restore statuses: ${st.join(',')}`);
  }
}
