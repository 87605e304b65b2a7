/**
 * Real traffic through a veth pair: sender namespace → receiver namespace,
 * the helper attached (mode auto) to the receiver's veth, spawned inside the
 * receiver namespace. A banned source cannot reach the receiver (ICMP and
 * UDP), an unbanned one can, a delete restores reachability, an ignore entry
 * covering the source overrides the drop entry; IPv4 and IPv6. The helper's
 * counters must move accordingly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { HelperClient, helperPath } from '../../src/xdp/helper.js';
import type { HelperStats, MapOp } from '../../src/xdp/types.js';
import type { Policy } from '../../src/domain/types.js';
import { V4_PREFIX, V6_PREFIX, createPair, ping, udpReceiver, udpSend, type NetnsPair } from '../lib/netns.js';
import { parseCidr } from '../lib/packets.js';

const N_UDP = 20;

function op(kind: MapOp['kind'], policy: Policy, cidr: string, tagId: number): MapOp {
  const c = parseCidr(cidr);
  return { kind, policy, family: c.family, prefixLen: c.prefixLen, addr: c.addr, tagId };
}

function tagPackets(s: HelperStats, policy: Policy, tagId: number): bigint {
  return s.tags.find((t) => t.policy === policy && t.tagId === tagId)?.packets ?? 0n;
}

for (const mode of ['auto', 'generic'] as const) {
  describe(`veth: bans on real traffic (--mode ${mode})`, () => {
    let pair: NetnsPair | undefined;
    let helper: HelperClient | undefined;
    const logs: string[] = [];
    let port = 20000 + Math.floor(Math.random() * 20000);

    before(async () => {
      pair = await createPair({ extraSources: 3 });
      helper = await HelperClient.start({
        helperPath: helperPath(),
        ifaces: [pair.receiver.ifname],
        mode,
        wrapper: ['ip', 'netns', 'exec', pair.receiver.ns],
        capacities: { dropExact: 4096, dropCidr: 4096, ignoreExact: 4096, ignoreCidr: 4096 },
        maxTags: 64,
        onLog: (l) => logs.push(l),
      });
    });

    after(async () => {
      try {
        if (helper) await helper.close(3000).catch(() => helper?.kill('SIGKILL'));
      } finally {
        await pair?.teardown();
      }
    });

    test('attached to the receiver veth', (t) => {
      assert.ok(helper && pair);
      assert.equal(helper.hello.ifaces.length, 1);
      const iface = helper.hello.ifaces[0];
      assert.ok(iface);
      assert.equal(iface.name, pair.receiver.ifname);
      if (mode === 'generic') assert.equal(iface.mode, 'generic');
      else assert.ok(iface.mode === 'native' || iface.mode === 'generic');
      t.diagnostic(`attach mode: ${iface.mode}; features: ${JSON.stringify(helper.hello.features)}`);
    });

    /** UDP from each source to the receiver; datagrams received per source. */
    async function udpCounts(sources: readonly string[], dst: string): Promise<Record<string, number>> {
      assert.ok(pair);
      const rx = await udpReceiver(pair.receiver.ns, dst, ++port);
      let sendErr: unknown;
      try {
        for (const s of sources) assert.equal(await udpSend(pair.sender.ns, s, dst, port, N_UDP), N_UDP, `sent from ${s}`);
        await new Promise((r) => setTimeout(r, 200));
      } catch (err) {
        sendErr = err;
      }
      const counts = await rx.stop();
      if (sendErr) throw sendErr;
      return counts;
    }

    for (const family of [4, 6] as const) {
      test(`IPv${family}: drop, unbanned passes, delete, ignore overrides drop`, async (t) => {
        const h = helper;
        const p = pair;
        assert.ok(h && p);
        const dst = family === 4 ? p.receiver.v4 : p.receiver.v6;
        const extra = family === 4 ? p.extraV4 : p.extraV6;
        const banned = extra[0];
        const other = extra[1];
        assert.ok(banned && other);
        const host = family === 4 ? 32 : 128;
        const covering = family === 4 ? `${V4_PREFIX}.0/24` : `${V6_PREFIX}:/64`;
        const banOp = (kind: MapOp['kind']): MapOp => op(kind, 'drop', `${banned}/${host}`, 1);
        const ignOp = (kind: MapOp['kind']): MapOp => op(kind, 'ignore', covering, 2);

        // sanity: everything reaches before any entry
        assert.equal(await ping(p.sender.ns, banned, dst), true, 'reachable before the ban');

        assert.deepEqual(await h.applyBatch([banOp('add')]), ['ok']);
        const s0 = await h.stats();
        assert.equal(await ping(p.sender.ns, banned, dst), false, 'banned source: ping fails');
        assert.equal(await ping(p.sender.ns, other, dst), true, 'unbanned extra source: ping passes');
        const primary = family === 4 ? p.sender.v4 : p.sender.v6;
        assert.equal(await ping(p.sender.ns, primary, dst), true, 'primary source: ping passes');
        const c1 = await udpCounts([banned, other], dst);
        assert.equal(c1[banned] ?? 0, 0, 'banned source: no UDP datagram received');
        assert.equal(c1[other] ?? 0, N_UDP, 'unbanned source: every UDP datagram received');
        const s1 = await h.stats();
        const dropped = s1.xdp.XDP_DROP.packets - s0.xdp.XDP_DROP.packets;
        const tagged = tagPackets(s1, 'drop', 1) - tagPackets(s0, 'drop', 1);
        t.diagnostic(`XDP_DROP +${dropped}, drop tag 1 +${tagged}, XDP_PASS +${s1.xdp.XDP_PASS.packets - s0.xdp.XDP_PASS.packets}`);
        // static neighbours: no ARP/ND from the banned source, so exactly 3 echo requests + N datagrams
        assert.equal(dropped, BigInt(3 + N_UDP), 'XDP_DROP packets: 3 pings + the UDP datagrams');
        assert.equal(tagged, BigInt(3 + N_UDP), 'drop tag 1 packets: 3 pings + the UDP datagrams');
        assert.ok(s1.xdp.XDP_PASS.packets > s0.xdp.XDP_PASS.packets, 'XDP_PASS moved (unbanned traffic)');

        // delete: reachable again
        assert.deepEqual(await h.applyBatch([banOp('delete')]), ['ok']);
        assert.equal(await ping(p.sender.ns, banned, dst), true, 'after delete: ping passes');
        const c2 = await udpCounts([banned], dst);
        assert.equal(c2[banned] ?? 0, N_UDP, 'after delete: every UDP datagram received');

        // ignore covering the source beats the drop entry
        assert.deepEqual(await h.applyBatch([banOp('add')]), ['ok']);
        assert.equal(await ping(p.sender.ns, banned, dst), false, 'banned again: ping fails');
        assert.deepEqual(await h.applyBatch([ignOp('add')]), ['ok']);
        const s2 = await h.stats();
        assert.equal(await ping(p.sender.ns, banned, dst), true, `ignore ${covering} overrides the drop: ping passes`);
        const c3 = await udpCounts([banned], dst);
        assert.equal(c3[banned] ?? 0, N_UDP, 'ignore overrides the drop: every UDP datagram received');
        const s3 = await h.stats();
        assert.equal(tagPackets(s3, 'ignore', 2) - tagPackets(s2, 'ignore', 2), BigInt(3 + N_UDP), 'ignore tag 2 counted');
        assert.equal(tagPackets(s3, 'drop', 1), tagPackets(s2, 'drop', 1), 'drop tag 1 no longer counted');

        // removing the ignore entry brings the drop back
        assert.deepEqual(await h.applyBatch([ignOp('delete')]), ['ok']);
        assert.equal(await ping(p.sender.ns, banned, dst), false, 'ignore removed: ping fails again');
        assert.deepEqual(await h.applyBatch([banOp('delete')]), ['ok']);
        assert.deepEqual((await h.stats()).count, [0, 0, 0, 0, 0, 0, 0, 0]);
      });
    }
  });
}
