import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EntryTable, mapSlotOf, storeIndex } from '../../src/core/state/table.js';
import { tryParseCidr } from '../../src/net/cidr.js';
import { cidrKeyNum, keyPrefixLen, keyToBytes } from '../../src/net/keys.js';
import { v4KeyBytes, v4KeyNum, v4KeyText, v4NetKey } from '../../src/net/v4-key.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('EntryTable', () => {
  it('v4 key numbers round-trip and reject non-canonical text', () => {
    for (const k of ['0.0.0.0/0', '255.255.255.255/32', '10.1.2.0/24', '192.168.0.0/16']) {
      assert.equal(v4KeyText(v4KeyNum(k)), k);
    }
    for (const k of ['1.2.3/24', '1.2.3.4', '1.2.3.4/', '1.2.3.4/333', '256.1.1.1/32', '1.2.3.4/3a', '::/0', '1.2.3.4.5/32', '1..2.3/8']) {
      assert.equal(v4KeyNum(k), -1, k);
    }
    assert.equal(keyPrefixLen('2001:db8::/32'), 32);
    assert.equal(keyPrefixLen('1.2.3.4/8'), 8);
  });

  it('v4 key numbers: only canonical text (no leading zero), host bits kept until v4NetKey', () => {
    for (const k of ['01.2.3.4/32', '1.2.3.00/32', '1.2.3.4/08', '1.2.3.4/00', '1.2.3.4/032', '1.2.3.4/33', '1234.1.1.1/32']) {
      assert.equal(v4KeyNum(k), -1, k);
    }
    assert.equal(v4KeyNum('1.2.3.4/0'), (0x01020304 * 64) + 0);
    assert.equal(v4KeyNum('0.0.0.0/0'), 0);
    assert.equal(v4KeyNum('10.0.0.0/10'), 0x0a000000 * 64 + 10);
    assert.equal(v4KeyText(v4NetKey(v4KeyNum('192.168.1.100/24'))), '192.168.1.0/24');
    assert.equal(v4KeyText(v4NetKey(v4KeyNum('255.255.255.255/1'))), '128.0.0.0/1');
    assert.equal(v4NetKey(v4KeyNum('255.255.255.255/0')), 0);
    assert.equal(v4NetKey(v4KeyNum('1.2.3.4/32')), v4KeyNum('1.2.3.4/32'));
    // agrees with the generic parser on every prefix length
    for (let len = 0; len <= 32; len += 1) {
      const c = tryParseCidr(`203.0.113.77/${len}`)!;
      assert.equal(v4KeyText(v4NetKey(v4KeyNum(`203.0.113.77/${len}`))), c.text);
      assert.equal(cidrKeyNum(c), v4KeyNum(c.text));
      const out = new Uint8Array(4);
      assert.equal(v4KeyBytes(v4KeyNum(c.text), out), len);
      assert.deepEqual([...out], [...c.addr]);
      assert.equal(keyToBytes(c.text, 4, out), len);
      assert.deepEqual([...out], [...c.addr]);
    }
    assert.equal(cidrKeyNum(tryParseCidr('2001:db8::/32')!), -1);
    assert.equal(cidrKeyNum({ ...tryParseCidr('10.0.0.0/8')!, key4: 12345 } as never), 12345);
  });

  it('IPv4 stores by key number: same slots as by key text', () => {
    const t = new EntryTable();
    const k = (text: string): number => v4KeyNum(text);
    const a = t.insert(0, '10.0.0.1/32', mapSlotOf(0, 32, false), 1, 100, 0, k('10.0.0.1/32'));
    const b = t.insert(2, '10.0.0.0/8', mapSlotOf(2, 8, false), 2, 100, 0);
    assert.equal(t.slotOf(0, '10.0.0.1/32'), a);
    assert.equal(t.slotOfV4(0, k('10.0.0.1/32')), a);
    assert.equal(t.slotOfV4(2, k('10.0.0.0/8')), b);
    assert.equal(t.slotOfV4(0, k('10.0.0.0/8')), undefined);
    assert.equal(t.keyOf(a), '10.0.0.1/32');
    assert.equal(t.put(0, '10.0.0.1/32', 3, 200, 5, k('10.0.0.1/32')), a);
    assert.equal(t.tagId[a], 3);
    const c = t.put(0, '10.0.0.2/31', 4, 200, 0, k('10.0.0.2/31'));
    assert.equal(t.slotOf(0, '10.0.0.2/31'), c);
    assert.equal(t.kernelSlotOf(c), mapSlotOf(0, 31, false));
    assert.equal(t.delete(0, '10.0.0.1/32', k('10.0.0.1/32')), a);
    assert.equal(t.slotOf(0, '10.0.0.1/32'), undefined);
    assert.equal(t.count(0), 1);
    assert.throws(() => t.slotOfV4(1, 5), RangeError);
    assert.throws(() => t.insert(0, '010.0.0.1/32', 0, 1, 1, 0), RangeError);
    assert.equal(t.size, 2); // a refused insert takes no slot
  });

  it('matches a Map model under random inserts / deletes / re-inserts (both families)', () => {
    const t = new EntryTable();
    const rand = rng(7);
    const model = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
    const keyFor = (store: number, i: number): string =>
      store & 1 ? `2001:db8::${i.toString(16)}/128` : `10.${(i >> 8) & 255}.${i & 255}.0/24`;
    for (let step = 0; step < 60_000; step += 1) {
      const store = Math.floor(rand() * 4);
      const i = Math.floor(rand() * 3000);
      const key = keyFor(store, i);
      if (rand() < 0.6) {
        const slot = t.put(store, key, i, step, 0);
        model[store]!.set(key, slot);
      } else {
        const slot = t.delete(store, key);
        assert.equal(slot, model[store]!.get(key));
        model[store]!.delete(key);
      }
    }
    for (let store = 0; store < 4; store += 1) {
      assert.equal(t.count(store), model[store]!.size);
      for (const [key, slot] of model[store]!) {
        assert.equal(t.slotOf(store, key), slot);
        assert.equal(t.keyOf(slot), key);
        assert.equal(t.storeOfSlot(slot), store);
      }
      assert.deepEqual(new Map(t.entries(store)), model[store]);
    }
    // kernel map counts follow the routing (/24 -> LPM slot, /128 -> exact slot)
    assert.equal(t.mapCounts[mapSlotOf(storeIndex('drop', 4), 24, false)], model[0]!.size);
    assert.equal(t.mapCounts[mapSlotOf(storeIndex('drop', 6), 128, false)], model[1]!.size);
    assert.equal(t.mapCounts[mapSlotOf(storeIndex('ignore', 4), 24, false)], model[2]!.size);
  });
});
