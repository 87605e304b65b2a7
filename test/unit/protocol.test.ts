/**
 * The pure codec (src/xdp/protocol.ts) against hand-written byte fixtures
 * (docs/helper-protocol.md), and FrameParser fed every possible chunking.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FLAG, LIMITS, MAGIC, MAX_OPS_PER_FRAME, MSG } from '../../src/xdp/abi.js';
import {
  BatchRecords,
  decodeEntryList,
  decodeErrorMessage,
  decodeHello,
  decodeRawList,
  decodeReplaceEnd,
  decodeStats,
  decodeStatuses,
  decodeTestResult,
  encodeBatch,
  encodeBatchRecords,
  encodeEmptyRequest,
  encodeFrame,
  encodeHeader,
  encodeHello,
  encodeRawList,
  encodeReplaceChunk,
  encodeShutdown,
  encodeStats,
  encodeStatuses,
  encodeTagReset,
  encodeTestRun,
  FrameParser,
  ProtocolError,
  type Frame,
  type ProtocolErrorReason,
} from '../../src/xdp/protocol.js';
import type { Hello, HelperStats, MapOp } from '../../src/xdp/types.js';

/** Hex with any whitespace or '|' for readability. */
function hex(s: string): Buffer {
  const clean = s.replace(/[\s|]/gu, '');
  assert.equal(clean.length % 2, 0, `odd hex fixture: ${clean.length}`);
  return Buffer.from(clean, 'hex');
}

function isProto(reason: ProtocolErrorReason, re?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
    assert.equal(e.code, 'HELPER_PROTOCOL');
    assert.equal(e.reason, reason, e.message);
    if (re) assert.match(e.message, re);
    return true;
  };
}

