/**
 * Batcher: group commit, and the next batch taken ahead while one runs.
 * A fake `run` records the batches; nothing else is involved.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher, type BatchRequest } from '../../src/core/queue/batcher.js';

interface R extends BatchRequest {
  readonly id: string;
}

const r = (id: string, weight = 1, solo = false): R => ({ id, weight, solo, reject: () => {} });

/** A batcher whose runs wait for release(); `offered` lists what `ahead` saw, `accept` decides. */
function harness(opts: { accept?: (req: R) => boolean; again?: (batch: R[]) => R[]; maxBatchWeight?: number } = {}) {
  const batches: string[][] = [];
  const offered: string[] = [];
  let release: () => void = () => {};
  const b = new Batcher<R>({
    maxPending: 1000,
    ...(opts.maxBatchWeight === undefined ? {} : { maxBatchWeight: opts.maxBatchWeight }),
    run: async (batch) => {
      batches.push(batch.map((x) => x.id));
      await new Promise<void>((res) => (release = res));
      return opts.again?.(batch) ?? [];
    },
    ahead: (req) => {
      offered.push(req.id);
      return opts.accept?.(req) ?? true;
    },
  });
  const tick = (): Promise<void> => new Promise((res) => setImmediate(res));
  return { b, batches, offered, release: () => release(), tick };
}

describe('Batcher', () => {
  it('takes the requests arriving while a batch runs as the next batch, in order, and offers them as they come', async () => {
    const h = harness();
    h.b.submit(r('a'));
    await h.tick();
    assert.deepEqual(h.batches, [['a']]);
    h.b.submit(r('b'));
    h.b.submit(r('c'));
    assert.deepEqual(h.offered, ['b', 'c'], 'offered at submit, while a runs');
    assert.equal(h.b.waiting, 2);
    h.release();
    await h.tick();
    assert.deepEqual(h.batches, [['a'], ['b', 'c']]);
    h.b.submit(r('d'));
    h.release();
    await h.tick();
    h.release();
    await h.b.drain();
    assert.deepEqual(h.batches, [['a'], ['b', 'c'], ['d']]);
    assert.equal(h.b.outstanding, 0);
  });

  it('a request ahead refuses stays pending with everything behind it, and runs after the batch taken ahead', async () => {
    const h = harness({ accept: (req) => req.id !== 'x' });
    h.b.submit(r('a'));
    await h.tick();
    h.b.submit(r('b'));
    h.b.submit(r('x'));
    h.b.submit(r('c'));
    assert.deepEqual(h.offered, ['b', 'x', 'x'], 'x is offered again (at the front) when c comes; c is not offered past it');
    h.release();
    await h.tick();
    assert.deepEqual(h.batches, [['a'], ['b']]);
    h.release();
    await h.tick();
    h.release();
    await h.b.drain();
    assert.deepEqual(h.batches, [['a'], ['b'], ['x', 'c']]);
  });

  it('solo requests are never taken ahead; the weight limit bounds the batch taken ahead', async () => {
    const h = harness({ maxBatchWeight: 10 });
    h.b.submit(r('a'));
    await h.tick();
    h.b.submit(r('b', 6));
    h.b.submit(r('c', 6));
    h.b.submit(r('s', 1, true));
    assert.deepEqual(h.offered, ['b']);
    for (let i = 0; i < 4; i += 1) {
      h.release();
      await h.tick();
    }
    await h.b.drain();
    assert.deepEqual(h.batches, [['a'], ['b'], ['c'], ['s']]);
  });

  it('requests given back by a batch go before the batch taken ahead', async () => {
    let accept = false;
    const h = harness({
      accept: () => accept,
      again: (batch) => (batch[0]?.id === 'a1' ? batch.slice(1) : []),
    });
    h.b.submit(r('z'));
    await h.tick();
    h.b.submit(r('a1'));
    h.b.submit(r('a2'));
    h.release();
    await h.tick();
    assert.deepEqual(h.batches, [['z'], ['a1', 'a2']]);
    accept = true;
    h.b.submit(r('b'));
    assert.deepEqual(h.offered.at(-1), 'b');
    h.release(); // a2 is given back
    await h.tick();
    assert.deepEqual(h.batches.at(-1), ['a2', 'b'], 'a2 again, then b: the order of submission');
    h.release();
    await h.b.drain();
    assert.equal(h.b.outstanding, 0);
  });

  it('batching off: nothing is taken ahead', async () => {
    const batches: string[][] = [];
    let offered = 0;
    const b = new Batcher<R>({
      maxPending: 10,
      batching: false,
      run: async (batch) => {
        batches.push(batch.map((x) => x.id));
        await new Promise((res) => setImmediate(res));
        return [];
      },
      ahead: () => {
        offered += 1;
        return true;
      },
    });
    b.submit(r('a'));
    b.submit(r('b'));
    b.submit(r('c'));
    await b.drain();
    assert.equal(offered, 0);
    assert.deepEqual(batches, [['a'], ['b'], ['c']]);
  });
});
