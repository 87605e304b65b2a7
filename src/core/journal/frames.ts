/**
 * The journal's on-disk format, the reading side: file headers, frames and
 * their records (the layout is described in journal.ts), and the scan for
 * the next intact frame that recovery (recovery.ts) uses past a damaged one.
 */
import { crc32 } from 'node:zlib';

export const REC_PUT = 1;
export const REC_DEL = 2;
export const REC_END = 3;
export const REC_CLAIMS = 4;
export const REC_CLAIMS2 = 5;

/** One owner's claim on a CIDR (src/core/state/claims.ts). Owners are ASCII, at most 65 bytes. */
export interface JournalClaim {
  readonly owner: string;
  readonly creation: number;
  readonly expiration: number;
  /** The tag the claim gives its entry ('' = untagged); absent = the owner's name (at most 254 bytes). */
  readonly tag?: string;
}

export const FRAME_MAGIC = 0x4652_4a43; // "CJRF" little-endian
export const FRAME_HDR = 12;
export const FILE_HDR = 16;
export const VERSION = 1;
export const WAL_MAGIC = 'COUICWAL';
export const SNAP_MAGIC = 'COUICSNP';
/** Upper bound of one frame's payload (sanity check when reading). */
export const MAX_FRAME = 256 * 1024 * 1024;

/** Receives replayed records (no allocation per record besides the strings). */
export interface ReplaySink {
  put(store: number, key: string, tag: string, creation: number, expiration: number): void;
  del(store: number, key: string): void;
  /** CLAIMS records (skipped when absent). */
  claims?(store: number, key: string, managed: boolean, claims: JournalClaim[]): void;
}

export interface ParseResult {
  /** Offset just after the last good frame. */
  readonly goodEnd: number;
  /** True when bytes after goodEnd were not a valid frame. */
  readonly torn: boolean;
  readonly records: number;
  /** END record seen (snapshots). */
  readonly ended: boolean;
  /** The count the END record carries (the records of the whole snapshot), -1 without END. */
  readonly endCount: number;
}

