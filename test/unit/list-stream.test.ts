/**
 * The streamed list (src/api/list-stream.ts) is byte for byte the
 * JSON.stringify encoding and its computed length is exact; HeavyReads
 * (src/api/heavy-reads.ts) bounds concurrent lists and refuses with busy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EntryListCopy } from '../../src/core/model/types.js';
import { HeavyReads } from '../../src/api/heavy-reads.js';
import { entryListJson, entryListLength } from '../../src/api/list-stream.js';
import { isAppError } from '../../src/errors.js';

interface Row { creation: number; cidr: string; tag: string; expiration: number }

const copyOf = (rows: readonly Row[]): EntryListCopy => ({
  size: rows.length,
  cidr: (i) => rows[i]!.cidr,
  tag: (i) => rows[i]!.tag,
  creation: (i) => rows[i]!.creation,
  expiration: (i) => rows[i]!.expiration,
});

test('pieces join to JSON.stringify of the entries, the length is their byte length, at every chunk size', () => {
  const tags = ['', 'ssh', 'été-ß', 'quote"back\\slash', '\u{1F525}'];
  const rows: Row[] = [];
  for (let i = 0; i < 3000; i += 1) {
    rows.push({
      creation: 1_700_000_000 + i,
      cidr: i % 5 === 0 ? `2001:db8::${i.toString(16)}/128` : `10.0.${i >> 8}.${i & 255}/32`,
      tag: tags[i % tags.length]!,
      expiration: i % 3 === 0 ? 0 : 9_007_199_254_740_991 - i,
    });
  }
  for (const n of [0, 1, 2, rows.length]) {
    const sub = rows.slice(0, n);
    const expected = JSON.stringify(sub);
    for (const chunk of [1, 100, 64 * 1024]) {
      const pieces = [...entryListJson(copyOf(sub), chunk)];
      assert.equal(pieces.join(''), expected, `${n} entries, chunks of ${chunk}`);
      if (chunk >= 100) assert.ok(pieces.every((p) => p.length < chunk + 200), 'pieces are bounded');
    }
    assert.equal(entryListLength(copyOf(sub)), Buffer.byteLength(expected), `${n} entries`);
  }
});

test('HeavyReads: at most `concurrency` run, `queue` wait in order, then busy (503)', async () => {
  const h = new HeavyReads({ concurrency: 2, queue: 2 });
  const r1 = await h.acquire();
  const r2 = await h.acquire();
  const order: number[] = [];
  const w3 = h.acquire().then((r) => (order.push(3), r));
  const w4 = h.acquire().then((r) => (order.push(4), r));
  await assert.rejects(h.acquire(), (e: unknown) => isAppError(e) && e.code === 'busy' && e.status === 503);
  assert.deepEqual([h.running, h.waiting], [2, 2]);
  r1();
  r1(); // idempotent
  const r3 = await w3;
  assert.deepEqual(order, [3]);
  r2();
  const r4 = await w4;
  assert.deepEqual(order, [3, 4]);
  r3();
  r4();
  assert.deepEqual([h.running, h.waiting], [0, 0]);
});
