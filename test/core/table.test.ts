import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { v4KeyNum, v4KeyText } from '../../src/core/addr.js';
import { EntryTable, keyPrefixLen, mapSlotOf, storeIndex } from '../../src/core/table.js';

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
