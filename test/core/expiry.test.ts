import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpiryHeap, ExpiryTimer } from '../../src/core/state/expiry.js';
import { EntryTable } from '../../src/core/state/table.js';
import { ManualClock } from '../lib/clock.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('ExpiryHeap', () => {
  it('pops slots in expiration order under random inserts, removals and updates', () => {
    const table = new EntryTable();
    const heap = new ExpiryHeap(table);
    const rand = rng(42);
    const live = new Map<string, number>();
    for (let i = 0; i < 3000; i += 1) {
      const key = `10.0.${i >> 8}.${i & 255}/32`;
      const slot = table.put(0, key, 1, 0, 1000 + Math.floor(rand() * 500));
      heap.add(slot);
      live.set(key, slot);
    }
    // remove a third, update a third
    let i = 0;
    for (const [key, slot] of [...live]) {
      if (i % 3 === 0) {
        heap.remove(slot);
        table.delete(0, key);
        live.delete(key);
      } else if (i % 3 === 1) {
        table.expiration[slot] = 500 + Math.floor(rand() * 2000);
        heap.update(slot);
      }
      i += 1;
    }
    assert.equal(heap.size, live.size);
    const expected = [...live.values()].map((s) => table.expiration[s]!).sort((a, b) => a - b);
    const got: number[] = [];
    for (;;) {
      const s = heap.pop();
      if (s < 0) break;
      assert.equal(table.heapPos[s], -1);
      got.push(table.expiration[s]!);
    }
    assert.deepEqual(got, expected);
  });

  it('add() of a slot already in the heap re-orders it instead of duplicating', () => {
    const table = new EntryTable();
    const heap = new ExpiryHeap(table);
    const a = table.put(0, '1.1.1.1/32', 1, 0, 50);
    const b = table.put(0, '1.1.1.2/32', 1, 0, 60);
    heap.add(a);
    heap.add(b);
    table.expiration[b] = 10;
    heap.add(b);
    assert.equal(heap.size, 2);
    assert.equal(heap.peek(), b);
  });
});

describe('ExpiryTimer', () => {
  it('fires for due entries only, in one call, and re-arms for the next', async () => {
    const table = new EntryTable();
    const heap = new ExpiryHeap(table);
    const clock = new ManualClock(1_000_000_000);
    const due: string[][] = [];
    const timer = new ExpiryTimer({ heap, table, clock, onDue: (d) => due.push(d.map((x) => x.key)) });
    for (const [key, exp] of [['a/32', 1_000_000], ['b/32', 1_000_000], ['c/32', 1_000_001], ['d/32', 2_000_000]] as const) {
      heap.add(table.put(1, key, 1, 0, exp));
    }
    timer.rearm();
    assert.equal(timer.fireNow(), 2, 'expiration <= now (1_000_000 s) is due');
    assert.deepEqual(due, [['a/32', 'b/32']]);
    clock.advance(999);
    assert.equal(timer.fireNow(), 0, 'c not yet (1 000 000.999 s)');
    assert.equal(clock.advance(1), 1, "the timer fires at c's expiration");
    assert.deepEqual(due[1], ['c/32']);
    assert.equal(timer.fireNow(), 0, 'c is reported once');
    assert.equal(heap.size, 1);
    timer.stop();
  });

  it('arms its timer for the earliest expiration: fires at it, not before, and re-arms for the next', () => {
    const table = new EntryTable();
    const heap = new ExpiryHeap(table);
    const clock = new ManualClock(1_900_000_000_250);
    const exp = Math.floor(clock.nowMs() / 1000) + 1;
    const fired: { at: number; keys: string[] }[] = [];
    const timer = new ExpiryTimer({ heap, table, clock, onDue: (d) => fired.push({ at: clock.nowMs(), keys: d.map((x) => x.key) }) });
    heap.add(table.put(1, 'x/32', 1, 0, exp));
    heap.add(table.put(1, 'y/32', 1, 0, exp + 3600));
    timer.rearm();
    assert.equal(clock.pending, 1, 'one timer for the whole heap');
    clock.advanceTo(exp * 1000 - 1);
    assert.deepEqual(fired, [], 'not before its expiration');
    clock.advance(1);
    assert.deepEqual(fired, [{ at: exp * 1000, keys: ['x/32'] }], 'at its expiration, with only the due entry');
    assert.equal(heap.size, 1);
    assert.equal(clock.nextAt, (exp + 3600) * 1000, 're-armed for the next expiration');
    timer.stop();
    assert.equal(clock.pending, 0, 'stop() clears the timer');
  });
});
