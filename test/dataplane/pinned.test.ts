/**
 * Pinned restart: a helper started with --pin-dir keeps filtering after it
 * exits (the link and maps are pinned on bpffs); a new helper on the same pin
 * dir re-uses the set (features.reused, entry counts, dump) and can delete
 * through it; SHUTDOWN with UNPIN removes the pins and detaches.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { HelperClient, helperPath } from '../../src/xdp/helper.js';
import type { HelperOptions, MapOp } from '../../src/xdp/types.js';
import { createPair, ping, randSuffix, run, type NetnsPair } from '../lib/netns.js';
import { formatIPv4, parseCidr } from '../lib/packets.js';

const CAPS = { dropExact: 4096, dropCidr: 4096, ignoreExact: 1024, ignoreCidr: 1024 } as const;

function drop(kind: MapOp['kind'], cidr: string, tagId: number): MapOp {
  const c = parseCidr(cidr);
  return { kind, policy: 'drop', family: c.family, prefixLen: c.prefixLen, addr: c.addr, tagId };
}

describe('pinned set survives the helper', () => {
  const pinDir = `/sys/fs/bpf/dp-${randSuffix()}`;
  let pair: NetnsPair | undefined;
  const helpers: HelperClient[] = [];
  const logs: string[] = [];

  const start = async (): Promise<HelperClient> => {
    assert.ok(pair);
    const opts: HelperOptions = {
      helperPath: helperPath(),
      ifaces: [pair.receiver.ifname],
      // nsenter, not `ip netns exec`: the latter remounts /sys in a private
      // mount namespace, which hides the bpffs at /sys/fs/bpf from the helper.
      wrapper: ['nsenter', `--net=/run/netns/${pair.receiver.ns}`],
      pinDir,
      capacities: CAPS,
      maxTags: 64,
      onLog: (l) => logs.push(l),
    };
    const h = await HelperClient.start(opts);
    helpers.push(h);
    return h;
  };

  before(async () => {
    pair = await createPair({ extraSources: 2 });
  });

  after(async () => {
    for (const h of helpers) await h.close(3000).catch(() => h.kill('SIGKILL'));
    try {
      if (existsSync(pinDir)) {
        // detaches the pinned links (by their pins: works from any network namespace) and removes the set
        await run([helperPath(), '--unpin', pinDir], { allowFail: true, timeoutMs: 10000 });
        await run(['rm', '-rf', pinDir], { allowFail: true });
      }
    } finally {
      await pair?.teardown();
    }
  });

  test('ban, exit (EOF), still dropped; restart re-uses; delete; unpin detaches', async (t) => {
    const p = pair;
    assert.ok(p);
    const banned = p.extraV4[0];
    const other = p.extraV4[1];
    const banned6 = p.extraV6[0];
    assert.ok(banned && other && banned6);
    const dst = p.receiver.v4;
    const dst6 = p.receiver.v6;

    // 1. first helper: pinned, ban one v4 and one v6 source
    const h1 = await start();
    assert.equal(h1.hello.features.pinned, true, 'pinned feature');
    assert.equal(h1.hello.features.reused, false, 'fresh set');
    t.diagnostic(`attach mode: ${h1.hello.ifaces.map((i) => `${i.name}=${i.mode}`).join(', ')}`);
    assert.deepEqual(await h1.applyBatch([drop('add', `${banned}/32`, 7), drop('add', `${banned6}/128`, 8)]), ['ok', 'ok']);
    assert.equal(await ping(p.sender.ns, banned, dst), false, 'banned while the helper runs');
    assert.equal(await ping(p.sender.ns, banned6, dst6), false, 'banned v6 while the helper runs');
    assert.ok(existsSync(pinDir), 'pin dir exists');

    // 2. close (EOF): pinned, so the filter stays
    await h1.close(5000);
    const e1 = await h1.exited;
    assert.equal(e1.code, 0, 'helper exited 0 on EOF');
    assert.ok(existsSync(pinDir), 'pins survive the exit');
    assert.equal(await ping(p.sender.ns, banned, dst), false, 'no helper: banned source still dropped');
    assert.equal(await ping(p.sender.ns, banned6, dst6), false, 'no helper: banned v6 source still dropped');
    assert.equal(await ping(p.sender.ns, other, dst), true, 'no helper: unbanned source passes');

    // 3. second helper on the same pins: re-used, entries present
    const h2 = await start();
    assert.equal(h2.hello.features.reused, true, 'features.reused');
    assert.equal(h2.hello.features.pinned, true);
    assert.equal(h2.hello.count[0], 1, 'hello count: drop4_exact = 1');
    assert.equal(h2.hello.count[1], 1, 'hello count: drop6_exact = 1');
    assert.deepEqual(h2.hello.count.slice(2), [0, 0, 0, 0, 0, 0]);
    const dump = await h2.dump();
    const d4 = dump.find((e) => e.family === 4);
    assert.equal(dump.length, 2, 'dump: two entries');
    assert.ok(d4);
    assert.equal(formatIPv4(d4.addr), banned);
    assert.equal(d4.prefixLen, 32);
    assert.equal(d4.tagId, 7);
    assert.equal(d4.policy, 'drop');
    assert.equal(await ping(p.sender.ns, banned, dst), false, 'after restart: still dropped');

    // counters survived too (pinned per-CPU maps)
    const s = await h2.stats();
    const tag7 = s.tags.find((x) => x.policy === 'drop' && x.tagId === 7);
    assert.ok(tag7 && tag7.packets >= 6n, `drop tag 7 counted the pings of both helpers' lifetimes (${tag7?.packets})`);

    // 4. delete through the new helper
    assert.deepEqual(await h2.applyBatch([drop('delete', `${banned}/32`, 7)]), ['ok']);
    assert.equal(await ping(p.sender.ns, banned, dst), true, 'deleted: passes');
    assert.equal(await ping(p.sender.ns, banned6, dst6), false, 'v6 entry still there: dropped');

    // 5. ban again, then shutdown with unpin: pins gone, filter detached
    assert.deepEqual(await h2.applyBatch([drop('add', `${banned}/32`, 7)]), ['ok']);
    assert.equal(await ping(p.sender.ns, banned, dst), false, 'banned again');
    await h2.shutdown({ unpin: true });
    const e2 = await h2.exited;
    assert.equal(e2.code, 0, 'helper exited 0 after SHUTDOWN');
    assert.equal(existsSync(pinDir), false, 'pin dir removed by SHUTDOWN|UNPIN');
    assert.equal(await ping(p.sender.ns, banned, dst), true, 'no helper, no pins: banned source passes');
    assert.equal(await ping(p.sender.ns, banned6, dst6), true, 'no helper, no pins: banned v6 source passes');
    const xdp = await run(['ip', 'netns', 'exec', p.receiver.ns, 'ip', '-d', 'link', 'show', p.receiver.ifname]);
    assert.doesNotMatch(xdp.stdout, /prog\/xdp|xdpgeneric|xdpdrv/, 'no XDP program on the veth');
  });
});
