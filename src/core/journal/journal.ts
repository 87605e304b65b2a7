/**
 * The durable state: an append-only journal (write-ahead log) plus periodic
 * snapshots, both in one binary format.
 *
 *   <dir>/snapshot.bin            header "COUICSNP" u32 version u32 walSeq,
 *                                 frames of PUT records, then a frame with END
 *   <dir>/wal-<seq>.log           header "COUICWAL" u32 version u32 seq, frames
 *
 * A frame is `u32 magic, u32 len, u32 crc32(payload), payload`, payload =
 * records back to back. One batch of mutations = one frame = one write
 * to the wal, opened O_DSYNC when fsync is on (the write returns once the
 * data is durable, like write + fdatasync; group commit), so a batch is
 * replayed entirely or not at all. Records:
 *
 *   PUT 1  u8 store, u8 keyLen, key (latin1), u32 creation, f64 expiration,
 *          u16 tagLen, tag (utf8)                 insert or overwrite
 *   DEL 2  u8 store, u8 keyLen, key                delete
 *   END 3  u32 count                               last record of a snapshot
 *   CLAIMS 4  u8 store, u8 keyLen, key, u8 flags (1 = managed), u16 n,
 *          n x (u8 ownerLen, owner (latin1), u32 creation, f64 expiration)
 *                                                 the claims on a drop CIDR
 *                                                 (n = 0: none), src/core/state/claims.ts
 *   CLAIMS2 5  as CLAIMS, each claim followed by u8 t, tag (utf8, t - 1
 *          bytes; t = 0: no tag of its own):
 *          claims that carry a tag of their own (a fleet node's hold) or
 *          claims on an ignore CIDR (store 2-3); CLAIMS stays what is
 *          written for every other claim state, so a journal without
 *          fleet claims is the same as before the fleet existed
 *
 * Replay = the snapshot (if any) then every wal with seq >= its walSeq, in
 * order. A frame cut short at the end of the last wal (a crash during a
 * write) is cut off and appends continue after the last good frame; any
 * other damage keeps the file aside and every intact frame
 * (recovery.ts, docs/journal.md).
 *
 * Compaction (compact()): a new wal is started, the state is serialized
 * synchronously (so it is exactly the state at the switch), written to
 * snapshot.tmp, fsync'd, renamed over snapshot.bin, then the older wals are
 * deleted. A crash at any step leaves a replayable set.
 */