function payloadOf(frameBytes: Buffer): Buffer {
  return frameBytes.subarray(16);
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                             */
/* ------------------------------------------------------------------ */

// BATCH id 7: ADD drop 192.0.2.1/32 tag 1; DEL ignore 2001:db8:1:2::/64 tag 0x01020304
const BATCH_HEX = `
  c1c0 02 00 07000000 38000000 00000000
  02000000 00000000
  01 00 04 20 01000000 c0000201 000000000000000000000000
  03 01 06 40 04030201 20010db8000100020000000000000000`;
const BATCH_OPS: MapOp[] = [
  { kind: 'add', policy: 'drop', family: 4, prefixLen: 32, addr: Uint8Array.of(192, 0, 2, 1), tagId: 1 },
  {
    kind: 'delete', policy: 'ignore', family: 6, prefixLen: 64,
    addr: Uint8Array.from(hex('20010db8000100020000000000000000')), tagId: 0x01020304,
  },
];

// BATCH reply id 7: 5 statuses + 3 bytes of padding
const STATUSES_HEX = `
  c1c0 02 01 07000000 10000000 00000000
  05000000 00000000
  00 01 02 03 04 000000`;

// HELLO, 2 interfaces
const HELLO_HEX = `
  c1c0 01 01 00000000 88000000 00000000
  01000000 05000000 02000000 00100000
  04000000 04000000 04000000 04000000 08000000 08000000 08000000 08000000
  01000000 00000000 00000000 00000000 00000000 00000000 00000000 02000000
  02000000 00000000
  01000000 02000000 6c6f0000000000000000000000000000
  2a000000 01000000 766574682d6100000000000000000000`;
const HELLO: Hello = {
  protoVersion: 1,
  features: { batchHash: true, batchLpm: false, xdpLink: true, pinned: false, reused: false, lpmOnly: false },
  ncpus: 2,
  maxTags: 4096,
  capacity: [4, 4, 4, 4, 8, 8, 8, 8],
  count: [1, 0, 0, 0, 0, 0, 0, 2],
  ifaces: [
    { ifindex: 1, name: 'lo', mode: 'generic' },
    { ifindex: 42, name: 'veth-a', mode: 'native' },
  ],
};

// STATS reply id 17 with 2 tags
const STATS_HEX = `
  c1c0 07 01 11000000 f8000000 00000000
  05000000 09000000 02000000 00000000
  0000000000000000 0000000000000000
  0300000000000000 b400000000000000
  0200000001000000 1000000000000000
  0000000000000000 0000000000000000
  0000000000000000 0000000000000000
  0100000000000000 0000000000000000 0000000000000000 0000000000000000
  0000000000000000 0000000000000000 0000000000000000 0500000000000000
  0700000000000000
  01000000 02000000 03000000 04000000 05000000 06000000 07000000 08000000
  01000000 00000000 0300000000000000 b400000000000000
  00100000 01000000 0100000000000000 3c00000000000000`;
const STATS: HelperStats = {
  xdp: {
    XDP_ABORTED: { packets: 0n, bytes: 0n },
    XDP_DROP: { packets: 3n, bytes: 180n },
    XDP_PASS: { packets: 0x1_0000_0002n, bytes: 16n },
    XDP_TX: { packets: 0n, bytes: 0n },
    XDP_REDIRECT: { packets: 0n, bytes: 0n },
  },
  parse: {
    eth_short: 1n, vlan_short: 0n, vlan_deep: 0n, ip4_short: 0n, ip4_bad: 0n,
    ip6_short: 0n, ip6_bad: 0n, non_ip: 5n, vlan: 7n,
  },
  count: [1, 2, 3, 4, 5, 6, 7, 8],
  tags: [
    { tagId: 1, policy: 'drop', packets: 3n, bytes: 180n },
    { tagId: 4096, policy: 'ignore', packets: 1n, bytes: 60n },
  ],
};

// DUMP reply id 9: two frames, the first flagged MORE
const DUMP_A_HEX = `
  c1c0 06 03 09000000 20000000 00000000
  01000000 00000000
  00 00 04 08 02000000 0a000000 000000000000000000000000`;
const DUMP_B_HEX = `
  c1c0 06 01 09000000 20000000 00000000
  01000000 00000000
  00 01 06 80 05000000 20010db8000000000000000000000001`;

// TEST_RUN id 11: repeat 100, a 14-byte ARP Ethernet header; reply PASS, 123 ns
const TEST_RUN_REQ_HEX = `
  c1c0 08 00 0b000000 16000000 00000000
  64000000 0e000000
  ffffffffffff 020000000001 0806`;
const TEST_RUN_REPLY_HEX = `
  c1c0 08 01 0b000000 08000000 00000000
  02000000 7b000000`;

const TAG_RESET_HEX = `
  c1c0 09 00 0c000000 10000000 00000000
  02000000 00000000 03000000 00000100`;
const SHUTDOWN_UNPIN_HEX = 'c1c0 0a 04 0d000000 00000000 00000000';
const REPLACE_END_REPLY_HEX = `
  c1c0 05 01 0e000000 08000000 00000000
  03000000 00000000`;
const ERROR_REPLY_HEX = `
  c1c0 02 01 0f000000 09000000 eaffffff
  626164 20 636f756e74`;
const STATS_REQ_HEX = 'c1c0 07 00 10000000 00000000 00000000';
// REPLACE_CHUNK id 18: one entry (ignore 198.51.100.0/24 tag 9), sent as UPSERT
const REPLACE_CHUNK_HEX = `
  c1c0 04 00 12000000 20000000 00000000
  01000000 00000000
  02 01 04 18 09000000 c6336400 000000000000000000000000`;

const STREAM_HEX = [
  HELLO_HEX, BATCH_HEX, STATUSES_HEX, STATS_HEX, DUMP_A_HEX, DUMP_B_HEX, TEST_RUN_REQ_HEX,
  TEST_RUN_REPLY_HEX, TAG_RESET_HEX, SHUTDOWN_UNPIN_HEX, REPLACE_END_REPLY_HEX, ERROR_REPLY_HEX,
  STATS_REQ_HEX, REPLACE_CHUNK_HEX,
];

/* ------------------------------------------------------------------ */

describe('encoders', () => {
  test('header: magic, type, flags, id, len, status little-endian', () => {
    assert.deepEqual(
      encodeHeader({ type: MSG.BATCH, flags: FLAG.REPLY | FLAG.MORE, id: 0x01020304, len: 0x0a0b0c, status: -22 }),
      hex('c1c0 02 03 04030201 0c0b0a00 eaffffff'),
    );
    assert.equal(hex('c1c0').readUInt16LE(0), MAGIC);
    assert.throws(() => encodeHeader({ type: 256, id: 1, len: 0 }), isProto('bad_value'));
    assert.throws(() => encodeHeader({ type: 1, id: -1, len: 0 }), isProto('bad_value'));
  });

  test('BATCH with a v4 and a v6 record', () => {
    assert.deepEqual(encodeBatch(7, BATCH_OPS), hex(BATCH_HEX));
  });

  test('BatchRecords: putV4 writes the bytes put() writes, the address in network order', () => {
    const rec = new BatchRecords(2);
    rec.putV4('add', 'drop', (192 << 24 >>> 0) + 2 * 256 + 1, 32, 1);
    // put() copies the address: the caller may reuse its array
    const addr = Uint8Array.from(BATCH_OPS[1]!.addr);
    rec.put({ ...BATCH_OPS[1]!, addr });
    addr.fill(0xff);
    assert.equal(rec.length, 2);
    assert.deepEqual(encodeBatchRecords(7, rec), hex(BATCH_HEX));
    assert.throws(() => rec.putV4('add', 'drop', 1, 32, 1), RangeError);
  });

  test('BatchRecords: slice() and a frame of a range carry those records alone', () => {
    const rec = BatchRecords.of(BATCH_OPS);
    const second = encodeBatch(7, [BATCH_OPS[1]!]);
    assert.deepEqual(encodeBatchRecords(7, rec, 1, 2), second);
    assert.deepEqual(encodeBatchRecords(7, rec.slice(1, 2)), second);
    assert.equal(rec.slice(0, 1).length, 1);
    assert.deepEqual(rec.ops(), BATCH_OPS, 'read back as the MapOps written');
  });

  test('BatchRecords: putV4 refuses what put() refuses', () => {
    const rec = new BatchRecords(4);
    assert.throws(() => rec.putV4('add', 'drop', 1, 256, 1), isProto('bad_value', /prefixLen/));
    assert.throws(() => rec.putV4('add', 'drop', 1, 32, 2 ** 32), isProto('bad_value', /tag/));
    assert.throws(() => rec.putV4('zap' as never, 'drop', 1, 32, 1), isProto('bad_value', /kind/));
    assert.throws(() => rec.putV4('add', 'deny' as never, 1, 32, 1), isProto('bad_value', /policy/));
    assert.equal(rec.length, 0);
  });

  test('REPLACE_CHUNK records are UPSERTs', () => {
    assert.deepEqual(
      encodeReplaceChunk(18, [{ policy: 'ignore', family: 4, prefixLen: 24, addr: Uint8Array.of(198, 51, 100, 0), tagId: 9 }]),
      hex(REPLACE_CHUNK_HEX),
    );
  });

  test('an address of the wrong length for its family is refused', () => {
    assert.throws(() => encodeBatch(1, [{ ...BATCH_OPS[0]!, addr: new Uint8Array(16) }]), isProto('bad_value', /IPv4 address must be 4 bytes/));
    assert.throws(() => encodeBatch(1, [{ ...BATCH_OPS[1]!, addr: new Uint8Array(4) }]), isProto('bad_value', /IPv6 address must be 16 bytes/));
    assert.throws(() => encodeBatch(1, [{ ...BATCH_OPS[0]!, prefixLen: 256 }]), isProto('bad_value', /prefixLen/));
    assert.throws(() => encodeBatch(1, [{ ...BATCH_OPS[0]!, tagId: 2 ** 32 }]), isProto('bad_value', /tag/));
    assert.throws(() => encodeBatch(1, [{ ...BATCH_OPS[0]!, kind: 'zap' as never }]), isProto('bad_value', /kind/));
  });

  test('raw list: out-of-range values the helper must reject can still be expressed', () => {
    const p = encodeRawList([{ kind: 9, policy: 7, family: 5, prefixLen: 33, tag: 1, addr: Uint8Array.of(1, 2, 3, 4, 5) }]);
    assert.deepEqual(p, hex('01000000 00000000 09 07 05 21 01000000 0102030405 00000000000000000000 00'));
    assert.deepEqual(decodeRawList(p)[0]?.addr, Uint8Array.from(hex('0102030405000000 0000000000000000')));
  });

  test('TEST_RUN, TAG_RESET, SHUTDOWN (UNPIN), empty requests', () => {
    assert.deepEqual(encodeTestRun(11, Uint8Array.from(hex('ffffffffffff 020000000001 0806')), 100), hex(TEST_RUN_REQ_HEX));
    assert.deepEqual(encodeTagReset(12, [3, 0x10000]), hex(TAG_RESET_HEX));
    assert.deepEqual(encodeShutdown(13, { unpin: true }), hex(SHUTDOWN_UNPIN_HEX));
    assert.deepEqual(encodeShutdown(13), hex('c1c0 0a 00 0d000000 00000000 00000000'));
    assert.deepEqual(encodeEmptyRequest(MSG.STATS, 16), hex(STATS_REQ_HEX));
    assert.deepEqual(encodeEmptyRequest(MSG.REPLACE_BEGIN, 2), hex('c1c0 03 00 02000000 00000000 00000000'));
    assert.deepEqual(encodeEmptyRequest(MSG.DUMP, 0xfffffffe), hex('c1c0 06 00 feffffff 00000000 00000000'));
  });

  test('helper-side encoders reproduce the fixtures (HELLO, statuses, STATS)', () => {
    assert.deepEqual(encodeFrame(MSG.HELLO, 0, encodeHello(HELLO), { flags: FLAG.REPLY }), hex(HELLO_HEX));
    assert.deepEqual(
      encodeFrame(MSG.BATCH, 7, encodeStatuses(['ok', 'exists', 'absent', 'full', 'invalid']), { flags: FLAG.REPLY }),
      hex(STATUSES_HEX),
    );
    assert.deepEqual(encodeFrame(MSG.STATS, 17, encodeStats(STATS), { flags: FLAG.REPLY }), hex(STATS_HEX));
  });

  test('MAX_OPS_PER_FRAME fits both limits', () => {
    assert.equal(MAX_OPS_PER_FRAME, LIMITS.MAX_OPS);
    assert.ok(8 + MAX_OPS_PER_FRAME * 24 <= LIMITS.MAX_PAYLOAD);
  });
});

describe('decoders', () => {
  test('HELLO with two interfaces', () => {
    assert.deepEqual(decodeHello(payloadOf(hex(HELLO_HEX))), HELLO);
  });

  test('HELLO: size must match n_ifaces; interface fields are checked', () => {
    const p = payloadOf(hex(HELLO_HEX));
    assert.throws(() => decodeHello(p.subarray(0, 87)), isProto('bad_size'));
    assert.throws(() => decodeHello(p.subarray(0, 88 + 24)), isProto('bad_size', /2 interfaces needs 136/));
    assert.throws(() => decodeHello(Buffer.concat([p, Buffer.alloc(24)])), isProto('bad_size'));
    const badMode = Buffer.from(p);
    badMode.writeUInt32LE(3, 88 + 4);
    assert.throws(() => decodeHello(badMode), isProto('bad_value', /mode 3/));
    const noNul = Buffer.from(p);
    noNul.fill(0x41, 88 + 8, 88 + 24);
    assert.throws(() => decodeHello(noNul), isProto('bad_value', /NUL/));
    const many = Buffer.from(p);
    many.writeUInt32LE(65, 80);
    assert.throws(() => decodeHello(many), isProto('bad_value', /65 interfaces/));
  });

  test('statuses with padding', () => {
    const p = payloadOf(hex(STATUSES_HEX));
    assert.deepEqual(decodeStatuses(p), ['ok', 'exists', 'absent', 'full', 'invalid']);
    assert.deepEqual(decodeStatuses(p, 5), ['ok', 'exists', 'absent', 'full', 'invalid']);
    assert.deepEqual(decodeStatuses(hex('04000000 00000000 05050000')), ['error', 'error', 'ok', 'ok']);
    assert.deepEqual(decodeStatuses(hex('00000000 00000000')), []);
  });

  test('statuses: count/size mismatches, bad values and bad padding are rejected', () => {
    assert.throws(() => decodeStatuses(hex('05000000 00000000 0001020304')), isProto('bad_size', /5 statuses need 16 bytes, got 13/));
    assert.throws(() => decodeStatuses(hex('05000000 00000000 00010203 04000000 00000000')), isProto('bad_size'));
    assert.throws(() => decodeStatuses(hex('01000000 0000')), isProto('bad_size'));
    assert.throws(() => decodeStatuses(hex('01000000 00000000 06000000')), isProto('bad_value', /unknown value 6/));
    assert.throws(() => decodeStatuses(hex('01000000 00000000 00000100')), isProto('bad_value', /padding/));
    assert.throws(() => decodeStatuses(payloadOf(hex(STATUSES_HEX)), 4), isProto('bad_size', /5 statuses for 4 records/));
  });

  test('DUMP list (MORE frames decode independently, v4 addresses come back as 4 bytes)', () => {
    assert.deepEqual(decodeEntryList(payloadOf(hex(DUMP_A_HEX))), [
      { policy: 'drop', family: 4, prefixLen: 8, addr: Uint8Array.of(10, 0, 0, 0), tagId: 2 },
    ]);
    assert.deepEqual(decodeEntryList(payloadOf(hex(DUMP_B_HEX))), [
      { policy: 'ignore', family: 6, prefixLen: 128, addr: Uint8Array.from(hex('20010db8000000000000000000000001')), tagId: 5 },
    ]);
    assert.deepEqual(decodeEntryList(hex('00000000 00000000')), []);
  });

  test('DUMP list: count/size mismatches and bad fields are rejected', () => {
    const p = payloadOf(hex(DUMP_A_HEX));
    const two = Buffer.from(p);
    two.writeUInt32LE(2, 0);
    assert.throws(() => decodeEntryList(two), isProto('bad_size', /2 records needs 56 bytes, got 32/));
    assert.throws(() => decodeEntryList(Buffer.concat([p, Buffer.alloc(1)])), isProto('bad_size'));
    assert.throws(() => decodeEntryList(p.subarray(0, 7)), isProto('bad_size'));
    const fam = Buffer.from(p);
    fam[8 + 2] = 5;
    assert.throws(() => decodeEntryList(fam), isProto('bad_value', /family 5/));
    const pol = Buffer.from(p);
    pol[8 + 1] = 2;
    assert.throws(() => decodeEntryList(pol), isProto('bad_value', /policy 2/));
    const pfx = Buffer.from(p);
    pfx[8 + 3] = 33;
    assert.throws(() => decodeEntryList(pfx), isProto('bad_value', /prefix \/33/));
  });

  test('STATS with tags (64-bit counters)', () => {
    assert.deepEqual(decodeStats(payloadOf(hex(STATS_HEX))), STATS);
  });

  test('STATS: size must match n_tags; n_actions/n_parse must be the ABI ones', () => {
    const p = payloadOf(hex(STATS_HEX));
    assert.throws(() => decodeStats(p.subarray(0, p.length - 24)), isProto('bad_size', /2 tags needs 248 bytes, got 224/));
    assert.throws(() => decodeStats(Buffer.concat([p, Buffer.alloc(8)])), isProto('bad_size'));
    assert.throws(() => decodeStats(p.subarray(0, 15)), isProto('bad_size'));
    const acts = Buffer.from(p);
    acts.writeUInt32LE(4, 0);
    assert.throws(() => decodeStats(acts), isProto('bad_value', /n_actions 4/));
    const parse = Buffer.from(p);
    parse.writeUInt32LE(10, 4);
    assert.throws(() => decodeStats(parse), isProto('bad_value', /n_parse 10/));
    const pol = Buffer.from(p);
    pol.writeUInt32LE(2, 248 - 24 + 4);
    assert.throws(() => decodeStats(pol), isProto('bad_value', /policy 2/));
  });

  test('TEST_RUN result, REPLACE_END, error message', () => {
    assert.deepEqual(decodeTestResult(payloadOf(hex(TEST_RUN_REPLY_HEX))), { retval: 2, durationNs: 123 });
    assert.throws(() => decodeTestResult(hex('02000000 7b0000')), isProto('bad_size'));
    assert.deepEqual(decodeReplaceEnd(payloadOf(hex(REPLACE_END_REPLY_HEX))), { removed: 3 });
    assert.throws(() => decodeReplaceEnd(hex('03000000')), isProto('bad_size'));
    assert.equal(decodeErrorMessage(payloadOf(hex(ERROR_REPLY_HEX))), 'bad count');
    assert.equal(decodeErrorMessage(Buffer.from('count 3 does not match len 40\n\0', 'utf8')), 'count 3 does not match len 40');
  });

  test('BATCH request round-trips through the raw list decoder', () => {
    const recs = decodeRawList(payloadOf(hex(BATCH_HEX)));
    assert.deepEqual(recs.map((r) => [r.kind, r.policy, r.family, r.prefixLen, r.tag]), [
      [1, 0, 4, 32, 1],
      [3, 1, 6, 64, 0x01020304],
    ]);
  });
});

describe('FrameParser', () => {
  const stream = Buffer.concat(STREAM_HEX.map(hex));
  const whole = new FrameParser().pushAll(stream);

  test('parses the whole fixture stream into its frames', () => {
    assert.equal(whole.length, STREAM_HEX.length);
    assert.deepEqual(
      whole.map((f) => [f.type, f.flags, f.id, f.len, f.status]),
      [
        [MSG.HELLO, 1, 0, 136, 0],
        [MSG.BATCH, 0, 7, 56, 0],
        [MSG.BATCH, 1, 7, 16, 0],
        [MSG.STATS, 1, 17, 248, 0],
        [MSG.DUMP, 3, 9, 32, 0],
        [MSG.DUMP, 1, 9, 32, 0],
        [MSG.TEST_RUN, 0, 11, 22, 0],
        [MSG.TEST_RUN, 1, 11, 8, 0],
        [MSG.TAG_RESET, 0, 12, 16, 0],
        [MSG.SHUTDOWN, FLAG.UNPIN, 13, 0, 0],
        [MSG.REPLACE_END, 1, 14, 8, 0],
        [MSG.BATCH, 1, 15, 9, -22],
        [MSG.STATS, 0, 16, 0, 0],
        [MSG.REPLACE_CHUNK, 0, 18, 32, 0],
      ],
    );
    STREAM_HEX.forEach((h, i) => assert.deepEqual(whole[i]?.payload, payloadOf(hex(h)), `payload of frame ${i}`));
    assert.deepEqual(decodeHello(whole[0]!.payload), HELLO);
    assert.deepEqual(decodeStats(whole[3]!.payload), STATS);
  });

  test('split at every byte boundary: same frames', () => {
    for (let k = 0; k <= stream.length; k++) {
      const p = new FrameParser();
      const got: Frame[] = [];
      p.push(stream.subarray(0, k), (f) => got.push(f));
      p.push(stream.subarray(k), (f) => got.push(f));
      assert.deepEqual(got, whole, `split at ${k}`);
      assert.equal(p.state, 'header');
      assert.equal(p.buffered, 0);
    }
  });

  test('split at every pair of boundaries of a short stream: same frames', () => {
    const short = Buffer.concat([DUMP_A_HEX, SHUTDOWN_UNPIN_HEX, TEST_RUN_REPLY_HEX, STATS_REQ_HEX].map(hex));
    const ref = new FrameParser().pushAll(short);
    assert.equal(ref.length, 4);
    for (let i = 0; i <= short.length; i++) {
      for (let j = i; j <= short.length; j++) {
        const p = new FrameParser();
        const got = [...p.pushAll(short.subarray(0, i)), ...p.pushAll(short.subarray(i, j)), ...p.pushAll(short.subarray(j))];
        assert.deepEqual(got, ref, `split at ${i},${j}`);
      }
    }
  });

  test('one byte at a time: same frames, each emitted on its last byte', () => {
    const p = new FrameParser();
    const got: Frame[] = [];
    const emittedAt: number[] = [];
    for (let i = 0; i < stream.length; i++) {
      p.push(stream.subarray(i, i + 1), (f) => {
        got.push(f);
        emittedAt.push(i + 1);
      });
      assert.ok(p.buffered <= 16 + 248, 'never more than one frame buffered');
    }
    assert.deepEqual(got, whole);
    let end = 0;
    const ends = STREAM_HEX.map((h) => (end += hex(h).length));
    assert.deepEqual(emittedAt, ends);
  });

  test('empty chunks are harmless', () => {
    const p = new FrameParser();
    assert.deepEqual(p.pushAll(new Uint8Array(0)), []);
    assert.equal(p.pushAll(hex(SHUTDOWN_UNPIN_HEX)).length, 1);
  });

  test('bad magic → ProtocolError; frames before it are emitted; the parser stays failed', () => {
    const bad = hex('adde 02 01 01000000 04000000 00000000 01020304');
    const p = new FrameParser();
    const got: Frame[] = [];
    assert.throws(() => p.push(Buffer.concat([hex(STATS_REQ_HEX), bad, hex(STATS_REQ_HEX)]), (f) => got.push(f)), isProto('bad_magic', /0xdead/));
    assert.equal(got.length, 1, 'the frame before the bad one was emitted');
    assert.equal(p.state, 'failed');
    assert.equal(p.buffered, 0);
    assert.ok(p.error instanceof ProtocolError);
    assert.throws(() => p.pushAll(hex(STATS_REQ_HEX)), isProto('failed'));
  });

  test('bad magic split over two chunks is detected when the header completes', () => {
    const p = new FrameParser();
    assert.deepEqual(p.pushAll(hex('c1c1 07 00 1000')), []);
    assert.throws(() => p.pushAll(hex('0000 00000000 00000000')), isProto('bad_magic'));
  });

  test('oversized len → ProtocolError before any payload is buffered', () => {
    const hdr = encodeHeader({ type: MSG.BATCH, flags: FLAG.REPLY, id: 1, len: LIMITS.MAX_PAYLOAD + 1 });
    const p = new FrameParser();
    assert.throws(() => p.pushAll(Buffer.concat([hdr, Buffer.alloc(4096, 0xaa)])), isProto('too_large', /4194305/));
    assert.equal(p.buffered, 0);
    assert.equal(p.state, 'failed');
    const small = new FrameParser({ maxPayload: 8 });
    assert.deepEqual(small.pushAll(hex(TEST_RUN_REPLY_HEX)).length, 1, 'len == limit is fine');
    assert.throws(() => small.pushAll(hex(TAG_RESET_HEX)), isProto('too_large'));
  });

  test('a frame of exactly MAX_PAYLOAD is accepted and held as exactly one frame', () => {
    const hdr = encodeHeader({ type: MSG.DUMP, flags: FLAG.REPLY, id: 3, len: LIMITS.MAX_PAYLOAD });
    const p = new FrameParser();
    assert.deepEqual(p.pushAll(Buffer.concat([hdr, Buffer.alloc(1000)])), []);
    assert.equal(p.state, 'payload');
    assert.equal(p.buffered, 16 + 1000);
    const frames = p.pushAll(Buffer.concat([Buffer.alloc(LIMITS.MAX_PAYLOAD - 1000, 1), hex(STATS_REQ_HEX)]));
    assert.equal(frames.length, 2);
    assert.equal(frames[0]!.payload.length, LIMITS.MAX_PAYLOAD);
    assert.equal(frames[0]!.payload[999], 0);
    assert.equal(frames[0]!.payload[1000], 1);
    assert.equal(frames[1]!.type, MSG.STATS);
  });

  test('emitted payloads are not overwritten by later chunks', () => {
    const p = new FrameParser();
    const a = p.pushAll(hex(DUMP_A_HEX));
    const snapshot = Buffer.from(a[0]!.payload);
    p.pushAll(hex(DUMP_B_HEX));
    assert.deepEqual(a[0]!.payload, snapshot);
  });
});
