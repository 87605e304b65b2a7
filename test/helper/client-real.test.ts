/**
 * HelperClient against the real couic-helper (root; no interfaces, tiny
 * capacities). Exercises the protocol end to end: HELLO, BATCH statuses,
 * full maps, DUMP, REPLACE, STATS, TEST_RUN, TAG_RESET, malformed frames
 * through sendRaw, and the death of the helper.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { Family, Policy } from '../../src/domain/types.js';
import { FLAG, LIMITS, MSG } from '../../src/xdp/abi.js';
import {
  HelperClient,
  HelperGoneError,
  helperPath,
  HelperRequestError,
  type HelperClientOptions,
} from '../../src/xdp/helper.js';
import {
  decodeEntryList,
  decodeErrorMessage,
  decodeStats,
  decodeStatuses,
  encodeEmptyRequest,
  encodeFrame,
  encodeHeader,
  encodeRawList,
  type RawOp,
} from '../../src/xdp/protocol.js';
import type { KernelEntry, MapOp } from '../../src/xdp/types.js';

const BIN = helperPath();
const EINVAL = 22;
const EMSGSIZE = 90;
const E2BIG = 7;
const EOPNOTSUPP = 95;

function options(o: Partial<HelperClientOptions> = {}): HelperClientOptions & { logs: string[] } {
  assert.ok(existsSync(BIN), `couic-helper is not built (${BIN}): run \`make -C src/helper\``);
  const logs: string[] = [];
  return {
    helperPath: BIN,
    capacities: { dropExact: 4, dropCidr: 4, ignoreExact: 4, ignoreCidr: 4 },
    maxTags: 16,
    requestTimeoutMs: 15_000,
    startTimeoutMs: 20_000,
    onLog: (l) => logs.push(l),
    ...o,
    logs,
  };
}

/* ---------------- address helpers ---------------- */

function v4(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}