import { constants as fsc, promises as fsp, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';

import {
  FILE_HDR, FRAME_HDR, FRAME_MAGIC, REC_CLAIMS, REC_CLAIMS2, REC_DEL, REC_END, REC_PUT, SNAP_MAGIC, WAL_MAGIC,
  fileHeader, readHeader, type JournalClaim, type ReplaySink,
} from './frames.js';
import { describe, keepAside, rewriteKept, scanFrames, tornFrame, type FileDamage } from './recovery.js';

export { parseFrames, REC_CLAIMS, REC_CLAIMS2, REC_DEL, REC_END, REC_PUT } from './frames.js';
export type { JournalClaim, ParseResult, ReplaySink } from './frames.js';
export type { FileDamage } from './recovery.js';


/** Frames up to this size are written synchronously (see append). */
const SYNC_WRITE_MAX = 64 * 1024;

/** Snapshot frames are cut at about this size. */
const SNAP_FRAME_TARGET = 1 << 20;

/** Writes `v` (0..255) in decimal at `o`; returns the offset after it. */
function writeDec(b: Buffer, o: number, v: number): number {
  if (v >= 100) b[o++] = 0x30 + Math.floor(v / 100);
  if (v >= 10) b[o++] = 0x30 + (Math.floor(v / 10) % 10);
  b[o++] = 0x30 + (v % 10);
  return o;
}

/** Accumulates records into frames. */
export class RecordEncoder {
  #buf: Buffer;
  #off = 0;
  /** Offset of the current frame's header, -1 when no frame is open. */
  #frameStart = -1;
  #records = 0;
  #frameRecords = 0;
  /** Auto-framed encoders: closed frames left in earlier buffers, and their bytes. */
  #chunks: Buffer[] = [];
  #sealed = 0;
  /** UTF-8 bytes of the tags written so far (bounded). */
  readonly #tagBytes = new Map<string, Buffer>();

  readonly #autoFrame: number;

  /** `autoFrameBytes`: cut frames at about this size (snapshots); 0 = one frame until endFrame(). */
  constructor(initial = 4096, header?: Buffer, autoFrameBytes = 0) {
    this.#autoFrame = autoFrameBytes;
    this.#buf = Buffer.allocUnsafe(Math.max(initial, 64));
    if (header !== undefined) {
      this.#ensure(header.length);
      header.copy(this.#buf, 0);
      this.#off = header.length;
    }
  }

  /** Records written so far. */
  get records(): number {
    return this.#records;
  }

  get byteLength(): number {
    return this.#sealed + this.#off;
  }

  /** Records in the open frame. */
  get frameRecords(): number {
    return this.#frameRecords;
  }

  #ensure(n: number): void {
    if (this.#off + n <= this.#buf.length) return;
    const keep = this.#frameStart >= 0 ? this.#frameStart : this.#off;
    if (this.#autoFrame > 0 && keep > 0) {
      // A snapshot (tens of MiB) is not doubled and copied as it grows,
      // leaving each smaller copy as garbage: the closed frames stay where
      // they are, only the open one moves to a new buffer. finish() joins them.
      this.#chunks.push(this.#buf.subarray(0, keep));
      this.#sealed += keep;
      const open = this.#off - keep;
      const b = Buffer.allocUnsafe(Math.max(this.#buf.length, 8 * this.#autoFrame, 2 * (open + n)));
      this.#buf.copy(b, 0, keep, this.#off);
      this.#buf = b;
      this.#off = open;
      if (this.#frameStart >= 0) this.#frameStart = 0;
      return;
    }
    let size = this.#buf.length * 2;
    while (size < this.#off + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.#buf.copy(b, 0, 0, this.#off);
    this.#buf = b;
  }

  #open(): void {
    if (this.#frameStart >= 0) return;
    this.#ensure(FRAME_HDR);
    this.#frameStart = this.#off;
    this.#off += FRAME_HDR;
    this.#frameRecords = 0;
  }

  put(store: number, key: string, tag: string, creation: number, expiration: number): void {
    this.#open();
    const kl = key.length;
    this.#ensure(3 + kl + 14 + tag.length * 3);
    const b = this.#buf;
    let o = this.#off;
    b[o] = REC_PUT;
    b[o + 1] = store;
    b[o + 2] = kl;
    o += 3;
    b.write(key, o, kl, 'latin1');
    this.#putTail(o + kl, tag, creation, expiration);
  }

  /**
   * put() of an IPv4 key given by its number (addr.ts v4KeyNum): the same
   * bytes as put(store, v4KeyText(k4), ...) without building the text, once
   * per op of a million-entry set reload.
   */
  putV4(store: number, k4: number, tag: string, creation: number, expiration: number): void {
    this.#open();
    this.#ensure(3 + 18 + 14 + tag.length * 3);
    const b = this.#buf;
    b[this.#off] = REC_PUT;
    b[this.#off + 1] = store;
    this.#putTail(this.#v4Key(k4, this.#off + 2), tag, creation, expiration);
  }

  /** The end of a PUT record whose key ends at `o`. */
  #putTail(o: number, tag: string, creation: number, expiration: number): void {
    const b = this.#buf;
    // Byte by byte: these run once per op of a batch, where Buffer's
    // write methods cost more than the bytes (and most expirations are 0).
    const c = creation >>> 0;
    b[o] = c & 255;
    b[o + 1] = (c >>> 8) & 255;
    b[o + 2] = (c >>> 16) & 255;
    b[o + 3] = c >>> 24;
    if (expiration === 0) {
      for (let k = 4; k < 12; k += 1) b[o + k] = 0;
    } else {
      b.writeDoubleLE(expiration, o + 4);
    }
    o += 12;
    const tl = tag.length === 0 ? 0 : this.#tag(tag, o + 2);
    b[o] = tl & 255;
    b[o + 1] = tl >>> 8;
    this.#off = o + 2 + tl;
    this.#records += 1;
    this.#frameRecords += 1;
    if (this.#autoFrame > 0 && this.#off - this.#frameStart >= this.#autoFrame) this.endFrame();
  }

  /** Writes the UTF-8 bytes of `tag` at `o` (a batch repeats a few tags: their bytes are kept); returns their length. */
  #tag(tag: string, o: number): number {
    let bytes = this.#tagBytes.get(tag);
    if (bytes === undefined) {
      bytes = Buffer.from(tag, 'utf8');
      if (this.#tagBytes.size < 256) this.#tagBytes.set(tag, bytes);
    }
    const b = this.#buf;
    for (let k = 0; k < bytes.length; k += 1) b[o + k] = bytes[k]!;
    return bytes.length;
  }

  /** del() of an IPv4 key given by its number, as putV4. */
  delV4(store: number, k4: number): void {
    this.#open();
    this.#ensure(3 + 18);
    this.#buf[this.#off] = REC_DEL;
    this.#buf[this.#off + 1] = store;
    this.#off = this.#v4Key(k4, this.#off + 2);
    this.#records += 1;
    this.#frameRecords += 1;
  }

  /** Writes the key length byte at `at`, then "a.b.c.d/len"; returns the offset after it. */
  #v4Key(k4: number, at: number): number {
    const b = this.#buf;
    const len = k4 % 64;
    const a = (k4 - len) / 64;
    let o = writeDec(b, at + 1, (a >>> 24) & 255);
    b[o] = 0x2e;
    o = writeDec(b, o + 1, (a >>> 16) & 255);
    b[o] = 0x2e;
    o = writeDec(b, o + 1, (a >>> 8) & 255);
    b[o] = 0x2e;
    o = writeDec(b, o + 1, a & 255);
    b[o] = 0x2f;
    o = writeDec(b, o + 1, len);
    b[at] = o - at - 1;
    return o;
  }

  del(store: number, key: string): void {
    this.#open();
    const kl = key.length;
    this.#ensure(3 + kl);
    const b = this.#buf;
    const o = this.#off;
    b[o] = REC_DEL;
    b[o + 1] = store;
    b[o + 2] = kl;
    b.write(key, o + 3, kl, 'latin1');
    this.#off = o + 3 + kl;
    this.#records += 1;
    this.#frameRecords += 1;
  }

  /** The whole claim state of a CIDR (an empty list = unclaimed); `key` is the CIDR text, `store` its entry store. */
  claims(store: number, key: string, managed: boolean, claims: readonly JournalClaim[]): void {
    this.#open();
    const v2 = store >= 2 || claims.some((c) => c.tag !== undefined);
    const kl = key.length;
    let size = 6 + kl;
    for (const c of claims) size += 14 + c.owner.length + (c.tag === undefined ? 0 : Buffer.byteLength(c.tag));
    this.#ensure(size);
    const b = this.#buf;
    let o = this.#off;
    b[o] = v2 ? REC_CLAIMS2 : REC_CLAIMS;
    b[o + 1] = store;
    b[o + 2] = kl;
    b.write(key, o + 3, kl, 'latin1');
    o += 3 + kl;
    b[o] = managed ? 1 : 0;
    b.writeUInt16LE(claims.length, o + 1);
    o += 3;
    for (const c of claims) {
      const ol = c.owner.length;
      b[o] = ol;
      b.write(c.owner, o + 1, ol, 'latin1');
      o += 1 + ol;
      b.writeUInt32LE(c.creation >>> 0, o);
      b.writeDoubleLE(c.expiration, o + 4);
      o += 12;
      if (v2) {
        const tl = c.tag === undefined ? 0 : b.write(c.tag, o + 1, Math.min(254, Buffer.byteLength(c.tag)), 'utf8');
        b[o] = c.tag === undefined ? 0 : tl + 1;
        o += 1 + tl;
      }
    }
    this.#off = o;
    this.#records += 1;
    this.#frameRecords += 1;
    if (this.#autoFrame > 0 && this.#off - this.#frameStart >= this.#autoFrame) this.endFrame();
  }

  end(count: number): void {
    this.#open();
    this.#ensure(5);
    this.#buf[this.#off] = REC_END;
    this.#buf.writeUInt32LE(count >>> 0, this.#off + 1);
    this.#off += 5;
    this.#frameRecords += 1;
  }

  /** Closes the open frame (header + crc). */
  endFrame(): void {
    if (this.#frameStart < 0) return;
    const s = this.#frameStart;
    const len = this.#off - s - FRAME_HDR;
    this.#buf.writeUInt32LE(FRAME_MAGIC, s);
    this.#buf.writeUInt32LE(len, s + 4);
    this.#buf.writeUInt32LE(crc32(this.#buf.subarray(s + FRAME_HDR, this.#off)), s + 8);
    this.#frameStart = -1;
  }

  /** Closes the open frame and returns everything written (a view, valid until the next write). */
  finish(): Buffer {
    this.endFrame();
    if (this.#chunks.length > 0) {
      this.#chunks.push(this.#buf.subarray(0, this.#off));
      this.#buf = Buffer.concat(this.#chunks, this.#sealed + this.#off);
      this.#off = this.#buf.length;
      this.#chunks = [];
      this.#sealed = 0;
    }
    return this.#buf.subarray(0, this.#off);
  }
}


const walName = (seq: number): string => `wal-${String(seq).padStart(10, '0')}.log`;
const WAL_RE = /^wal-(\d{10})\.log$/;

export interface JournalOptions {
  readonly dir: string;
  /** Appends are durable before they resolve (O_DSYNC writes). @default true */
  readonly fsync?: boolean;
  readonly logger: Logger;
}

export interface ReplayStats {
  readonly snapshotRecords: number;
  readonly walRecords: number;
  readonly walFiles: number;
  /** Bytes cut from the end of the last wal (torn write). */
  readonly tornBytes: number;
  /** Every damaged, torn or short file met, and what was kept (docs/journal.md). */
  readonly damage: readonly FileDamage[];
  readonly ms: number;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class Journal {
  readonly #dir: string;
  readonly #fsync: boolean;
  /** O_DSYNC when fsync is on (appends are durable when the write returns). */
  readonly #syncFlag: number;
  readonly #log: Logger;
  #fh: fsp.FileHandle | undefined;
  #seq = 0;
  #size = 0;
  #sinceSnapshot = 0;
  #compacting: Promise<void> | undefined;
  #closed = false;

  private constructor(opts: JournalOptions) {
    this.#dir = opts.dir;
    this.#fsync = opts.fsync ?? true;
    this.#syncFlag = this.#fsync ? fsc.O_DSYNC : 0;
    this.#log = opts.logger;
  }

  /** Records appended (or replayed from wals) since the last snapshot. */
  get recordsSinceSnapshot(): number {
    return this.#sinceSnapshot;
  }

  get seq(): number {
    return this.#seq;
  }

  get compacting(): boolean {
    return this.#compacting !== undefined;
  }

  /** Opens `dir` (created if missing), replays it into `sink`, and makes it ready for appends. */
  static async open(opts: JournalOptions, sink: ReplaySink): Promise<{ journal: Journal; stats: ReplayStats }> {
    const t0 = performance.now();
    const j = new Journal(opts);
    const log = opts.logger;
    await fsp.mkdir(opts.dir, { recursive: true, mode: 0o755 });
    const names = await fsp.readdir(opts.dir);
    for (const n of names) {
      if (n.endsWith('.tmp')) await fsp.rm(join(opts.dir, n), { force: true });
    }
    const wals = names
      .map((n) => WAL_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const damage: FileDamage[] = [];
    const report = (d: FileDamage): void => {
      damage.push(d);
      const fields = { file: d.file, regions: d.regions, recordsKept: d.recordsKept, recordsLost: d.recordsLost ?? 'unknown', keptAs: d.keptAs };
      if (d.kind === 'damaged') log.error(fields, `journal: damaged file, intact frames kept: ${describe(d)}`);
      else log.warn(fields, `journal: ${describe(d)}`);
    };

    let walSeq = 0;
    let snapshotRecords = 0;
    const snapPath = join(opts.dir, 'snapshot.bin');
    let snap: Buffer | undefined;
    try {
      snap = await fsp.readFile(snapPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (snap !== undefined) {
      // The header names the first wal to replay; the wal it names always exists (compact() creates it before
      // the snapshot), so a number naming no wal is a damaged header, not a reason to skip wals.
      const named = readHeader(snap, SNAP_MAGIC);
      const s = named !== undefined && (wals.length === 0 || wals.includes(named)) ? named : undefined;
      const r = scanFrames(snap, FILE_HDR, sink);
      // A snapshot is only renamed into place once complete and fsync'd: any bad byte in it is damage.
      // Without its header, the wals to replay are all those present (older ones replay idempotently: see docs/journal.md).
      walSeq = s ?? wals[0] ?? 1;
      snapshotRecords = r.records;
      if (s === undefined || r.skipped.length > 0 || r.tail !== undefined || !r.ended || r.endCount !== r.records) {
        const keptAs = await keepAside(snapPath);
        const end = new RecordEncoder(16);
        end.end(r.records);
        // A new END goes after what is kept (the kept runs may hold the old END, whose count no longer holds; the last END counts).
        await rewriteKept(snapPath, { header: fileHeader(SNAP_MAGIC, walSeq), buf: snap, kept: r.kept, trailer: Buffer.from(end.finish()) });
        report({
          file: snapPath, kind: 'damaged', header: s === undefined,
          // Cut at a frame boundary, only the missing END tells: a region of 0 bytes where the file ends.
          regions: r.skipped.length === 0 && r.tail === undefined ? [{ offset: snap.length, bytes: 0 }] : [...r.skipped, ...(r.tail === undefined ? [] : [r.tail])],
          recordsKept: r.records, recordsLost: r.ended ? Math.max(0, r.endCount - r.records) : undefined, keptAs,
        });
      }
    }
    snap = undefined;

    let walRecords = 0;
    let walFiles = 0;
    let tornBytes = 0;
    let last: { seq: number; goodEnd: number; size: number } | undefined;
    const lastSeq = wals[wals.length - 1];
    for (const seq of wals) {
      const path = join(opts.dir, walName(seq));
      // Older wals are in the snapshot (a compaction stopped before deleting them): the next compaction deletes them.
      if (seq < walSeq) continue;
      const buf = await fsp.readFile(path);
      const isLast = seq === lastSeq;
      if (buf.length < FILE_HDR) {
        // A crash while the file was being created: no frame can be in it.
        // Only the last wal can be caught half-created; a sealed one that short is damage (kept aside if not empty).
        const keptAs = buf.length > 0 && !isLast ? await keepAside(path) : undefined;
        report({
          file: path, kind: keptAs === undefined ? 'short' : 'damaged', header: true, regions: [{ offset: 0, bytes: buf.length }],
          recordsKept: 0, recordsLost: isLast ? 0 : undefined, keptAs,
        });
        if (isLast) last = { seq, goodEnd: 0, size: buf.length };
        else await rewriteKept(path, { header: fileHeader(WAL_MAGIC, seq), buf, kept: [] });
        continue;
      }
      const headerOk = readHeader(buf, WAL_MAGIC) === seq;
      const r = scanFrames(buf, FILE_HDR, sink);
      walRecords += r.records;
      walFiles += 1;
      let goodEnd = r.kept.length === 0 ? FILE_HDR : r.kept[r.kept.length - 1]![1];
      let size = goodEnd;
      // The one thing a crash can do: leave part of the last write at the end of the last wal.
      const tornTail = r.tail !== undefined && isLast && (r.tailZero || r.tail.bytes < FRAME_HDR || tornFrame(buf, r.tail.offset));
      if (!headerOk || r.skipped.length > 0 || (r.tail !== undefined && !tornTail)) {
        const keptAs = await keepAside(path);
        goodEnd = await rewriteKept(path, { header: fileHeader(WAL_MAGIC, seq), buf, kept: r.kept });
        size = goodEnd;
        report({
          file: path, kind: 'damaged', header: !headerOk,
          regions: [...(headerOk ? [] : [{ offset: 0, bytes: FILE_HDR }]), ...r.skipped, ...(r.tail === undefined ? [] : [r.tail])],
          recordsKept: r.records, recordsLost: undefined, keptAs,
        });
      } else if (r.tail !== undefined) {
        // Never acknowledged (the append had not returned): cut below.
        tornBytes = r.tail.bytes;
        report({ file: path, kind: 'torn', header: false, regions: [r.tail], recordsKept: r.records, recordsLost: 0, keptAs: undefined });
        size = buf.length;
      }
      last = { seq, goodEnd, size };
    }
    j.#sinceSnapshot = walRecords;

    if (last !== undefined && last.seq >= walSeq) {
      const path = join(opts.dir, walName(last.seq));
      if (last.goodEnd < FILE_HDR) {
        await j.#createWal(last.seq);
      } else {
        const fh = await fsp.open(path, fsc.O_RDWR | j.#syncFlag);
        if (last.goodEnd < last.size) {
          await fh.truncate(last.goodEnd);
          await fh.sync();
        }
        j.#fh = fh;
        j.#seq = last.seq;
        j.#size = last.goodEnd;
      }
    } else {
      await j.#createWal(Math.max(walSeq, 1));
    }
    const stats: ReplayStats = { snapshotRecords, walRecords, walFiles, tornBytes, damage, ms: Math.round(performance.now() - t0) };
    return { journal: j, stats };
  }

  async #createWal(seq: number): Promise<void> {
    const path = join(this.#dir, walName(seq));
    const fh = await fsp.open(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC | this.#syncFlag, 0o600);
    await fh.write(fileHeader(WAL_MAGIC, seq), 0, FILE_HDR, 0);
    await fh.sync();
    await fsyncDir(this.#dir);
    this.#fh = fh;
    this.#seq = seq;
    this.#size = FILE_HDR;
  }

  /**
   * Appends `frames` (from RecordEncoder.finish()) and makes them durable
   * (fdatasync unless fsync=false). On failure the file is cut back so a
   * partial frame never sits before later ones.
   */
  async append(frames: Buffer, records: number, opts: { readonly sync?: boolean } = {}): Promise<void> {
    const fh = this.#fh;
    if (fh === undefined || this.#closed) throw new Error('journal is closed');
    if (frames.length === 0) return;
    const at = this.#size;
    try {
      let done = 0;
      while (done < frames.length) {
        // `sync` (a lone small batch: one fail2ban ban, one couicctl add):
        // written on the main thread, whose O_DSYNC write blocks the loop
        // for the fdatasync but skips two thread-pool handoffs, which cost
        // more than that on a busy 2-core host. Anything else goes to the
        // pool, so the loop keeps reading requests meanwhile.
        const bytesWritten = opts.sync === true && frames.length - done <= SYNC_WRITE_MAX
          ? writeSync(fh.fd, frames, done, frames.length - done, at + done)
          : (await fh.write(frames, done, frames.length - done, at + done)).bytesWritten;
        if (bytesWritten <= 0) throw new Error('journal write made no progress');
        done += bytesWritten;
      }
      // With fsync on, the wal is opened O_DSYNC: each write returns once
      // its data is durable (= write + fdatasync, in one thread-pool job).
    } catch (err) {
      try {
        await fh.truncate(at);
      } catch (terr) {
        this.#log.error({ err: terr }, 'journal: could not cut back a failed append');
      }
      throw err;
    }
    this.#size = at + frames.length;
    this.#sinceSnapshot += records;
  }

  /**
   * Starts a compaction: switches to a new wal, then calls `fill` to
   * serialize the current state (synchronously: the caller must not let a
   * mutation in before this resolves... it is awaited inside the update
   * queue). Resolves once the new wal is in use and the snapshot is
   * serialized; `done` resolves when the snapshot is durable and the old
   * files are gone.
   */
  async compact(fill: (enc: RecordEncoder) => number): Promise<{ done: Promise<void> }> {
    if (this.#compacting !== undefined) return { done: this.#compacting };
    const old = this.#fh;
    const oldSeq = this.#seq;
    await this.#createWal(oldSeq + 1);
    await old?.close();
    this.#sinceSnapshot = 0;
    const newSeq = this.#seq;
    const enc = new RecordEncoder(1 << 20, fileHeader(SNAP_MAGIC, newSeq), SNAP_FRAME_TARGET);
    const count = fill(enc);
    enc.end(count);
    const bytes = enc.finish();
    const done = this.#writeSnapshot(bytes, newSeq).finally(() => {
      this.#compacting = undefined;
    });
    this.#compacting = done;
    return { done };
  }

  async #writeSnapshot(bytes: Buffer, newSeq: number): Promise<void> {
    const t0 = performance.now();
    const tmp = join(this.#dir, 'snapshot.tmp');
    const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600);
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, 8 << 20), done);
        done += bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, join(this.#dir, 'snapshot.bin'));
    await fsyncDir(this.#dir);
    // Oldest first: a crash meanwhile leaves a run of wals ending at newSeq, which replays the same
    // over the snapshot even when its header can no longer say where to start (docs/journal.md).
    for (const n of (await fsp.readdir(this.#dir)).sort()) {
      const m = WAL_RE.exec(n);
      if (m !== null && Number(m[1]) < newSeq) await fsp.rm(join(this.#dir, n), { force: true });
    }
    this.#log.info({ bytes: bytes.length, walSeq: newSeq, ms: Math.round(performance.now() - t0) }, 'journal: snapshot written');
  }

  /** Waits for a running compaction, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#compacting;
    } catch (err) {
      this.#log.error({ err }, 'journal: snapshot failed');
    }
    const fh = this.#fh;
    this.#fh = undefined;
    if (fh !== undefined) {
      if (this.#fsync) await fh.sync().catch(() => {});
      await fh.close();
    }
  }

  /** Size information (tests, logs). */
  async files(): Promise<{ name: string; size: number }[]> {
    const out: { name: string; size: number }[] = [];
    for (const n of (await fsp.readdir(this.#dir)).sort()) {
      const st: Stats = await fsp.stat(join(this.#dir, n));
      out.push({ name: n, size: st.size });
    }
    return out;
  }
}