/** Parses frames starting at `start`; applies records to `sink`. */
export function parseFrames(buf: Buffer, start: number, sink: ReplaySink): ParseResult {
  let off = start;
  let records = 0;
  let ended = false;
  let endCount = -1;
  const n = buf.length;
  while (off < n) {
    if (n - off < FRAME_HDR) break;
    if (buf.readUInt32LE(off) !== FRAME_MAGIC) break;
    const len = buf.readUInt32LE(off + 4);
    if (len === 0 || len > MAX_FRAME || off + FRAME_HDR + len > n) break;
    const pEnd = off + FRAME_HDR + len;
    if (crc32(buf.subarray(off + FRAME_HDR, pEnd)) !== buf.readUInt32LE(off + 8)) break;
    let p = off + FRAME_HDR;
    let bad = false;
    while (p < pEnd) {
      const type = buf[p]!;
      if (type === REC_PUT) {
        const store = buf[p + 1]!;
        const kl = buf[p + 2]!;
        const ks = p + 3;
        if (ks + kl + 14 > pEnd) { bad = true; break; }
        const key = buf.toString('latin1', ks, ks + kl);
        let q = ks + kl;
        const creation = buf.readUInt32LE(q);
        const expiration = buf.readDoubleLE(q + 4);
        const tl = buf.readUInt16LE(q + 12);
        q += 14;
        if (q + tl > pEnd) { bad = true; break; }
        const tag = tl === 0 ? '' : buf.toString('utf8', q, q + tl);
        p = q + tl;
        sink.put(store, key, tag, creation, expiration);
        records += 1;
      } else if (type === REC_DEL) {
        const store = buf[p + 1]!;
        const kl = buf[p + 2]!;
        if (p + 3 + kl > pEnd) { bad = true; break; }
        sink.del(store, buf.toString('latin1', p + 3, p + 3 + kl));
        p += 3 + kl;
        records += 1;
      } else if (type === REC_CLAIMS || type === REC_CLAIMS2) {
        const v2 = type === REC_CLAIMS2;
        const store = buf[p + 1]!;
        const kl = buf[p + 2]!;
        let q = p + 3 + kl;
        if (q + 3 > pEnd) { bad = true; break; }
        const key = buf.toString('latin1', p + 3, q);
        const managed = (buf[q]! & 1) === 1;
        const n = buf.readUInt16LE(q + 1);
        q += 3;
        const claims: JournalClaim[] = [];
        for (let i = 0; i < n; i += 1) {
          const ol = q < pEnd ? buf[q]! : 0;
          if (q + 13 + ol + (v2 ? 1 : 0) > pEnd) { bad = true; break; }
          const owner = buf.toString('latin1', q + 1, q + 1 + ol);
          q += 1 + ol;
          const creation = buf.readUInt32LE(q);
          const expiration = buf.readDoubleLE(q + 4);
          q += 12;
          if (!v2) {
            claims.push({ owner, creation, expiration });
            continue;
          }
          const t = buf[q]!;
          const tl = t === 0 ? 0 : t - 1;
          if (q + 1 + tl > pEnd) { bad = true; break; }
          claims.push(t === 0 ? { owner, creation, expiration } : { owner, creation, expiration, tag: buf.toString('utf8', q + 1, q + 1 + tl) });
          q += 1 + tl;
        }
        if (bad) break;
        p = q;
        sink.claims?.(store, key, managed, claims);
        records += 1;
      } else if (type === REC_END) {
        if (p + 5 > pEnd) { bad = true; break; }
        ended = true;
        endCount = buf.readUInt32LE(p + 1);
        p += 5;
      } else {
        bad = true;
        break;
      }
    }
    // A frame whose crc matched but does not decode is a bug or corruption: stop here.
    if (bad) break;
    off = pEnd;
  }
  return { goodEnd: off, torn: off < n, records, ended, endCount };
}

/** True when a whole frame starts at `off`: magic, a sane length within the buffer, and its crc. */
export function frameAt(buf: Buffer, off: number): boolean {
  if (off < 0 || buf.length - off < FRAME_HDR || buf.readUInt32LE(off) !== FRAME_MAGIC) return false;
  const len = buf.readUInt32LE(off + 4);
  if (len === 0 || len > MAX_FRAME || off + FRAME_HDR + len > buf.length) return false;
  return crc32(buf.subarray(off + FRAME_HDR, off + FRAME_HDR + len)) === buf.readUInt32LE(off + 8);
}

const MAGIC_BYTES = Buffer.from([FRAME_MAGIC & 255, (FRAME_MAGIC >>> 8) & 255, (FRAME_MAGIC >>> 16) & 255, FRAME_MAGIC >>> 24]);

/**
 * The offset of the next whole frame at or after `from` (frameAt), -1 when
 * none. Frames carry no sequence number: what makes a frame trusted is its
 * magic, a length that fits and the crc32 of its payload. A payload holding
 * the bytes of a whole other frame (magic, length and crc) would be a false
 * match; records carry CIDR text, tags and owners, which never hold a frame.
 */
export function findFrame(buf: Buffer, from: number): number {
  let o = buf.indexOf(MAGIC_BYTES, from);
  while (o >= 0) {
    if (frameAt(buf, o)) return o;
    o = buf.indexOf(MAGIC_BYTES, o + 1);
  }
  return -1;
}

export function fileHeader(magic: string, value: number): Buffer {
  const h = Buffer.alloc(FILE_HDR);
  h.write(magic, 0, 'latin1');
  h.writeUInt32LE(VERSION, 8);
  h.writeUInt32LE(value, 12);
  return h;
}

export function readHeader(buf: Buffer, magic: string): number | undefined {
  if (buf.length < FILE_HDR || buf.toString('latin1', 0, 8) !== magic || buf.readUInt32LE(8) !== VERSION) return undefined;
  return buf.readUInt32LE(12);
}
