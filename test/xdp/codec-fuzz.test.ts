/**
 * The TypeScript helper codec (src/xdp/protocol.ts) fuzzed with fast-check:
 * random bytes, valid payloads truncated at every length and mutated, and
 * valid frame streams cut into random chunks. Every decoder returns or
 * throws its own ProtocolError, nothing else (no RangeError from a read
 * past the end); the FrameParser never holds more than one frame, emits
 * the same frames however the stream is cut, stays failed after a fault,
 * and finishes (the node:test timeout catches a loop). Bounded by
 * COUIC_FUZZ_SECONDS (default 30; each property gets a sixth, at most 10 s).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FLAG, LIMITS, MSG, PARSE_REASONS, PROTO_VERSION, XDP_ACTIONS, type OpStatus } from '../../src/xdp/abi.js';
import {
  decodeEntryList,
  decodeErrorMessage,
  decodeHello,
  decodeRawList,
  decodeReplaceEnd,
  decodeStats,
  decodeStatuses,
  decodeTestResult,
  encodeFrame,
  encodeHello,
  encodeRawList,
  encodeStats,
  encodeStatuses,
  FrameParser,
  ProtocolError,
  type Frame,
} from '../../src/xdp/protocol.js';
import type { HelperStats, Hello } from '../../src/xdp/types.js';

const SECONDS = Number(process.env['COUIC_FUZZ_SECONDS'] ?? 30);
const LIMIT_MS = Math.min(10_000, (SECONDS * 1000) / 6);
const RUN = { numRuns: 1_000_000, interruptAfterTimeLimit: LIMIT_MS, markInterruptAsFailure: false } as const;
const TIMEOUT = { timeout: LIMIT_MS + 60_000 };
let runs = 0;

/** `fn` returns, or throws a ProtocolError: anything else is a bug. */
function ownErrorOnly(what: string, fn: () => unknown): void {
  runs += 1;
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `${what} threw ${String(err)}`);
  }
}

const DECODERS: readonly [string, (b: Uint8Array) => unknown][] = [
  ['decodeRawList', decodeRawList],
  ['decodeEntryList', decodeEntryList],
  ['decodeStatuses', (b) => decodeStatuses(b)],
  ['decodeStatuses(3)', (b) => decodeStatuses(b, 3)],
  ['decodeHello', decodeHello],
  ['decodeStats', decodeStats],
  ['decodeTestResult', decodeTestResult],
  ['decodeReplaceEnd', decodeReplaceEnd],
  ['decodeErrorMessage', decodeErrorMessage],
];

const hello: Hello = {
  protoVersion: PROTO_VERSION,
  features: { batchHash: true, batchLpm: false, xdpLink: true, pinned: false, reused: false, lpmOnly: false },
  ncpus: 2,
  maxTags: 16,
  capacity: [4, 4, 4, 4, 4, 4, 4, 4],
  count: [0, 1, 0, 0, 0, 0, 0, 0],
  ifaces: [{ ifindex: 3, name: 'veth0', mode: 'generic' }],
};
const stats: HelperStats = {
  xdp: Object.fromEntries(XDP_ACTIONS.map((a, i) => [a, { packets: BigInt(i), bytes: BigInt(i * 60) }])) as HelperStats['xdp'],
  parse: Object.fromEntries(PARSE_REASONS.map((r, i) => [r, BigInt(i)])) as HelperStats['parse'],
  count: [1, 0, 0, 0, 0, 0, 0, 0],
  tags: [{ tagId: 1, policy: 'drop', packets: 5n, bytes: 300n }],
};
const statuses: OpStatus[] = ['ok', 'ok', 'ok'];

/** Valid payloads of each kind, the seeds of truncation and mutation. */
function validPayloads(): Buffer[] {
  const out: Buffer[] = [encodeHello(hello), encodeStatuses(statuses), encodeRawList([
    { kind: 1, policy: 0, family: 4, prefixLen: 32, tag: 1, addr: Uint8Array.from([10, 0, 0, 1, ...Array(12).fill(0)]) },
    { kind: 1, policy: 1, family: 6, prefixLen: 64, tag: 2, addr: Uint8Array.from(Array(16).fill(0x20)) },
  ]), Buffer.alloc(8), Buffer.from('helper says no\n\0'), encodeStats(stats)];
  return out;
}