function v6(s: string): Uint8Array {
  const [head = '', tail = ''] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = s.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

function op(kind: MapOp['kind'], policy: Policy, cidr: string, tagId = 1): MapOp {
  const [addr = '', len = ''] = cidr.split('/');
  const family: Family = addr.includes(':') ? 6 : 4;
  return { kind, policy, family, prefixLen: Number(len), addr: family === 4 ? v4(addr) : v6(addr), tagId };
}

function entry(policy: Policy, cidr: string, tagId = 1): KernelEntry {
  const { kind: _k, ...e } = op('add', policy, cidr, tagId);
  return e;
}

function key(e: KernelEntry): string {
  return `${e.policy} v${e.family} ${Buffer.from(e.addr).toString('hex')}/${e.prefixLen} tag ${e.tagId}`;
}

function sorted(es: Iterable<KernelEntry>): string[] {
  return [...es].map(key).sort();
}

/** Ethernet + IPv4 header (no payload) from `src`. */
function ipv4Packet(src: string): Uint8Array {
  const p = new Uint8Array(14 + 20 + 26);
  p.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  p.set([0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0], 14);
  p.set(v4(src), 14 + 12);
  p.set(v4('198.51.100.7'), 14 + 16);
  return p;
}

function raw(kind: number, policy: number, family: number, prefixLen: number, addr: number[], tag = 1): RawOp {
  return { kind, policy, family, prefixLen, tag, addr: Uint8Array.from(addr) };
}

/* ------------------------------------------------------------------ */

describe('real couic-helper', () => {
  let h: HelperClient;
  let logs: string[];

  before(async () => {
    const o = options();
    logs = o.logs;
    h = await HelperClient.start(o);
  });

  after(async () => {
    if (h.goneError === undefined) await h.close(5_000);
  });

  test('HELLO: capacities, counts, features, no interfaces', () => {
    const hello = h.hello;
    assert.equal(hello.protoVersion, 1);
    assert.deepEqual(hello.capacity, [4, 4, 4, 4, 4, 4, 4, 4]);
    assert.deepEqual(hello.count, [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(hello.maxTags, 16);
    assert.deepEqual(hello.ifaces, []);
    assert.equal(hello.features.batchHash, true, 'kernel 6.18 has batch ops on hash maps');
    assert.equal(hello.features.pinned, false);
    assert.equal(hello.features.reused, false);
    assert.equal(hello.features.lpmOnly, false);
    assert.ok(hello.ncpus >= cpus().length, `ncpus ${hello.ncpus} counts every possible CPU`);
    assert.equal(typeof h.pid, 'number');
  });

  test('applyBatch: ok / exists / absent / invalid, in request order', async () => {
    const st = await h.applyBatch([
      op('add', 'drop', '192.0.2.1/32', 1),
      op('add', 'drop', '192.0.2.1/32', 2), // exists
      op('delete', 'drop', '192.0.2.99/32'), // absent
      op('add', 'drop', '10.0.0.1/8'), // host bits set
      op('add', 'drop', '10.0.0.0/33'), // prefix too long
      op('add', 'ignore', '2001:db8::/32', 3),
      op('upsert', 'drop', '192.0.2.1/32', 4), // overwrite the tag
      op('delete', 'ignore', '2001:db8::/48'), // absent (other prefix)
      op('add', 'drop', '2001:db8::1/128', 5),
      op('add', 'ignore', '203.0.113.0/24', 6),
    ]);
    assert.deepEqual(st, ['ok', 'exists', 'absent', 'invalid', 'invalid', 'ok', 'ok', 'absent', 'ok', 'ok']);
    assert.deepEqual(sorted(await h.dump()), sorted([
      entry('drop', '192.0.2.1/32', 4),
      entry('ignore', '2001:db8::/32', 3),
      entry('drop', '2001:db8::1/128', 5),
      entry('ignore', '203.0.113.0/24', 6),
    ]));
    assert.deepEqual(await h.applyBatch([]), []);
  });

  test('invalid records built by hand: bad kind, policy, family, v4 padding', async () => {
    const id = h.allocId();
    const f = await h.sendRaw(
      encodeFrame(MSG.BATCH, id, encodeRawList([
        raw(0, 0, 4, 32, [192, 0, 2, 50]), // kind 0
        raw(4, 0, 4, 32, [192, 0, 2, 50]), // kind 4
        raw(1, 2, 4, 32, [192, 0, 2, 50]), // policy 2
        raw(1, 0, 5, 32, [192, 0, 2, 50]), // family 5
        raw(1, 0, 4, 32, [192, 0, 2, 50, 0, 0, 0, 1]), // nonzero v4 padding
        raw(1, 0, 6, 129, [0x20, 0x01, 0x0d, 0xb8]), // v6 /129
        raw(3, 0, 4, 32, [192, 0, 2, 50]), // a valid DEL: absent
      ])),
      { id },
    );
    assert.equal(f.status, 0);
    assert.equal(f.id, id);
    assert.equal(f.type, MSG.BATCH);
    assert.equal(f.flags & FLAG.REPLY, FLAG.REPLY);
    assert.deepEqual(decodeStatuses(f.payload, 7), ['invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'absent']);
  });

  test('full maps answer "full" per extra record while earlier ones are ok', async () => {
    // drop v4 exact holds 192.0.2.1 already: 3 more fit, 3 do not.
    const extra = [2, 3, 4, 5, 6, 7].map((i) => op('add', 'drop', `192.0.2.${i + 100}/32`, 7));
    // drop v4 LPM (capacity 4): 4 fit, 1 does not; v6 exact unaffected by v4 being full.
    const lpm = [1, 2, 3, 4, 5].map((i) => op('add', 'drop', `100.${i}.0.0/16`, 8));
    const st = await h.applyBatch([...extra, ...lpm, op('add', 'drop', '2001:db8::2/128', 9)]);
    assert.deepEqual(st, ['ok', 'ok', 'ok', 'full', 'full', 'full', 'ok', 'ok', 'ok', 'ok', 'full', 'ok']);
    // Deleting one makes room for exactly one.
    const st2 = await h.applyBatch([
      op('delete', 'drop', '192.0.2.102/32'),
      op('add', 'drop', '192.0.2.200/32', 7),
      op('add', 'drop', '192.0.2.201/32', 7),
      op('upsert', 'drop', '192.0.2.103/32', 10), // overwriting in a full map works
    ]);
    assert.deepEqual(st2, ['ok', 'ok', 'full', 'ok']);
    const s = await h.stats();
    assert.deepEqual(s.count, [4, 2, 4, 0, 0, 0, 1, 1]);
  });

  test('dump() returns exactly what the kernel holds', async () => {
    const want = [
      entry('drop', '192.0.2.1/32', 4),
      entry('drop', '192.0.2.103/32', 10),
      entry('drop', '192.0.2.104/32', 7),
      entry('drop', '192.0.2.200/32', 7),
      entry('drop', '2001:db8::1/128', 5),
      entry('drop', '2001:db8::2/128', 9),
      ...[1, 2, 3, 4].map((i) => entry('drop', `100.${i}.0.0/16`, 8)),
      entry('ignore', '2001:db8::/32', 3),
      entry('ignore', '203.0.113.0/24', 6),
    ];
    const got = await h.dump();
    for (const e of got) assert.equal(e.addr.length, e.family === 4 ? 4 : 16);
    assert.deepEqual(sorted(got), sorted(want));
  });

  test('replaceAll removes strays, keeps and updates the others', async () => {
    const next = [
      entry('drop', '192.0.2.1/32', 11), // kept, tag updated
      entry('drop', '2001:db8::1/128', 5), // kept as is
      entry('drop', '100.1.0.0/16', 8), // kept
      entry('ignore', '198.51.100.0/24', 12), // new
      entry('ignore', '2001:db8:ffff::5/128', 13), // new
    ];
    const r = await h.replaceAll(next);
    assert.deepEqual(r.statuses, ['ok', 'ok', 'ok', 'ok', 'ok']);
    assert.equal(r.removed, 12 - 3);
    assert.deepEqual(sorted(await h.dump()), sorted(next));
    const s = await h.stats();
    assert.deepEqual(s.count, [1, 1, 1, 0, 0, 1, 1, 0]);

    // Replacing with the same state removes nothing; with nothing, removes everything.
    assert.deepEqual(await h.replaceAll(next), { statuses: ['ok', 'ok', 'ok', 'ok', 'ok'], removed: 0 });
    assert.deepEqual(await h.replaceAll([]), { statuses: [], removed: 5 });
    assert.deepEqual(await h.dump(), []);
    assert.deepEqual((await h.stats()).count, [0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('applyBatch splits into several frames and concatenates statuses in order', async () => {
    const small = await HelperClient.start(options({ maxOpsPerFrame: 3 }));
    try {
      const ops = [
        op('add', 'drop', '192.0.2.1/32'), op('add', 'drop', '192.0.2.1/32'), op('delete', 'drop', '192.0.2.2/32'),
        op('add', 'drop', '192.0.2.2/32'), op('add', 'drop', '10.0.0.1/8'), op('add', 'drop', '192.0.2.3/32'),
        op('add', 'drop', '192.0.2.4/32'), op('add', 'drop', '192.0.2.5/32'), op('delete', 'drop', '192.0.2.1/32'),
        op('add', 'drop', '192.0.2.5/32'),
      ];
      assert.deepEqual(await small.applyBatch(ops), ['ok', 'exists', 'absent', 'ok', 'invalid', 'ok', 'ok', 'full', 'ok', 'ok']);
      // Two chunks of 3 records: the exact map keeps .4 and .5 (.5 re-tagged), loses .2 and .3.
      const next = [entry('drop', '192.0.2.4/32'), entry('drop', '192.0.2.5/32', 3), entry('ignore', '0.0.0.0/0'), entry('drop', '10.0.0.0/8'), entry('drop', '2001:db8::/32')];
      assert.deepEqual(await small.replaceAll(next), { statuses: ['ok', 'ok', 'ok', 'ok', 'ok'], removed: 2 });
      assert.deepEqual(sorted(await small.dump()), sorted(next));
    } finally {
      await small.close(5_000);
    }
  });

  test('a list over MAX_OPS is split by applyBatch (real limit)', async () => {
    const n = LIMITS.MAX_OPS + 1000;
    const ops: MapOp[] = [];
    for (let i = 0; i < n; i++) ops.push({ kind: 'delete', policy: 'ignore', family: 4, prefixLen: 32, addr: Uint8Array.of(10, (i >> 16) & 255, (i >> 8) & 255, i & 255), tagId: 0 });
    const st = await h.applyBatch(ops);
    assert.equal(st.length, n);
    assert.ok(st.every((s) => s === 'absent'));
  });

  test('TEST_RUN, STATS counters and TAG_RESET', async () => {
    assert.deepEqual(await h.applyBatch([op('add', 'drop', '192.0.2.1/32', 5), op('add', 'ignore', '192.0.2.0/24', 6), op('add', 'drop', '203.0.113.9/32', 7)]), ['ok', 'ok', 'ok']);
    const before = await h.stats();
    // 203.0.113.9 is dropped (tag 7); 192.0.2.1 is dropped but ignored first (tag 6): passes.
    const drop = await h.testRun(ipv4Packet('203.0.113.9'), 3);
    assert.equal(drop.retval, 1, 'XDP_DROP');
    const pass = await h.testRun(ipv4Packet('192.0.2.1'), 2);
    assert.equal(pass.retval, 2, 'XDP_PASS');
    const other = await h.testRun(ipv4Packet('198.51.100.1'));
    assert.equal(other.retval, 2);
    const arp = new Uint8Array(42);
    arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    assert.equal((await h.testRun(arp)).retval, 2);

    const s = await h.stats();
    assert.equal(s.xdp.XDP_DROP.packets - before.xdp.XDP_DROP.packets, 3n);
    assert.equal(s.xdp.XDP_DROP.bytes - before.xdp.XDP_DROP.bytes, 3n * 60n);
    assert.equal(s.xdp.XDP_PASS.packets - before.xdp.XDP_PASS.packets, 4n);
    assert.equal(s.parse.non_ip - before.parse.non_ip, 1n);
    const tag = (id: number, policy: Policy) => s.tags.find((t) => t.tagId === id && t.policy === policy);
    assert.deepEqual(tag(7, 'drop'), { tagId: 7, policy: 'drop', packets: 3n, bytes: 180n });
    assert.deepEqual(tag(6, 'ignore'), { tagId: 6, policy: 'ignore', packets: 2n, bytes: 120n });
    assert.equal(tag(5, 'drop'), undefined, 'the ignored hit does not count for the drop tag');

    await h.resetTags([7]);
    const s2 = await h.stats();
    assert.equal(s2.tags.find((t) => t.tagId === 7), undefined, 'TAG_RESET zeroed tag 7');
    assert.ok(s2.tags.some((t) => t.tagId === 6), 'other tags untouched');
    assert.equal(s2.xdp.XDP_DROP.packets, s.xdp.XDP_DROP.packets, 'action counters untouched');
  });

  test('sendRaw: an unknown type gets -EOPNOTSUPP with a message; the helper keeps serving', async () => {
    const id = h.allocId();
    const f = await h.sendRaw(encodeFrame(42, id), { id });
    assert.equal(f.id, id);
    assert.equal(f.status, -EOPNOTSUPP);
    assert.equal(f.flags & FLAG.REPLY, FLAG.REPLY);
    assert.ok(decodeErrorMessage(f.payload).length > 0, 'error replies carry a message');
    const s = await h.stats();
    assert.equal(s.count.length, 8);
  });

  test('sendRaw: count/len mismatch → -EINVAL', async () => {
    const list = encodeRawList([raw(1, 0, 4, 32, [192, 0, 2, 77])]);
    list.writeUInt32LE(2, 0); // claims 2 records, carries 1
    const id = h.allocId();
    const f = await h.sendRaw(encodeFrame(MSG.BATCH, id, list), { id });
    assert.equal(f.status, -EINVAL);
    assert.ok(decodeErrorMessage(f.payload).length > 0);
    const id2 = h.allocId();
    const f2 = await h.sendRaw(encodeFrame(MSG.REPLACE_CHUNK, id2, Buffer.alloc(7)), { id: id2 });
    assert.equal(f2.status, -EINVAL, 'a list payload shorter than its header');
    const id3 = h.allocId();
    const f3 = await h.sendRaw(encodeFrame(MSG.STATS, id3, Buffer.alloc(4)), { id: id3 });
    assert.equal(f3.status, -EINVAL, 'STATS with a payload');
    const dumped = await h.dump();
    assert.equal(dumped.some((e) => e.addr[3] === 77), false, 'nothing of the bad batch was applied');
  });

  test('sendRaw: a list over MAX_OPS → -E2BIG', async () => {
    const recs: RawOp[] = [];
    for (let i = 0; i <= LIMITS.MAX_OPS; i++) recs.push(raw(3, 1, 4, 32, [10, 1, (i >> 8) & 255, i & 255]));
    const id = h.allocId();
    const f = await h.sendRaw(encodeFrame(MSG.BATCH, id, encodeRawList(recs)), { id });
    assert.equal(f.status, -E2BIG);
  });

  test('sendRaw: TEST_RUN with a bad inner length → -EINVAL', async () => {
    const p = Buffer.alloc(8 + 60);
    p.writeUInt32LE(1, 0);
    p.writeUInt32LE(61, 4); // one more than carried
    const id = h.allocId();
    const f = await h.sendRaw(encodeFrame(MSG.TEST_RUN, id, p), { id });
    assert.equal(f.status, -EINVAL);
  });

  test('sendRaw: an oversized frame is skipped with -EMSGSIZE and the next request works', async () => {
    const id = h.allocId();
    const len = LIMITS.MAX_PAYLOAD + 1;
    const bytes = Buffer.concat([encodeHeader({ type: MSG.BATCH, id, len }), Buffer.alloc(len, 0xab)]);
    const f = await h.sendRaw(bytes, { id });
    assert.equal(f.id, id);
    assert.equal(f.status, -EMSGSIZE);
    const id2 = h.allocId();
    const f2 = await h.sendRaw(encodeEmptyRequest(MSG.STATS, id2), { id: id2 });
    assert.equal(f2.status, 0);
    assert.equal(decodeStats(f2.payload).count.length, 8);
    assert.deepEqual(await h.applyBatch([op('add', 'drop', '192.0.2.33/32'), op('delete', 'drop', '192.0.2.33/32')]), ['ok', 'ok']);
  });

  test('request errors surface as HelperRequestError (errno + message)', async () => {
    // TAG_RESET over the list limit is answered -E2BIG; the client splits, so build it raw.
    const id = h.allocId();
    const p = Buffer.alloc(8 + 4);
    p.writeUInt32LE(3, 0); // 3 tags announced, 1 carried
    const f = await h.sendRaw(encodeFrame(MSG.TAG_RESET, id, p), { id });
    assert.equal(f.status, -EINVAL);
    // Through the typed API: a packet over COUIC_MAX_PKT.
    const err = await h.testRun(new Uint8Array(LIMITS.MAX_PKT + 1)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof HelperRequestError, String(err));
    assert.equal(err.code, 'HELPER_REQUEST');
    assert.equal(err.errno, EINVAL);
    assert.match(err.message, /TEST_RUN failed: EINVAL/);
    assert.ok(err.helperMessage.length > 0);
    assert.equal((await h.stats()).count.length, 8, 'still serving');
    assert.ok(logs.length >= 0);
  });

  test('TEST_RUN: a repeat over COUIC_MAX_REPEAT is refused with EINVAL, the limit itself runs, the helper keeps serving', async () => {
    // 2^32 - 1 runs kept the helper busy for minutes: with no bound this
    // request would hit the 15 s request timeout instead of an answer.
    for (const repeat of [2 ** 32 - 1, LIMITS.MAX_REPEAT + 1]) {
      const err = await h.testRun(ipv4Packet('192.0.2.1'), repeat).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof HelperRequestError, String(err));
      assert.equal(err.errno, EINVAL);
      assert.equal(err.helperMessage, `repeat ${repeat} over the limit of ${LIMITS.MAX_REPEAT}`);
    }
    assert.equal((await h.testRun(ipv4Packet('192.0.2.1'), LIMITS.MAX_REPEAT)).retval, 2, 'XDP_PASS at the limit');
    assert.deepEqual(await h.applyBatch([op('add', 'drop', '192.0.2.44/32'), op('delete', 'drop', '192.0.2.44/32')]), ['ok', 'ok']);
  });
});

describe('real couic-helper: DUMP across several frames', () => {
  test('more than COUIC_DUMP_CHUNK entries come back complete (MORE frames)', async () => {
    const h = await HelperClient.start(options({ capacities: { dropExact: 4, dropCidr: 4, ignoreExact: LIMITS.DUMP_CHUNK + 500, ignoreCidr: 4 } }));
    try {
      const n = LIMITS.DUMP_CHUNK + 100;
      const ops: MapOp[] = [];
      for (let i = 0; i < n; i++) ops.push({ kind: 'add', policy: 'ignore', family: 4, prefixLen: 32, addr: Uint8Array.of(10, 9, (i >> 8) & 255, i & 255), tagId: (i % 5) + 1 });
      const st = await h.applyBatch(ops);
      assert.equal(st.filter((s) => s === 'ok').length, n);
      const got = await h.dump();
      assert.equal(got.length, n);
      assert.deepEqual(sorted(got), sorted(ops.map(({ kind: _k, ...e }) => e)));
      // The first frame on the wire: a full chunk flagged MORE.
      const id = h.allocId();
      const first = await h.sendRaw(encodeEmptyRequest(MSG.DUMP, id), { id });
      assert.equal(first.status, 0);
      assert.equal(first.flags, FLAG.REPLY | FLAG.MORE);
      assert.equal(decodeEntryList(first.payload).length, LIMITS.DUMP_CHUNK);
      assert.equal((await h.stats()).count[4], n, 'still in step after the ignored MORE frames');
    } finally {
      await h.close(5_000);
    }
  });
});

describe('real couic-helper: lifecycle', () => {
  test('shutdown() gets its reply and the helper exits 0', async () => {
    const h = await HelperClient.start(options());
    await h.shutdown();
    assert.deepEqual(await h.exited, { code: 0, signal: null });
    await assert.rejects(h.stats(), HelperGoneError);
  });

  test('close() (EOF) makes the helper exit 0', async () => {
    const h = await HelperClient.start(options());
    await h.close(5_000);
    assert.deepEqual(await h.exited, { code: 0, signal: null });
  });

  test('a bad magic is fatal: the helper answers -EPROTO, exits 2, the client names both', async () => {
    const h = await HelperClient.start(options());
    assert.equal((await h.stats()).count.length, 8);
    const bad = encodeEmptyRequest(MSG.STATS, h.allocId());
    bad.writeUInt16LE(0xbeef, 0);
    await h.sendRaw(bad, { id: undefined });
    const later = h.stats();
    const err = await later.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof HelperGoneError, String(err));
    assert.match(err.message, /code 2/);
    assert.match(err.message, /EPROTO/);
    assert.deepEqual(await h.exited, { code: 2, signal: null });
  });

  test('kill -9 with requests pending: every pending call rejects with HelperGoneError, later ones at once', async () => {
    const h = await HelperClient.start(options());
    const big: MapOp[] = [];
    for (let i = 0; i < LIMITS.MAX_OPS; i++) big.push({ kind: 'delete', policy: 'drop', family: 6, prefixLen: 128, addr: v6(`2001:db8::${i.toString(16)}`), tagId: 0 });
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 4; i++) calls.push(h.applyBatch(big));
    for (let i = 0; i < 20; i++) calls.push(h.stats(), h.dump());
    assert.ok(h.pendingCount > 0);
    process.kill(h.pid as number, 'SIGKILL');
    const results = await Promise.allSettled(calls);
    let gone = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') continue; // answered before the kill
      assert.ok(r.reason instanceof HelperGoneError, String(r.reason));
      assert.match(r.reason.message, /SIGKILL/);
      assert.equal(r.reason.signal, 'SIGKILL');
      gone++;
    }
    assert.ok(gone > 0, 'requests were pending at the kill');
    assert.equal(h.pendingCount, 0);
    assert.deepEqual(await h.exited, { code: null, signal: 'SIGKILL' });
    const t0 = performance.now();
    await assert.rejects(h.stats(), HelperGoneError);
    await assert.rejects(h.applyBatch([op('add', 'drop', '192.0.2.1/32')]), HelperGoneError);
    assert.ok(performance.now() - t0 < 100);
  });
});
