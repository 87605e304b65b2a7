/**
 * Claims in the core (EntryStore + journal + the REAL helper, tiny maps):
 * set reloads over claimed CIDRs, claims outliving their entry, claims
 * expiring while the daemon is down, snapshots, map full in an array.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openCore, type Core } from '../../src/core/core.js';
import { nowSeconds, type Clock } from '../../src/domain/clock.js';
import type { Actor } from '../../src/domain/types.js';
import { AppError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { formatCidr, parseCidr } from '../../src/net/cidr.js';
import { HelperClient, helperPath } from '../../src/xdp/helper.js';
import { ManualClock } from '../lib/clock.js';
import { waitFor } from '../lib/wait.js';

const HELPER = helperPath();
const skip = existsSync(HELPER) && process.getuid?.() === 0 ? false : `needs root and ${HELPER}`;
const actor: Actor = { name: 'tester', group: 'admin' };
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function open(dir?: string, dropExact = 64, clock?: Clock): Promise<Core & { dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'couic-bans-'));
  if (dir === undefined) dirs.push(d);
  const core = await openCore({
    journalDir: d,
    logger: silentLogger(),
    compactAfter: 1_000_000,
    ...(clock === undefined ? {} : { clock }),
    startHelper: () => HelperClient.start({ helperPath: HELPER, capacities: { dropExact, dropCidr: 64, ignoreExact: 16, ignoreCidr: 16 }, maxTags: 16 }),
  });
  return Object.assign(core, { dir: d });
}

/** drop entries as `cidr|tag|expiration`, and the kernel agrees (cidr -> tag id). */
async function view(core: Core): Promise<string[]> {
  const e = core.entries;
  const state = e.list('drop').map((x) => `${x.cidr.text}|${e.tags.idOf(x.tag)}`).sort();
  const kernel = (await core.supervisor.helper!.dump()).filter((x) => x.policy === 'drop').map((x) => `${formatCidr(x)}|${x.tagId}`).sort();
  assert.deepEqual(kernel, state, 'kernel == state');
  return e.list('drop').map((x) => `${x.cidr.text}|${x.tag}|${x.expiration}`).sort();
}

const item = (t: string, expiration = 0): { cidr: ReturnType<typeof parseCidr>; expiration: number } => ({ cidr: parseCidr(t), expiration });

describe('claims in the core (real helper)', { skip, timeout: 60_000 }, () => {
  it('set reload over a claimed CIDR: the set wins; when the set drops it, the claims take it back', async () => {
    const core = await open();
    try {
      const e = core.entries;
      await e.ban('o1', [item('192.0.2.1/32'), item('192.0.2.2/32')], actor);
      const target = new Map([['192.0.2.1/32', { cidr: parseCidr('192.0.2.1/32'), tag: 'lan.couic' }]]);
      await e.applySets('drop', target);
      assert.deepEqual(await view(core), ['192.0.2.1/32|lan.couic|0', '192.0.2.2/32|o1|0']);
      // Releasing the claim leaves the set entry alone.
      await e.ban('o2', [item('192.0.2.1/32')], actor);
      await e.unban('o1', parseCidr('192.0.2.1/32'), actor);
      assert.deepEqual(await view(core), ['192.0.2.1/32|lan.couic|0', '192.0.2.2/32|o1|0']);
      // The set goes: o2's live claim keeps the CIDR dropped.
      await e.applySets('drop', new Map());
      assert.deepEqual(await view(core), ['192.0.2.1/32|o2|0', '192.0.2.2/32|o1|0']);
      assert.equal(await e.flushBans('o2', actor), 1);
      assert.deepEqual(await view(core), ['192.0.2.2/32|o1|0']);
    } finally {
      await core.close();
    }
  });

  it('claims that expired while down are dropped at start; survivors retag; state, journal and kernel agree', async () => {
    const clock = new ManualClock();
    const core = await open(undefined, 64, clock);
    const t = nowSeconds(clock);
    await core.entries.ban('short', [item('198.51.100.1/32', t + 2), item('198.51.100.2/32', t + 2)], actor);
    await core.entries.ban('long', [item('198.51.100.1/32', t + 3600)], actor);
    assert.deepEqual(await view(core), ['198.51.100.1/32|short|' + (t + 3600), '198.51.100.2/32|short|' + (t + 2)]);
    await core.entries.compact(); // claims go through a snapshot too
    await core.close();
    clock.advance(2_200); // down past the short claims' expiration
    const again = await open(core.dir, 64, clock);
    try {
      // The startup sync runs through the queue.
      const want = ['198.51.100.1/32|long|' + (t + 3600)];
      // (view() also compares with the kernel: they may differ for an instant while the sync commits)
      await waitFor(() => view(again).then((v) => JSON.stringify(v) === JSON.stringify(want), () => false), 5_000);
      assert.deepEqual(await view(again), want);
      assert.deepEqual(again.entries.bansOf('short'), []);
      assert.equal(again.entries.claims.size, 1);
    } finally {
      await again.close();
    }
    // The sync was journaled: a third start sees the same without a sync.
    const third = await open(core.dir, 64, clock);
    try {
      assert.deepEqual(await view(third), ['198.51.100.1/32|long|' + (t + 3600)]);
    } finally {
      await third.close();
    }
  });

  it('map full in an array: 409, the items before it applied, a retry is idempotent', async () => {
    const core = await open(undefined, 4);
    try {
      const items = Array.from({ length: 6 }, (_, i) => item(`203.0.113.${i}/32`));
      await assert.rejects(core.entries.ban('full', items, actor), (err: unknown) => err instanceof AppError && err.code === 'conflict' && /map is full/.test(err.message));
      assert.equal(core.entries.bansOf('full').length, 4);
      assert.equal((await view(core)).length, 4);
      await assert.rejects(core.entries.ban('full', items, actor), AppError);
      assert.equal(core.entries.bansOf('full').length, 4);
      assert.equal(await core.entries.flushBans('full', actor), 4);
      assert.deepEqual(await view(core), []);
    } finally {
      await core.close();
    }
  });
});
