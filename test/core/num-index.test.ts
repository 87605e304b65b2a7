import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NumberIndex } from '../../src/core/state/num-index.js';

describe('NumberIndex', () => {
  it('agrees with a Map through random sets and deletes (growth, probing, backward shift)', () => {
    let s = 42;
    const rand = (n: number): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s % n;
    };
    const idx = new NumberIndex();
    const model = new Map<number, number>();
    // a small key space forces collisions and deletes inside probe runs
    for (let i = 0; i < 60_000; i += 1) {
      const k = rand(5_000) * 64 + rand(33);
      if (rand(3) === 0) {
        assert.equal(idx.delete(k), model.get(k), `delete ${k}`);
        model.delete(k);
      } else {
        const v = rand(1 << 30) - (1 << 29);
        assert.equal(idx.set(k, v), model.get(k), `set ${k}`);
        model.set(k, v);
      }
      if (i % 997 === 0) assert.equal(idx.size, model.size);
    }
    assert.equal(idx.size, model.size);
    for (const [k, v] of model) assert.equal(idx.get(k), v);
    assert.deepEqual(new Map(idx.entries()), model);
    assert.deepEqual([...idx.values()].sort((a, b) => a - b), [...model.values()].sort((a, b) => a - b));
    assert.equal(idx.get(7 * 64 + 40), undefined);
    assert.equal(idx.has(7 * 64 + 40), false);
  });

  it('sized for an expected count, keeps every key set before and past that count', () => {
    for (const expected of [0, 1, 511, 512, 3_000]) {
      const idx = new NumberIndex(expected);
      const n = 2 * expected + 700;
      for (let i = 0; i < n; i += 1) assert.equal(idx.set(i * 64 + 32, i), undefined);
      assert.equal(idx.size, n);
      for (let i = 0; i < n; i += 1) assert.equal(idx.get(i * 64 + 32), i, `key ${i} of ${expected}`);
      assert.equal(idx.get(n * 64 + 32), undefined);
      for (let i = 0; i < n; i += 2) assert.equal(idx.delete(i * 64 + 32), i);
      assert.equal(idx.size, n >> 1);
      for (let i = 1; i < n; i += 2) assert.equal(idx.get(i * 64 + 32), i);
    }
  });
});
