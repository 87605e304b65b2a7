/**
 * The couic-helper wire codec (docs/helper-protocol.md, src/helper/couic_proto.h).
 * Pure: no I/O, no timers. The tables it encodes with are in abi.ts.
 *
 * All integers are little-endian; addresses are network-order byte copies.
 */
import type { Family, Policy } from '../domain/types.js';
import {
  FEATURE,
  FLAG,
  HEADER_SIZE,
  LIMITS,
  LIST_HDR_SIZE,
  MAGIC,
  MODE,
  MSG,
  OFFSETOF,
  OP_KIND,
  OP_SIZE,
  OP_STATUS_NAMES,
  PARSE_REASONS,
  POLICY,
  SIZEOF,
  XDP_ACTIONS,
  type OpStatus,
  type ParseReason,
  type XdpAction,
} from './abi.js';
import type {
  AttachedInterface,
  Hello,
  HelperFeatures,
  HelperStats,
  KernelEntry,
  MapOp,
  OpKind,
  PktStats,
  TagStats,
  TestRunResult,
} from './types.js';

const MSG_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(MSG).map(([k, v]) => [v, k]),
);

/** "BATCH", "DUMP", ... or "type 42". */
export function msgName(type: number): string {
  return MSG_NAMES[type] ?? `type ${type}`;
}

const KIND_CODE: Readonly<Record<OpKind, number>> = { add: OP_KIND.ADD, upsert: OP_KIND.UPSERT, delete: OP_KIND.DEL };
const POLICY_CODE: Readonly<Record<Policy, number>> = { drop: POLICY.DROP, ignore: POLICY.IGNORE };
const POLICY_NAMES = ['drop', 'ignore'] as const satisfies readonly Policy[];
const KIND_NAMES: Readonly<Record<number, OpKind>> = { [OP_KIND.ADD]: 'add', [OP_KIND.UPSERT]: 'upsert', [OP_KIND.DEL]: 'delete' };

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

export type HelperErrorCode =
  | 'HELPER_GONE'
  | 'HELPER_TIMEOUT'
  | 'HELPER_REQUEST'
  | 'HELPER_START'
  | 'HELPER_PROTOCOL';

/** Base of every error raised by the helper client and its codec. */
export class HelperError extends Error {
  readonly code: HelperErrorCode;
  constructor(code: HelperErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HelperError';
    this.code = code;
  }
}

export type ProtocolErrorReason =
  | 'bad_magic'   /* frame magic is not 0xC0C1: the stream cannot be re-synchronised */
  | 'too_large'   /* header len over the payload limit */
  | 'bad_size'    /* payload size does not match its counts */
  | 'bad_value'   /* a field out of range */
  | 'unexpected'  /* a frame that does not fit the conversation */
  | 'failed';     /* the parser already failed */

/** The byte stream or a payload does not follow the protocol. */
export class ProtocolError extends HelperError {
  readonly reason: ProtocolErrorReason;
  constructor(reason: ProtocolErrorReason, message: string) {
    super('HELPER_PROTOCOL', message);
    this.name = 'ProtocolError';
    this.reason = reason;
  }
}

/* ------------------------------------------------------------------ */
/* Frames                                                               */
/* ------------------------------------------------------------------ */

export interface FrameHeader {
  readonly type: number;
  readonly flags: number;
  readonly id: number;
  readonly len: number;
  readonly status: number;
}

export interface Frame extends FrameHeader {
  readonly payload: Buffer;
}

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ProtocolError('bad_value', `${name} is not a u32: ${v}`);
  return v;
}

function u8(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new ProtocolError('bad_value', `${name} is not a u8: ${v}`);
  return v;
}

/** The 16-byte header alone (magic filled in; `len` as given). */
export function encodeHeader(h: {
  type: number;
  id: number;
  len: number;
  flags?: number;
  status?: number;
  magic?: number;
}): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.writeUInt16LE(h.magic ?? MAGIC, 0);
  b.writeUInt8(u8('type', h.type), 2);
  b.writeUInt8(u8('flags', h.flags ?? 0), 3);
  b.writeUInt32LE(u32('id', h.id), 4);
  b.writeUInt32LE(u32('len', h.len), 8);
  b.writeInt32LE(h.status ?? 0, 12);
  return b;
}

