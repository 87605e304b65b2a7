import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpiryHeap, ExpiryTimer } from '../../src/core/expiry.js';
import { EntryTable } from '../../src/core/table.js';

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
    let nowMs = 1_000_000_000;
    const due: string[][] = [];
    const timer = new ExpiryTimer({ heap, table, now: () => nowMs, onDue: (d) => due.push(d.map((x) => x.key)) });
    for (const [key, exp] of [['a/32', 1_000_000], ['b/32', 1_000_000], ['c/32', 1_000_001], ['d/32', 2_000_000]] as const) {
      heap.add(table.put(1, key, 1, 0, exp));
    }
    timer.rearm();
    assert.equal(timer.fireNow(), 2, 'expiration <= now (1_000_000 s) is due');
    assert.deepEqual(due, [['a/32', 'b/32']]);
    nowMs += 999;
    assert.equal(timer.fireNow(), 0, 'c not yet (1 000 000.999 s)');
    nowMs += 1;
    assert.equal(timer.fireNow(), 1);
    assert.deepEqual(due[1], ['c/32']);
    assert.equal(heap.size, 1);
    timer.stop();
  });

  it('uses a real timer: an entry expiring in ~1 s is reported within 1 s of its expiration', async () => {
    const table = new EntryTable();
    const heap = new ExpiryHeap(table);
    const exp = Math.floor(Date.now() / 1000) + 1;
    let firedAt = 0;
    const done = new Promise<void>((resolve) => {
      const timer = new ExpiryTimer({
        heap, table,
        onDue: () => {
          firedAt = Date.now();
          timer.stop();
          resolve();
        },
      });
      heap.add(table.put(1, 'x/32', 1, 0, exp));
      heap.add(table.put(1, 'y/32', 1, 0, exp + 3600));
      timer.rearm();
      setTimeout(() => {}, 2500); // keep the loop alive (the timer is unref'd)
    });
    await done;
    assert.ok(firedAt >= exp * 1000, 'not before its expiration');
    assert.ok(firedAt - exp * 1000 < 1000, `fired ${firedAt - exp * 1000} ms after expiration`);
    assert.equal(heap.size, 1);
  });
});
