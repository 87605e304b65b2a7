import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordEncoder } from '../../src/core/journal/journal.js';
import { OpList, type PlannedKind, type POp } from '../../src/core/plan/op-list.js';
import { v4KeyNum, v4KeyText } from '../../src/net/v4-key.js';

/** Appends `op` (the POp that at() reads back). */
function push(list: OpList, op: POp): number {
  const i = list.append(op.kind, op.store, op.key, op.k4, op.ks);
  list.setValue(i, op.tagId, op.tag, op.creation, op.expiration);
  list.setOrigin(i, op.req, op.prevTagId);
  if (op.addr !== undefined) list.setAddr(i, op.addr);
  return i;
}

const plain = (op: POp): POp => ({
  kind: op.kind, store: op.store, key: op.key, ks: op.ks, addr: op.addr, k4: op.k4, tagId: op.tagId,
  tag: op.tag, creation: op.creation, expiration: op.expiration, prevTagId: op.prevTagId, req: op.req,
});

describe('OpList', () => {
  it('reads back every field of every op pushed (growth, IPv6 keys and bytes, a tag id seen with two tags)', () => {
    let s = 7;
    const rand = (n: number): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s >>> 8) % n;
    };
    const list = new OpList();
    const model: POp[] = [];
    for (let i = 0; i < 5_000; i += 1) {
      const v6 = rand(5) === 0;
      const len = v6 ? 128 : rand(33);
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const net = ((rand(1 << 16) * 65536 + rand(1 << 16)) & mask) >>> 0;
      const key = v6 ? `2001:db8::${i.toString(16)}/128` : v4KeyText(net * 64 + len);
      const tagId = rand(4);
      // tag id 3 is planned under two tags: the odd one must not leak to the others
      const tag = tagId === 3 && rand(2) === 0 ? 'autre-é.couic' : `t${tagId}.couic`;
      const op: POp = {
        kind: (1 + rand(3)) as PlannedKind, store: v6 ? 1 + 2 * rand(2) : 2 * rand(2), key, ks: rand(8),
        addr: v6 ? Uint8Array.of(rand(256), rand(256)) : undefined, k4: v6 ? -1 : v4KeyNum(key),
        tagId, tag, creation: 1_700_000_000 + rand(1000), expiration: rand(2) === 0 ? 0 : 1_800_000_000.5, prevTagId: rand(9), req: rand(40),
      };
      push(list, op);
      model.push(op);
    }
    assert.equal(list.length, model.length);
    // journalBytes: exactly the PUT records of the ops
    const enc = new RecordEncoder(16);
    for (const m of model) enc.put(m.store, m.key, m.tag, m.creation, m.expiration);
    assert.equal(list.journalBytes, enc.finish().length - 12);
    for (let i = 0; i < model.length; i += 1) {
      const m = model[i]!;
      assert.deepEqual(plain(list.at(i)), m, `op ${i}`);
      assert.equal(list.keyAt(i), m.key);
      assert.equal(list.tagAt(i), m.tag);
      assert.equal(list.cols.kind[i], m.kind);
      assert.equal(list.cols.k4[i], m.k4);
      assert.equal(list.addrAt(i), m.addr);
      assert.equal(list.cols.expiration[i], m.expiration);
    }
  });

  it('keeps the ops pushed before and after reserve(), past the room reserved', () => {
    const list = new OpList();
    const op = (i: number): POp => ({
      kind: 1, store: 0, key: v4KeyText((i << 8) * 64 + 24), ks: 2, addr: undefined, k4: (i << 8) * 64 + 24,
      tagId: 1, tag: 'a.couic', creation: 1_700_000_000 + i, expiration: 0, prevTagId: 0, req: i % 3,
    });
    for (let i = 0; i < 20; i += 1) push(list, op(i));
    list.reserve(100);
    list.reserve(0);
    for (let i = 20; i < 300; i += 1) push(list, op(i));
    assert.equal(list.length, 300);
    for (let i = 0; i < 300; i += 1) assert.deepEqual(plain(list.at(i)), op(i), `op ${i}`);
  });

  it('refuses an index outside the list', () => {
    const list = new OpList();
    assert.throws(() => list.at(0), RangeError);
    push(list, { kind: 1, store: 0, key: '10.0.0.0/8', ks: 2, addr: undefined, k4: v4KeyNum('10.0.0.0/8'), tagId: 1, tag: 'a.couic', creation: 1, expiration: 0, prevTagId: 0, req: 0 });
    assert.equal(list.at(0).key, '10.0.0.0/8');
    assert.throws(() => list.at(1), RangeError);
    assert.throws(() => list.at(-1), RangeError);
  });
});
