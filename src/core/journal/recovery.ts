/**
 * Reading a journal file that may be damaged, and repairing it without
 * destroying anything (the rules are in docs/journal.md):
 *
 * - a crash can only tear the end of the last wal: bytes after the last
 *   intact frame with no intact frame after them are cut (a warning);
 * - anything else (a bad frame followed by intact ones, a damaged header, a
 *   bad frame in a sealed wal or in the snapshot, non-zero bytes after the
 *   last intact frame) is damage: the file is kept aside as
 *   `<name>.damaged-<time>` (a hard link: the original bytes), every intact
 *   frame is replayed and written back into `<name>`, and the log names the
 *   file, the offset and size of each damaged region and the records kept.
 *
 * Intact = frameAt (frames.ts): magic, a length that fits, crc32 of the payload.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import { basename, dirname } from 'node:path';

import { FRAME_HDR, FRAME_MAGIC, MAX_FRAME, findFrame, parseFrames, type ReplaySink } from './frames.js';

/** A run of bytes that could not be trusted. */
export interface DamagedRegion {
  readonly offset: number;
  readonly bytes: number;
}

export interface FileScan {
  /** Records replayed from the intact frames. */
  readonly records: number;
  /** An END record was replayed, and its count (snapshots). */
  readonly ended: boolean;
  readonly endCount: number;
  /** `[start, end)` of each run of intact frames, in file order. */
  readonly kept: readonly (readonly [number, number])[];
  /** Damaged regions an intact frame follows (corruption, never a torn write). */
  readonly skipped: readonly DamagedRegion[];
  /** The bytes after the last intact frame, when there are any. */
  readonly tail: DamagedRegion | undefined;
  /** The tail holds only zero bytes (space the file system allocated, nothing written). */
  readonly tailZero: boolean;
}

/** Replays every intact frame of `buf` from `start` into `sink`, skipping damaged regions. */
export function scanFrames(buf: Buffer, start: number, sink: ReplaySink): FileScan {
  const kept: [number, number][] = [];
  const skipped: DamagedRegion[] = [];
  let records = 0;
  let ended = false;
  let endCount = -1;
  let tail: DamagedRegion | undefined;
  let off = start;
  while (off < buf.length) {
    const r = parseFrames(buf, off, sink);
    records += r.records;
    if (r.ended) {
      ended = true;
      endCount = r.endCount;
    }
    if (r.goodEnd > off) kept.push([off, r.goodEnd]);
    if (!r.torn) break;
    const next = findFrame(buf, r.goodEnd + 1);
    if (next < 0) {
      tail = { offset: r.goodEnd, bytes: buf.length - r.goodEnd };
      break;
    }
    skipped.push({ offset: r.goodEnd, bytes: next - r.goodEnd });
    off = next;
  }
  let tailZero = tail !== undefined;
  if (tail !== undefined) {
    for (let i = tail.offset; i < buf.length && tailZero; i += 1) tailZero = buf[i] === 0;
  }
  return { records, ended, endCount, kept, skipped, tail, tailZero };
}

/**
 * True when the bytes at `off` are the start of a frame cut short: fewer
 * bytes than a frame header, or a header (magic right) announcing more bytes
 * than the file holds. That is what a crash during an append leaves.
 */
export function tornFrame(buf: Buffer, off: number): boolean {
  if (buf.length - off < FRAME_HDR) return true;
  if (buf.readUInt32LE(off) !== FRAME_MAGIC) return false;
  const len = buf.readUInt32LE(off + 4);
  return len > 0 && len <= MAX_FRAME && off + FRAME_HDR + len > buf.length;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:.]/g, '');
}

/** Keeps the current bytes of `path` as `<path>.damaged-<time>` (a hard link; a copy where links fail); returns that name. */
export async function keepAside(path: string): Promise<string> {
  for (let n = 0; ; n += 1) {
    const aside = `${path}.damaged-${stamp()}${n === 0 ? '' : `-${n}`}`;
    try {
      await fsp.link(path, aside);
      return aside;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw err;
      await fsp.copyFile(path, aside, fsc.COPYFILE_EXCL);
      return aside;
    }
  }
}

/**
 * Replaces `path` by `header` + the kept runs of `buf` (+ `trailer`), through
 * `<path>.tmp`, fsync and rename: a crash leaves the old file or the new one.
 * Returns the new file's size.
 */
export async function rewriteKept(path: string, opts: { readonly header: Buffer; readonly buf: Buffer; readonly kept: FileScan['kept']; readonly trailer?: Buffer }): Promise<number> {
  const parts = [opts.header, ...opts.kept.map(([s, e]) => opts.buf.subarray(s, e)), ...(opts.trailer === undefined ? [] : [opts.trailer])];
  const bytes = Buffer.concat(parts);
  const tmp = `${path}.tmp`;
  const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600);
  try {
    let done = 0;
    while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done, done)).bytesWritten;
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  const dh = await fsp.open(dirname(path), fsc.O_RDONLY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
  return bytes.length;
}

/** What the log and ReplayStats say about one damaged file. */
export interface FileDamage {
  readonly file: string;
  /** torn: the end of the last wal was cut (a crash during a write); damaged: kept aside, intact frames kept. */
  readonly kind: 'torn' | 'short' | 'damaged';
  /** The file header did not read back (the wal's sequence was taken from its name). */
  readonly header: boolean;
  readonly regions: readonly DamagedRegion[];
  readonly recordsKept: number;
  /** Records known lost (a snapshot's END count minus what was kept); undefined = not countable. */
  readonly recordsLost: number | undefined;
  /** Where the original bytes are kept. */
  readonly keptAs: string | undefined;
}

/** One line saying what was damaged, lost and kept. */
export function describe(d: FileDamage): string {
  const where = d.regions.map((r) => (r.bytes === 0 ? `ends early at offset ${r.offset}` : `${r.bytes} bytes at offset ${r.offset}`)).join(', ');
  const lost = d.recordsLost === undefined ? 'the records of the damaged bytes' : `${d.recordsLost} records`;
  return `${basename(d.file)}: ${d.header ? 'damaged header; ' : ''}${where || 'no damaged frame'}; kept ${d.recordsKept} records, lost ${lost}${d.keptAs === undefined ? '' : `; original kept as ${basename(d.keptAs)}`}`;
}
