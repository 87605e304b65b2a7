/**
 * EntryStore fault containment with a fake helper and a fake journal
 * (deterministic, no root): tag references on a kernel refusal followed by a
 * journal failure, and failures after the journal write.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EntryStore } from '../../src/core/entries.js';
import { Mutex } from '../../src/core/kernel/mutex.js';
import { EntryTable } from '../../src/core/state/table.js';
import { TagRegistry } from '../../src/core/state/tags.js';
import type { Actor } from '../../src/domain/types.js';
import { silentLogger } from '../../src/log.js';
import { parseCidr } from '../../src/net/cidr.js';
import type { OpStatus } from '../../src/xdp/abi.js';
import type { BatchRecords } from '../../src/xdp/protocol.js';
import type { MapOp } from '../../src/xdp/types.js';

const actor: Actor = { name: 'tester', group: 'admin' };

interface Fakes {
  store: EntryStore;
  table: EntryTable;
  tags: TagRegistry;
  exits: number[];
}

function make(apply: (ops: readonly MapOp[], call: number) => Promise<OpStatus[]> | OpStatus[], append: (n: number) => Promise<void> | void): Fakes {
  let calls = 0;
  let appends = 0;
  const helper = {
    pid: 1,
    hello: { capacity: [100, 100, 100, 100, 100, 100, 100, 100], maxTags: 64, features: {}, count: [0, 0, 0, 0, 0, 0, 0, 0] },
    async resetTags(): Promise<void> {},
    async applyBatch(ops: readonly MapOp[]): Promise<OpStatus[]> {
      calls += 1;
      return apply(ops, calls);
    },
    async applyRecords(rec: BatchRecords): Promise<OpStatus[]> {
      return this.applyBatch(rec.ops());
    },
  };
  const supervisor = { helper, async waitReady() { return helper; }, fail(): void {} };
  const journal = {
    recordsSinceSnapshot: 0,
    compacting: false,
    async append(): Promise<void> {
      appends += 1;
      await append(appends);
    },
  };
  const table = new EntryTable();
  const tags = new TagRegistry();
  const exits: number[] = [];
  const store = new EntryStore({
    supervisor: supervisor as never,
    journal: journal as never,
    table,
    tags,
    lock: new Mutex(),
    logger: silentLogger(),
    exit: ((code: number) => {
      exits.push(code);
    }) as never,
  });
  return { store, table, tags, exits };
}

describe('EntryStore fault containment (fake helper and journal)', () => {
  it('kernel refusal then journal failure: tag references are released once', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const f = make(
      async (ops, call) => {
        if (call === 1) {
          await gate;
          return ops.map(() => 'ok');
        }
        if (call === 2) return ops.map((_, i) => (i === 1 ? 'error' : 'ok'));
        return ops.map(() => 'ok');
      },
      (n) => {
        if (n === 2) throw new Error('ENOSPC');
      },
    );
    // A committed entry holding tag "t" (one reference).
    const id = f.tags.acquire('t');
    f.table.insert(0, '10.0.0.1/32', 0, id, 1, 0);
    const p0 = f.store.create('drop', { cidr: parseCidr('10.0.0.9/32'), tag: 'z', expiration: 0 }, actor);
    // Batch 2: op 0 (tag u) kept by the kernel, op 1 (tag t) refused, then the journal fails.
    const p1 = f.store.create('drop', { cidr: parseCidr('10.0.0.2/32'), tag: 'u', expiration: 0 }, actor).catch((e: Error) => e);
    const p2 = f.store.create('drop', { cidr: parseCidr('10.0.0.3/32'), tag: 't', expiration: 0 }, actor).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 10));
    open();
    await p0;
    assert.match(String(await p1), /journal/);
    assert.match(String(await p2), /journal/);
    assert.equal(f.tags.refCount(f.tags.idOf('t') ?? -1), 1, 'the committed entry keeps its reference to t');
    assert.equal(f.tags.idOf('u'), undefined, 'the uncommitted tag u is released');
    void f.store.drain();
  });

  it('a failure after the journal write exits the process (70) rather than run inconsistent', async () => {
    const f = make((ops) => ops.map(() => 'ok'), () => {});
    f.table.insert = (() => {
      throw new Error('boom in commit');
    }) as never;
    const p = f.store.create('drop', { cidr: parseCidr('10.0.0.2/32'), tag: 'u', expiration: 0 }, actor);
    p.catch(() => {});
    for (let i = 0; i < 50 && f.exits.length === 0; i += 1) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(f.exits, [70]);
    void f.store.drain();
  });
});