/** Header + payload in one buffer. */
export function encodeFrame(
  type: number,
  id: number,
  payload: Uint8Array = new Uint8Array(0),
  opts: { flags?: number; status?: number } = {},
): Buffer {
  const out = Buffer.alloc(HEADER_SIZE + payload.length);
  encodeHeader({ type, id, len: payload.length, flags: opts.flags ?? 0, status: opts.status ?? 0 }).copy(out, 0);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** REPLACE_BEGIN, REPLACE_END, DUMP, STATS: no payload. */
export function encodeEmptyRequest(type: number, id: number): Buffer {
  return encodeFrame(type, id);
}

export function encodeShutdown(id: number, opts: { unpin?: boolean } = {}): Buffer {
  return encodeFrame(MSG.SHUTDOWN, id, undefined, { flags: opts.unpin === true ? FLAG.UNPIN : 0 });
}

/* ------------------------------------------------------------------ */
/* Lists (BATCH, REPLACE_CHUNK, DUMP)                                   */
/* ------------------------------------------------------------------ */

/** One couic_op as numbers, without validation beyond field widths (tests use it for bad records). */
export interface RawOp {
  readonly kind: number;
  readonly policy: number;
  readonly family: number;
  readonly prefixLen: number;
  readonly tag: number;
  /** Up to 16 bytes, copied at offset 8 and zero padded. */
  readonly addr: Uint8Array;
}

function checkAddr(family: Family, addr: Uint8Array): void {
  const want = family === 4 ? 4 : 16;
  if (addr.length !== want) throw new ProtocolError('bad_value', `IPv${family} address must be ${want} bytes, got ${addr.length}`);
}

/** MapOp → RawOp (validates what the wire cannot express; range checks are the helper's). */
export function toRawOp(op: MapOp): RawOp {
  const kind = KIND_CODE[op.kind];
  const policy = POLICY_CODE[op.policy];
  if (kind === undefined) throw new ProtocolError('bad_value', `unknown op kind ${String(op.kind)}`);
  if (policy === undefined) throw new ProtocolError('bad_value', `unknown policy ${String(op.policy)}`);
  if (op.family !== 4 && op.family !== 6) throw new ProtocolError('bad_value', `unknown family ${String(op.family)}`);
  checkAddr(op.family, op.addr);
  return { kind, policy, family: op.family, prefixLen: op.prefixLen, tag: op.tagId, addr: op.addr };
}

/** KernelEntry → RawOp of kind UPSERT (REPLACE_CHUNK). */
export function entryToRawOp(e: KernelEntry): RawOp {
  return toRawOp({ kind: 'upsert', policy: e.policy, family: e.family, prefixLen: e.prefixLen, addr: e.addr, tagId: e.tagId });
}

/** `u32 count, u32 0` + count × 24-byte records. */
export function encodeRawList(records: readonly RawOp[]): Buffer {
  const out = Buffer.alloc(LIST_HDR_SIZE + records.length * OP_SIZE);
  out.writeUInt32LE(records.length, 0);
  let off = LIST_HDR_SIZE;
  for (const r of records) {
    out.writeUInt8(u8('kind', r.kind), off);
    out.writeUInt8(u8('policy', r.policy), off + 1);
    out.writeUInt8(u8('family', r.family), off + 2);
    out.writeUInt8(u8('prefixLen', r.prefixLen), off + 3);
    out.writeUInt32LE(u32('tag', r.tag), off + 4);
    if (r.addr.length > 16) throw new ProtocolError('bad_value', `address longer than 16 bytes`);
    out.set(r.addr, off + 8);
    off += OP_SIZE;
  }
  return out;
}

/**
 * The records of a BATCH, written one op at a time into one buffer: no
 * MapOp, no RawOp and no address array per op (the daemon writes a
 * million-op resync or set reload straight from its op columns). Checks
 * what the wire cannot express, like toRawOp; range checks are the helper's.
 */
export class BatchRecords {
  readonly bytes: Buffer;
  #n = 0;

  constructor(capacity: number) {
    this.bytes = Buffer.alloc(capacity * OP_SIZE);
  }

  static of(ops: readonly MapOp[]): BatchRecords {
    const r = new BatchRecords(ops.length);
    for (const op of ops) r.put(op);
    return r;
  }

  get length(): number {
    return this.#n;
  }

  /** Records [from, to) as a BatchRecords of their own (a copy). */
  slice(from: number, to: number): BatchRecords {
    const r = new BatchRecords(to - from);
    this.bytes.copy(r.bytes, 0, from * OP_SIZE, to * OP_SIZE);
    r.#n = to - from;
    return r;
  }

  /** The records read back as MapOps (fault-injecting wrappers in tests, diagnostics). */
  ops(): MapOp[] {
    return decodeRawList(encodeBatchRecords(0, this).subarray(HEADER_SIZE)).map((r) => {
      const kind = KIND_NAMES[r.kind];
      const policy = POLICY_NAMES[r.policy];
      if (kind === undefined || policy === undefined || (r.family !== 4 && r.family !== 6)) {
        throw new ProtocolError('bad_value', `record: kind ${r.kind}, policy ${r.policy}, family ${r.family}`);
      }
      return { kind, policy, family: r.family, prefixLen: r.prefixLen, addr: r.family === 4 ? r.addr.slice(0, 4) : r.addr, tagId: r.tag };
    });
  }

  /** The address is copied: `op.addr` may be reused by the caller. */
  put(op: MapOp): void {
    const family = op.family;
    if (family !== 4 && family !== 6) throw new ProtocolError('bad_value', `unknown family ${String(family)}`);
    checkAddr(family, op.addr);
    this.bytes.set(op.addr, this.#head(op.kind, op.policy, family, op.prefixLen, op.tagId) + 8);
  }

  /** An IPv4 op whose address is the u32 `addr` (host order; written in network order). */
  putV4(kind: OpKind, policy: Policy, addr: number, prefixLen: number, tagId: number): void {
    const off = this.#head(kind, policy, 4, prefixLen, tagId);
    this.bytes.writeUInt32BE(addr >>> 0, off + 8);
  }

  /** Writes the fields before the address of the next record; returns its offset. */
  #head(kind: OpKind, policy: Policy, family: Family, prefixLen: number, tagId: number): number {
    const k = KIND_CODE[kind];
    const p = POLICY_CODE[policy];
    if (k === undefined) throw new ProtocolError('bad_value', `unknown op kind ${String(kind)}`);
    if (p === undefined) throw new ProtocolError('bad_value', `unknown policy ${String(policy)}`);
    const off = this.#n * OP_SIZE;
    if (off + OP_SIZE > this.bytes.length) throw new RangeError(`BatchRecords full (${this.#n} records)`);
    const b = this.bytes;
    b[off] = k;
    b[off + 1] = p;
    b[off + 2] = family;
    b[off + 3] = u8('prefixLen', prefixLen);
    b.writeUInt32LE(u32('tag', tagId), off + 4);
    this.#n += 1;
    return off;
  }
}

/** BATCH frame of records [from, to) of `records`. */
export function encodeBatchRecords(id: number, records: BatchRecords, from = 0, to = records.length): Buffer {
  const n = to - from;
  const len = LIST_HDR_SIZE + n * OP_SIZE;
  const out = Buffer.alloc(HEADER_SIZE + len);
  encodeHeader({ type: MSG.BATCH, id, len, flags: 0, status: 0 }).copy(out, 0);
  out.writeUInt32LE(n, HEADER_SIZE);
  records.bytes.copy(out, HEADER_SIZE + LIST_HDR_SIZE, from * OP_SIZE, to * OP_SIZE);
  return out;
}

/**
 * BATCH frame of `ops`: the same bytes and checks as
 * encodeFrame(MSG.BATCH, id, encodeRawList(ops.map(toRawOp))).
 */
export function encodeBatch(id: number, ops: readonly MapOp[]): Buffer {
  return encodeBatchRecords(id, BatchRecords.of(ops));
}

export function encodeReplaceChunk(id: number, entries: readonly KernelEntry[]): Buffer {
  return encodeFrame(MSG.REPLACE_CHUNK, id, encodeRawList(entries.map(entryToRawOp)));
}

/** Decodes a list payload into raw records (any kind). */
export function decodeRawList(payload: Uint8Array): RawOp[] {
  const b = asBuffer(payload);
  if (b.length < LIST_HDR_SIZE) throw new ProtocolError('bad_size', `list payload of ${b.length} bytes is shorter than its header`);
  const count = b.readUInt32LE(0);
  const want = LIST_HDR_SIZE + count * OP_SIZE;
  if (b.length !== want) throw new ProtocolError('bad_size', `list of ${count} records needs ${want} bytes, got ${b.length}`);
  const out: RawOp[] = new Array<RawOp>(count);
  for (let i = 0, off = LIST_HDR_SIZE; i < count; i++, off += OP_SIZE) {
    out[i] = {
      kind: b.readUInt8(off),
      policy: b.readUInt8(off + 1),
      family: b.readUInt8(off + 2),
      prefixLen: b.readUInt8(off + 3),
      tag: b.readUInt32LE(off + 4),
      addr: Uint8Array.from(b.subarray(off + 8, off + 24)),
    };
  }
  return out;
}

/** A DUMP reply frame's payload → kernel entries (addresses 4 or 16 bytes). */
export function decodeEntryList(payload: Uint8Array): KernelEntry[] {
  return decodeRawList(payload).map((r, i) => {
    const policy = POLICY_NAMES[r.policy];
    if (policy === undefined) throw new ProtocolError('bad_value', `record ${i}: policy ${r.policy}`);
    if (r.family !== 4 && r.family !== 6) throw new ProtocolError('bad_value', `record ${i}: family ${r.family}`);
    const max = r.family === 4 ? 32 : 128;
    if (r.prefixLen > max) throw new ProtocolError('bad_value', `record ${i}: prefix /${r.prefixLen} for IPv${r.family}`);
    return {
      policy,
      family: r.family,
      prefixLen: r.prefixLen,
      addr: r.family === 4 ? r.addr.slice(0, 4) : r.addr,
      tagId: r.tag,
    };
  });
}

/** Statuses payload: `u32 count, u32 0`, one byte each, zero padded to 4. */
export function decodeStatuses(payload: Uint8Array, expectedCount?: number): OpStatus[] {
  const b = asBuffer(payload);
  if (b.length < LIST_HDR_SIZE) throw new ProtocolError('bad_size', `statuses payload of ${b.length} bytes is shorter than its header`);
  const count = b.readUInt32LE(0);
  const want = LIST_HDR_SIZE + pad4(count);
  if (b.length !== want) throw new ProtocolError('bad_size', `${count} statuses need ${want} bytes, got ${b.length}`);
  if (expectedCount !== undefined && count !== expectedCount) {
    throw new ProtocolError('bad_size', `${count} statuses for ${expectedCount} records`);
  }
  const out: OpStatus[] = new Array<OpStatus>(count);
  for (let i = 0; i < count; i++) {
    const s = b[LIST_HDR_SIZE + i] ?? 255;
    const name = OP_STATUS_NAMES[s];
    if (name === undefined) throw new ProtocolError('bad_value', `status ${i}: unknown value ${s}`);
    out[i] = name;
  }
  for (let i = LIST_HDR_SIZE + count; i < b.length; i++) {
    if (b[i] !== 0) throw new ProtocolError('bad_value', `statuses padding byte ${i} is ${b[i]}, not 0`);
  }
  return out;
}

/** Statuses payload (what the helper sends; used by fixtures and tests). */
export function encodeStatuses(statuses: readonly OpStatus[]): Buffer {
  const out = Buffer.alloc(LIST_HDR_SIZE + pad4(statuses.length));
  out.writeUInt32LE(statuses.length, 0);
  statuses.forEach((s, i) => {
    const v = OP_STATUS_NAMES.indexOf(s);
    if (v < 0) throw new ProtocolError('bad_value', `unknown status ${String(s)}`);
    out[LIST_HDR_SIZE + i] = v;
  });
  return out;
}

/* ------------------------------------------------------------------ */
/* HELLO                                                                */
/* ------------------------------------------------------------------ */

const FEATURE_BITS: ReadonlyArray<readonly [keyof HelperFeatures, number]> = [
  ['batchHash', FEATURE.BATCH_HASH],
  ['batchLpm', FEATURE.BATCH_LPM],
  ['xdpLink', FEATURE.XDP_LINK],
  ['pinned', FEATURE.PINNED],
  ['reused', FEATURE.REUSED],
  ['lpmOnly', FEATURE.LPM_ONLY],
];

export function decodeFeatures(bits: number): HelperFeatures {
  const f: Record<keyof HelperFeatures, boolean> = {
    batchHash: false, batchLpm: false, xdpLink: false, pinned: false, reused: false, lpmOnly: false,
  };
  for (const [k, bit] of FEATURE_BITS) f[k] = (bits & bit) !== 0;
  return f;
}

export function encodeFeatures(f: HelperFeatures): number {
  let bits = 0;
  for (const [k, bit] of FEATURE_BITS) if (f[k]) bits |= bit;
  return bits;
}

const HELLO_SIZE = SIZEOF.couic_hello;
const IFACE_SIZE = SIZEOF.couic_iface;
const IFNAME_SIZE = 16;

export function decodeHello(payload: Uint8Array): Hello {
  const b = asBuffer(payload);
  if (b.length < HELLO_SIZE) throw new ProtocolError('bad_size', `HELLO payload of ${b.length} bytes is shorter than ${HELLO_SIZE}`);
  const nIfaces = b.readUInt32LE(OFFSETOF['couic_hello.n_ifaces']);
  if (nIfaces > LIMITS.MAX_IFACES) throw new ProtocolError('bad_value', `HELLO announces ${nIfaces} interfaces (max ${LIMITS.MAX_IFACES})`);
  const want = HELLO_SIZE + nIfaces * IFACE_SIZE;
  if (b.length !== want) throw new ProtocolError('bad_size', `HELLO with ${nIfaces} interfaces needs ${want} bytes, got ${b.length}`);
  const capacity: number[] = [];
  const count: number[] = [];
  for (let i = 0; i < LIMITS.MAP_COUNT; i++) {
    capacity.push(b.readUInt32LE(OFFSETOF['couic_hello.capacity'] + 4 * i));
    count.push(b.readUInt32LE(OFFSETOF['couic_hello.count'] + 4 * i));
  }
  const ifaces: AttachedInterface[] = [];
  for (let i = 0, off = HELLO_SIZE; i < nIfaces; i++, off += IFACE_SIZE) {
    const mode = b.readUInt32LE(off + OFFSETOF['couic_iface.mode']);
    if (mode !== MODE.NATIVE && mode !== MODE.GENERIC) throw new ProtocolError('bad_value', `interface ${i}: XDP mode ${mode}`);
    const nameBytes = b.subarray(off + OFFSETOF['couic_iface.name'], off + OFFSETOF['couic_iface.name'] + IFNAME_SIZE);
    const nul = nameBytes.indexOf(0);
    if (nul < 0) throw new ProtocolError('bad_value', `interface ${i}: name is not NUL-terminated`);
    ifaces.push({
      ifindex: b.readUInt32LE(off + OFFSETOF['couic_iface.ifindex']),
      name: nameBytes.subarray(0, nul).toString('utf8'),
      mode: mode === MODE.NATIVE ? 'native' : 'generic',
    });
  }
  return {
    protoVersion: b.readUInt32LE(0 /* proto_version */),
    features: decodeFeatures(b.readUInt32LE(OFFSETOF['couic_hello.features'])),
    ncpus: b.readUInt32LE(OFFSETOF['couic_hello.ncpus']),
    maxTags: b.readUInt32LE(OFFSETOF['couic_hello.max_tags']),
    capacity,
    count,
    ifaces,
  };
}

/** HELLO payload (what the helper sends; used by fixtures and the fake helper). */
export function encodeHello(h: Hello): Buffer {
  const out = Buffer.alloc(HELLO_SIZE + h.ifaces.length * IFACE_SIZE);
  out.writeUInt32LE(h.protoVersion, 0 /* proto_version */);
  out.writeUInt32LE(encodeFeatures(h.features), OFFSETOF['couic_hello.features']);
  out.writeUInt32LE(h.ncpus, OFFSETOF['couic_hello.ncpus']);
  out.writeUInt32LE(h.maxTags, OFFSETOF['couic_hello.max_tags']);
  for (let i = 0; i < LIMITS.MAP_COUNT; i++) {
    out.writeUInt32LE(h.capacity[i] ?? 0, OFFSETOF['couic_hello.capacity'] + 4 * i);
    out.writeUInt32LE(h.count[i] ?? 0, OFFSETOF['couic_hello.count'] + 4 * i);
  }
  out.writeUInt32LE(h.ifaces.length, OFFSETOF['couic_hello.n_ifaces']);
  h.ifaces.forEach((ifc, i) => {
    const off = HELLO_SIZE + i * IFACE_SIZE;
    out.writeUInt32LE(ifc.ifindex, off);
    out.writeUInt32LE(ifc.mode === 'native' ? MODE.NATIVE : MODE.GENERIC, off + 4);
    const name = Buffer.from(ifc.name, 'utf8');
    if (name.length >= IFNAME_SIZE) throw new ProtocolError('bad_value', `interface name too long: ${ifc.name}`);
    name.copy(out, off + 8);
  });
  return out;
}

/* ------------------------------------------------------------------ */
/* STATS                                                                */
/* ------------------------------------------------------------------ */

const STATS_HDR_SIZE = SIZEOF.couic_stats_hdr;
const PKT_STATS_SIZE = SIZEOF.couic_pkt_stats;
const TAG_STATS_SIZE = SIZEOF.couic_tag_stats;

export function decodeStats(payload: Uint8Array): HelperStats {
  const b = asBuffer(payload);
  if (b.length < STATS_HDR_SIZE) throw new ProtocolError('bad_size', `STATS payload of ${b.length} bytes is shorter than its header`);
  const nActions = b.readUInt32LE(0);
  const nParse = b.readUInt32LE(4);
  const nTags = b.readUInt32LE(8);
  if (nActions !== XDP_ACTIONS.length) throw new ProtocolError('bad_value', `STATS n_actions ${nActions}, expected ${XDP_ACTIONS.length}`);
  if (nParse !== PARSE_REASONS.length) throw new ProtocolError('bad_value', `STATS n_parse ${nParse}, expected ${PARSE_REASONS.length}`);
  const want = STATS_HDR_SIZE + nActions * PKT_STATS_SIZE + nParse * 8 + LIMITS.MAP_COUNT * 4 + nTags * TAG_STATS_SIZE;
  if (b.length !== want) throw new ProtocolError('bad_size', `STATS with ${nTags} tags needs ${want} bytes, got ${b.length}`);
  let off = STATS_HDR_SIZE;
  const xdp = {} as Record<XdpAction, PktStats>;
  for (const a of XDP_ACTIONS) {
    xdp[a] = { packets: b.readBigUInt64LE(off), bytes: b.readBigUInt64LE(off + 8) };
    off += PKT_STATS_SIZE;
  }
  const parse = {} as Record<ParseReason, bigint>;
  for (const r of PARSE_REASONS) {
    parse[r] = b.readBigUInt64LE(off);
    off += 8;
  }
  const count: number[] = [];
  for (let i = 0; i < LIMITS.MAP_COUNT; i++, off += 4) count.push(b.readUInt32LE(off));
  const tags: TagStats[] = [];
  for (let i = 0; i < nTags; i++, off += TAG_STATS_SIZE) {
    const p = b.readUInt32LE(off + 4);
    const policy = POLICY_NAMES[p];
    if (policy === undefined) throw new ProtocolError('bad_value', `tag stats ${i}: policy ${p}`);
    tags.push({ tagId: b.readUInt32LE(off), policy, packets: b.readBigUInt64LE(off + 8), bytes: b.readBigUInt64LE(off + 16) });
  }
  return { xdp, parse, count, tags };
}

/** STATS payload (what the helper sends; used by fixtures). */
export function encodeStats(s: HelperStats): Buffer {
  const out = Buffer.alloc(
    STATS_HDR_SIZE + XDP_ACTIONS.length * PKT_STATS_SIZE + PARSE_REASONS.length * 8 + LIMITS.MAP_COUNT * 4 + s.tags.length * TAG_STATS_SIZE,
  );
  out.writeUInt32LE(XDP_ACTIONS.length, 0);
  out.writeUInt32LE(PARSE_REASONS.length, 4);
  out.writeUInt32LE(s.tags.length, 8);
  let off = STATS_HDR_SIZE;
  for (const a of XDP_ACTIONS) {
    out.writeBigUInt64LE(s.xdp[a].packets, off);
    out.writeBigUInt64LE(s.xdp[a].bytes, off + 8);
    off += PKT_STATS_SIZE;
  }
  for (const r of PARSE_REASONS) {
    out.writeBigUInt64LE(s.parse[r], off);
    off += 8;
  }
  for (let i = 0; i < LIMITS.MAP_COUNT; i++, off += 4) out.writeUInt32LE(s.count[i] ?? 0, off);
  for (const t of s.tags) {
    out.writeUInt32LE(t.tagId, off);
    out.writeUInt32LE(POLICY_CODE[t.policy], off + 4);
    out.writeBigUInt64LE(t.packets, off + 8);
    out.writeBigUInt64LE(t.bytes, off + 16);
    off += TAG_STATS_SIZE;
  }
  return out;
}

/* ------------------------------------------------------------------ */
/* TEST_RUN, TAG_RESET, REPLACE_END, error messages                     */
/* ------------------------------------------------------------------ */

export function encodeTestRun(id: number, packet: Uint8Array, repeat = 1): Buffer {
  const p = Buffer.alloc(SIZEOF.couic_test_req + packet.length);
  p.writeUInt32LE(u32('repeat', repeat), 0);
  p.writeUInt32LE(packet.length, 4);
  p.set(packet, SIZEOF.couic_test_req);
  return encodeFrame(MSG.TEST_RUN, id, p);
}

export function decodeTestResult(payload: Uint8Array): TestRunResult {
  const b = asBuffer(payload);
  if (b.length !== SIZEOF.couic_test_result) throw new ProtocolError('bad_size', `TEST_RUN result must be ${SIZEOF.couic_test_result} bytes, got ${b.length}`);
  return { retval: b.readUInt32LE(0), durationNs: b.readUInt32LE(4) };
}

export function encodeTagReset(id: number, tagIds: readonly number[]): Buffer {
  const p = Buffer.alloc(LIST_HDR_SIZE + 4 * tagIds.length);
  p.writeUInt32LE(tagIds.length, 0);
  tagIds.forEach((t, i) => p.writeUInt32LE(u32('tag id', t), LIST_HDR_SIZE + 4 * i));
  return encodeFrame(MSG.TAG_RESET, id, p);
}

/** REPLACE_END reply: `u32 removed, u32 reserved`. */
export function decodeReplaceEnd(payload: Uint8Array): { removed: number } {
  const b = asBuffer(payload);
  if (b.length !== 8) throw new ProtocolError('bad_size', `REPLACE_END reply must be 8 bytes, got ${b.length}`);
  return { removed: b.readUInt32LE(0) };
}

/** Error reply / failed HELLO payload: UTF-8 text (trailing NULs and newlines dropped). */
export function decodeErrorMessage(payload: Uint8Array): string {
  return asBuffer(payload).toString('utf8').replace(/[\0\r\n]+$/u, '');
}

/* ------------------------------------------------------------------ */
/* FrameParser                                                          */
/* ------------------------------------------------------------------ */

export type ParserState = 'header' | 'payload' | 'failed';

/**
 * Incremental frame parser: feed it arbitrary chunks, it emits complete
 * frames. State machine header (16 bytes) → payload (len bytes) → header...
 * It holds at most one frame: a fixed 16-byte header buffer, then one
 * payload buffer of exactly `len` bytes allocated once the header has been
 * validated. A bad magic or a len over `maxPayload` throws a ProtocolError
 * before any payload byte is kept, and the parser stays failed.
 */
export class FrameParser {
  readonly maxPayload: number;
  #state: ParserState = 'header';
  readonly #hdr = Buffer.alloc(HEADER_SIZE);
  #hdrFill = 0;
  #header: FrameHeader | undefined;
  #payload: Buffer = Buffer.alloc(0);
  #payloadFill = 0;
  #error: ProtocolError | undefined;

  constructor(opts: { maxPayload?: number } = {}) {
    this.maxPayload = opts.maxPayload ?? LIMITS.MAX_PAYLOAD;
  }

  get state(): ParserState {
    return this.#state;
  }

  /** Bytes currently held (partial header + partial payload). */
  get buffered(): number {
    return this.#state === 'payload' ? HEADER_SIZE + this.#payloadFill : this.#state === 'header' ? this.#hdrFill : 0;
  }

  get error(): ProtocolError | undefined {
    return this.#error;
  }

  /**
   * Consumes `chunk`, calling `onFrame` for each frame it completes, in
   * order. Throws ProtocolError (after emitting the frames before the fault).
   */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    if (this.#error) throw new ProtocolError('failed', `parser failed earlier: ${this.#error.message}`);
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#state === 'header') {
        const n = Math.min(HEADER_SIZE - this.#hdrFill, chunk.length - pos);
        this.#hdr.set(chunk.subarray(pos, pos + n), this.#hdrFill);
        this.#hdrFill += n;
        pos += n;
        if (this.#hdrFill < HEADER_SIZE) break;
        const header = this.#readHeader();
        this.#hdrFill = 0;
        if (header.len === 0) {
          onFrame({ ...header, payload: Buffer.alloc(0) });
          continue;
        }
        this.#header = header;
        this.#payload = Buffer.allocUnsafe(header.len);
        this.#payloadFill = 0;
        this.#state = 'payload';
      } else {
        const header = this.#header;
        if (header === undefined) throw this.#fail(new ProtocolError('failed', 'parser lost its header'));
        const n = Math.min(header.len - this.#payloadFill, chunk.length - pos);
        this.#payload.set(chunk.subarray(pos, pos + n), this.#payloadFill);
        this.#payloadFill += n;
        pos += n;
        if (this.#payloadFill < header.len) break;
        const frame: Frame = { ...header, payload: this.#payload };
        this.#header = undefined;
        this.#payload = Buffer.alloc(0);
        this.#payloadFill = 0;
        this.#state = 'header';
        onFrame(frame);
      }
    }
  }

  /** push() collecting the frames in an array. */
  pushAll(chunk: Uint8Array): Frame[] {
    const out: Frame[] = [];
    this.push(chunk, (f) => out.push(f));
    return out;
  }

  #readHeader(): FrameHeader {
    const h = this.#hdr;
    const magic = h.readUInt16LE(0);
    if (magic !== MAGIC) {
      throw this.#fail(new ProtocolError('bad_magic', `bad frame magic 0x${magic.toString(16).padStart(4, '0')} (want 0x${MAGIC.toString(16)})`));
    }
    const len = h.readUInt32LE(8);
    if (len > this.maxPayload) {
      throw this.#fail(new ProtocolError('too_large', `frame payload of ${len} bytes exceeds the ${this.maxPayload}-byte limit`));
    }
    return { type: h.readUInt8(2), flags: h.readUInt8(3), id: h.readUInt32LE(4), len, status: h.readInt32LE(12) };
  }

  #fail(err: ProtocolError): ProtocolError {
    this.#error = err;
    this.#state = 'failed';
    this.#hdrFill = 0;
    this.#header = undefined;
    this.#payload = Buffer.alloc(0);
    this.#payloadFill = 0;
    return err;
  }
}

/* ------------------------------------------------------------------ */

function pad4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