describe('helper codec fuzzing', () => {
  it('random bytes: every decoder returns or throws its ProtocolError', TIMEOUT, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
      for (const [name, dec] of DECODERS) ownErrorOnly(name, () => dec(b));
    }), RUN);
  });

  it('valid payloads truncated at every length and mutated: ProtocolError or a value, never another error', TIMEOUT, () => {
    const seeds = validPayloads();
    for (const seed of seeds) {
      for (let n = 0; n <= seed.length; n += 1) for (const [name, dec] of DECODERS) ownErrorOnly(`${name} cut at ${n}`, () => dec(seed.subarray(0, n)));
    }
    fc.assert(fc.property(
      fc.nat({ max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.option(fc.nat(), { nil: undefined }),
      (i, flips, cut) => {
        const b = Buffer.from(seeds[i]!);
        for (const [at, v] of flips) b[at % b.length] = v;
        const input = cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
        for (const [name, dec] of DECODERS) ownErrorOnly(name, () => dec(input));
      },
    ), RUN);
  });

  it('FrameParser: valid streams give the same frames however they are cut', TIMEOUT, () => {
    const frame = fc.record({
      type: fc.constantFrom(MSG.HELLO, MSG.BATCH, MSG.STATS, MSG.DUMP),
      id: fc.nat(),
      payload: fc.uint8Array({ maxLength: 300 }),
      flags: fc.constantFrom(0, FLAG.REPLY),
      status: fc.integer({ min: -40, max: 0 }),
    });
    fc.assert(fc.property(fc.array(frame, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
      runs += 1;
      const stream = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.id, f.payload, { flags: f.flags, status: f.status })));
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const p = new FrameParser();
      const got: Frame[] = [];
      let from = 0;
      for (const to of [...points, stream.length]) {
        p.push(stream.subarray(from, to), (f) => got.push(f));
        assert.ok(p.buffered <= 16 + 300, `holds ${p.buffered} bytes`);
        from = to;
      }
      assert.equal(p.state, 'header');
      assert.deepEqual(got.map((f) => [f.type, f.id, f.flags, f.status, Buffer.from(f.payload).toString('hex')]),
        frames.map((f) => [f.type, f.id, f.flags, f.status, Buffer.from(f.payload).toString('hex')]));
    }), RUN);
  });

  it('FrameParser: random and damaged streams throw only ProtocolError, stay failed, hold at most one frame', TIMEOUT, () => {
    const maxPayload = 1024;
    fc.assert(fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 4096 }),
        fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([pl, at, v]) => {
          const b = encodeFrame(MSG.BATCH, 7, pl, { flags: FLAG.REPLY });
          b[at % b.length] = v;
          return Uint8Array.from(Buffer.concat([b, encodeFrame(MSG.STATS, 8, pl)]));
        }),
        fc.nat().map((len) => {
          const b = encodeFrame(MSG.BATCH, 1, Buffer.alloc(0));
          b.writeUInt32LE(len, 8); // a header announcing any length, no payload
          return Uint8Array.from(b);
        }),
      ),
      fc.nat({ max: 64 }),
      (bytes, step) => {
        runs += 1;
        const p = new FrameParser({ maxPayload });
        let failed = false;
        for (let at = 0; at < bytes.length; at += step + 1) {
          try {
            p.push(bytes.subarray(at, at + step + 1), (f) => assert.ok(f.payload.length <= maxPayload));
            assert.ok(!failed, 'a failed parser never accepts bytes again');
          } catch (err) {
            assert.ok(err instanceof ProtocolError, `push threw ${String(err)}`);
            if (failed) assert.equal(err.reason, 'failed');
            failed = true;
            assert.equal(p.state, 'failed');
          }
          assert.ok(p.buffered <= 16 + maxPayload, `holds ${p.buffered} bytes`);
        }
      },
    ), RUN);
    assert.ok(LIMITS.MAX_PAYLOAD > 0);
    process.stdout.write(`codec fuzz: ${runs} inputs, errors other than ProtocolError 0\n`);
  });
});
