/**
 * The real XDP program, driven through BPF_PROG_TEST_RUN (HelperClient.testRun)
 * with a helper attached to no interface. Table-driven: each row sets up map
 * entries, runs one frame `repeat` times, and checks the XDP action and the
 * exact deltas of every counter of STATS (per-action packets/bytes, parse
 * reasons, per-tag packets/bytes). The whole table runs twice: default routing
 * (exact hash + LPM) and `--lpm-only` (everything in the tries).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { HelperClient, HelperRequestError, helperPath } from '../../src/xdp/helper.js';
import { PARSE_REASONS, XDP_ACTIONS, type ParseReason, type XdpAction } from '../../src/xdp/abi.js';
import type { HelperStats, MapOp } from '../../src/xdp/types.js';
import type { Policy } from '../../src/domain/types.js';
import {
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_IP,
  ETH_P_IPV6,
  ETH_P_LOCAL_EXP,
  arpFrame,
  ethernet,
  ipv4Frame,
  ipv6Frame,
  parseCidr,
  rawFrame,
  truncate,
  vlanTags,
} from '../lib/packets.js';

const MAX_TAGS = 64;
const REPEAT = 5;

interface TagRef {
  readonly policy: Policy;
  readonly tagId: number;
}

interface Row {
  readonly name: string;
  /** Entries added before the run, deleted after it. */
  readonly entries?: readonly MapOp[];
  readonly packet: Uint8Array;
  readonly action: XdpAction;
  /** Parse reasons expected to move by `repeat` (every other reason must not move). */
  readonly parse?: readonly ParseReason[];
  /** Parse reasons not checked (the doc leaves them open for this frame). */
  readonly parseDontCare?: readonly ParseReason[];
  /** Tag slots expected to count every run (packets = repeat, bytes = len × repeat). */
  readonly tags?: readonly TagRef[];
  readonly repeat?: number;
  /** The kernel may refuse the frame (TEST_RUN needs ≥ ETH_HLEN bytes). */
  readonly mayBeRefused?: boolean;
}

function entry(policy: Policy, cidr: string, tagId: number): MapOp {
  const c = parseCidr(cidr);
  return { kind: 'add', policy, family: c.family, prefixLen: c.prefixLen, addr: c.addr, tagId };
}
const drop = (cidr: string, tagId: number): MapOp => entry('drop', cidr, tagId);
const ignore = (cidr: string, tagId: number): MapOp => entry('ignore', cidr, tagId);
const dropTag = (tagId: number): TagRef => ({ policy: 'drop', tagId });
const ignoreTag = (tagId: number): TagRef => ({ policy: 'ignore', tagId });

const v4 = (src4: string, o: Parameters<typeof ipv4Frame>[0] = {}): Uint8Array => ipv4Frame({ src4, ...o });
const v6 = (src6: string, o: Parameters<typeof ipv6Frame>[0] = {}): Uint8Array => ipv6Frame({ src6, ...o });

const BANNED4 = '192.0.2.1';
const BANNED6 = '2001:db8::1';
const BAN4 = [drop(`${BANNED4}/32`, 1)];
const BAN6 = [drop(`${BANNED6}/128`, 3)];
const BAN46 = [...BAN4, ...BAN6];

const ROWS: readonly Row[] = [
  // ---- plain hits and misses
  { name: 'IPv4, no entries → pass', packet: v4(BANNED4), action: 'XDP_PASS' },
  { name: 'IPv6, no entries → pass', packet: v6(BANNED6), action: 'XDP_PASS' },
  { name: 'IPv4 exact /32 hit → drop', entries: BAN4, packet: v4(BANNED4), action: 'XDP_DROP', tags: [dropTag(1)] },
  { name: 'IPv4 exact /32 miss → pass', entries: BAN4, packet: v4('192.0.2.2'), action: 'XDP_PASS' },
  {
    name: 'IPv4 CIDR /24 hit → drop',
    entries: [drop('198.51.100.0/24', 2)],
    packet: v4('198.51.100.77'),
    action: 'XDP_DROP',
    tags: [dropTag(2)],
  },
  { name: 'IPv4 CIDR /24 miss → pass', entries: [drop('198.51.100.0/24', 2)], packet: v4('198.51.101.77'), action: 'XDP_PASS' },
  { name: 'IPv6 exact /128 hit → drop', entries: BAN6, packet: v6(BANNED6), action: 'XDP_DROP', tags: [dropTag(3)] },
  { name: 'IPv6 exact /128 miss → pass', entries: BAN6, packet: v6('2001:db8::2'), action: 'XDP_PASS' },
  {
    name: 'IPv6 CIDR /48 hit → drop',
    entries: [drop('2001:db8:1::/48', 4)],
    packet: v6('2001:db8:1:2::3'),
    action: 'XDP_DROP',
    tags: [dropTag(4)],
  },
  { name: 'IPv6 CIDR /48 miss → pass', entries: [drop('2001:db8:1::/48', 4)], packet: v6('2001:db8:2::3'), action: 'XDP_PASS' },
  {
    name: 'IPv4 with options (ihl 6) hit → drop',
    entries: BAN4,
    packet: v4(BANNED4, { ihl: 6 }),
    action: 'XDP_DROP',
    tags: [dropTag(1)],
  },
  { name: 'v4 entry does not match the v4-mapped v6 source', entries: BAN4, packet: v6(`::ffff:${BANNED4}`), action: 'XDP_PASS' },
  {
    name: 'large frame hit, repeat 1000: bytes = length × repeat',
    entries: BAN4,
    packet: v4(BANNED4, { payload: 1400 }),
    action: 'XDP_DROP',
    tags: [dropTag(1)],
    repeat: 1000,
  },

  // ---- VLAN tags
  {
    name: '1 tag 802.1Q, IPv4 hit → drop',
    entries: BAN46,
    packet: v4(BANNED4, { vlans: vlanTags(1, ETH_P_8021Q) }),
    action: 'XDP_DROP',
    parse: ['vlan'],
    tags: [dropTag(1)],
  },
  {
    name: '1 tag 802.1ad, IPv6 hit → drop',
    entries: BAN46,
    packet: v6(BANNED6, { vlans: vlanTags(1, ETH_P_8021AD) }),
    action: 'XDP_DROP',
    parse: ['vlan'],
    tags: [dropTag(3)],
  },
  {
    name: '2 tags 802.1ad + 802.1Q (QinQ), IPv4 hit → drop',
    entries: BAN46,
    packet: v4(BANNED4, { vlans: vlanTags(2, 'qinq') }),
    action: 'XDP_DROP',
    parse: ['vlan'],
    tags: [dropTag(1)],
  },
  {
    name: '2 tags 802.1Q + 802.1Q, IPv6 hit → drop',
    entries: BAN46,
    packet: v6(BANNED6, { vlans: vlanTags(2, ETH_P_8021Q) }),
    action: 'XDP_DROP',
    parse: ['vlan'],
    tags: [dropTag(3)],
  },
  {
    name: '2 tags 802.1ad + 802.1ad, IPv4 CIDR hit → drop',
    entries: [drop('192.0.2.0/24', 9)],
    packet: v4(BANNED4, { vlans: vlanTags(2, ETH_P_8021AD) }),
    action: 'XDP_DROP',
    parse: ['vlan'],
    tags: [dropTag(9)],
  },
  {
    name: '1 tag, IPv4 miss → pass',
    entries: BAN46,
    packet: v4('192.0.2.2', { vlans: vlanTags(1) }),
    action: 'XDP_PASS',
    parse: ['vlan'],
  },
  {
    name: '3 tags (802.1Q), banned source → pass + vlan_deep',
    entries: BAN46,
    packet: v4(BANNED4, { vlans: vlanTags(3, ETH_P_8021Q) }),
    action: 'XDP_PASS',
    parse: ['vlan_deep'],
    parseDontCare: ['vlan'],
  },
  {
    name: '3 tags (802.1ad, 802.1ad, 802.1Q), banned v6 source → pass + vlan_deep',
    entries: BAN46,
    packet: v6(BANNED6, { vlans: vlanTags(3, 'qinq') }),
    action: 'XDP_PASS',
    parse: ['vlan_deep'],
    parseDontCare: ['vlan'],
  },

  // ---- non-IP
  { name: 'ARP from a banned address → pass + non_ip', entries: BAN4, packet: arpFrame({ senderIp: BANNED4 }), action: 'XDP_PASS', parse: ['non_ip'] },
  {
    name: 'ethertype 0x88B5 → pass + non_ip',
    entries: BAN46,
    packet: rawFrame(ETH_P_LOCAL_EXP, 46),
    action: 'XDP_PASS',
    parse: ['non_ip'],
  },
  {
    name: '1 tag + ARP → pass + non_ip + vlan',
    entries: BAN4,
    packet: arpFrame({ senderIp: BANNED4, vlans: vlanTags(1) }),
    action: 'XDP_PASS',
    parse: ['non_ip', 'vlan'],
  },

  // ---- truncated at every layer (the banned source is in the frame where it fits)
  {
    name: 'Ethernet header cut (13 bytes) → pass + eth_short, or refused by the kernel',
    entries: BAN4,
    packet: truncate(v4(BANNED4), 13),
    action: 'XDP_PASS',
    parse: ['eth_short'],
    mayBeRefused: true,
  },
  {
    name: 'first VLAN tag missing (14 bytes, 0x8100) → pass + vlan_short',
    entries: BAN4,
    packet: truncate(v4(BANNED4, { vlans: vlanTags(1) }), 14),
    action: 'XDP_PASS',
    parse: ['vlan_short'],
    parseDontCare: ['vlan'],
  },
  {
    name: 'first VLAN tag cut (17 bytes, 0x88A8) → pass + vlan_short',
    entries: BAN4,
    packet: truncate(v4(BANNED4, { vlans: vlanTags(1, ETH_P_8021AD) }), 17),
    action: 'XDP_PASS',
    parse: ['vlan_short'],
    parseDontCare: ['vlan'],
  },
  {
    name: 'second VLAN tag cut (20 bytes) → pass + vlan_short',
    entries: BAN4,
    packet: truncate(v4(BANNED4, { vlans: vlanTags(2, 'qinq') }), 20),
    action: 'XDP_PASS',
    parse: ['vlan_short'],
    parseDontCare: ['vlan'],
  },
  {
    name: 'IPv4 header absent (14 bytes, 0x0800) → pass + ip4_short',
    entries: BAN4,
    packet: truncate(v4(BANNED4), 14),
    action: 'XDP_PASS',
    parse: ['ip4_short'],
  },
  {
    name: 'IPv4 header cut at 19 bytes (source present) → pass + ip4_short',
    entries: BAN4,
    packet: truncate(v4(BANNED4), 14 + 19),
    action: 'XDP_PASS',
    parse: ['ip4_short'],
  },
  {
    name: '1 tag + IPv4 header cut → pass + ip4_short + vlan',
    entries: BAN4,
    packet: truncate(v4(BANNED4, { vlans: vlanTags(1) }), 18 + 19),
    action: 'XDP_PASS',
    parse: ['ip4_short', 'vlan'],
  },
  {
    name: 'IPv4 header complete, UDP cut → decided (drop)',
    entries: BAN4,
    packet: truncate(v4(BANNED4), 14 + 20),
    action: 'XDP_DROP',
    tags: [dropTag(1)],
  },
  {
    name: 'IPv6 header absent (14 bytes, 0x86DD) → pass + ip6_short',
    entries: BAN6,
    packet: truncate(v6(BANNED6), 14),
    action: 'XDP_PASS',
    parse: ['ip6_short'],
  },
  {
    name: 'IPv6 header cut at 39 bytes → pass + ip6_short',
    entries: BAN6,
    packet: truncate(v6(BANNED6), 14 + 39),
    action: 'XDP_PASS',
    parse: ['ip6_short'],
  },
  {
    name: '2 tags + IPv6 header cut → pass + ip6_short + vlan',
    entries: BAN6,
    packet: truncate(v6(BANNED6, { vlans: vlanTags(2, 'qinq') }), 22 + 30),
    action: 'XDP_PASS',
    parse: ['ip6_short', 'vlan'],
  },
  {
    name: 'IPv6 header complete, UDP absent → decided (drop)',
    entries: BAN6,
    packet: truncate(v6(BANNED6), 14 + 40),
    action: 'XDP_DROP',
    tags: [dropTag(3)],
  },

  // ---- malformed IP headers
  { name: 'IPv4 ihl 4, banned source → pass + ip4_bad', entries: BAN4, packet: v4(BANNED4, { ihl: 4 }), action: 'XDP_PASS', parse: ['ip4_bad'] },
  { name: 'IPv4 ihl 0, banned source → pass + ip4_bad', entries: BAN4, packet: v4(BANNED4, { ihl: 0 }), action: 'XDP_PASS', parse: ['ip4_bad'] },
  {
    name: 'version 6 under ethertype 0x0800 → pass + ip4_bad',
    entries: BAN4,
    packet: v4(BANNED4, { version: 6 }),
    action: 'XDP_PASS',
    parse: ['ip4_bad'],
  },
  {
    name: 'version 4 under ethertype 0x86DD → pass + ip6_bad',
    entries: BAN6,
    packet: v6(BANNED6, { version: 4 }),
    action: 'XDP_PASS',
    parse: ['ip6_bad'],
  },
  {
    name: 'IPv6 bytes under ethertype 0x0800 → pass + ip4_bad',
    entries: BAN46,
    packet: ethernet(ETH_P_IP, v6(BANNED6).subarray(14)),
    action: 'XDP_PASS',
    parse: ['ip4_bad'],
  },
  {
    name: 'IPv4 bytes under ethertype 0x86DD (long enough) → pass + ip6_bad',
    entries: BAN46,
    packet: ethernet(ETH_P_IPV6, v4(BANNED4, { payload: 40 }).subarray(14)),
    action: 'XDP_PASS',
    parse: ['ip6_bad'],
  },

  // ---- ignore beats drop
  {
    name: 'IPv4 ignore /8 beats drop /32',
    entries: [ignore('203.0.0.0/8', 5), drop('203.0.113.9/32', 6)],
    packet: v4('203.0.113.9'),
    action: 'XDP_PASS',
    tags: [ignoreTag(5)],
  },
  {
    name: 'IPv4 ignore /32 beats drop /24',
    entries: [ignore('203.0.113.9/32', 5), drop('203.0.113.0/24', 6)],
    packet: v4('203.0.113.9'),
    action: 'XDP_PASS',
    tags: [ignoreTag(5)],
  },
  {
    name: 'IPv4 ignore /8 + drop /32: other source of the /8 passes, counted as ignore',
    entries: [ignore('203.0.0.0/8', 5), drop('203.0.113.9/32', 6)],
    packet: v4('203.0.113.10'),
    action: 'XDP_PASS',
    tags: [ignoreTag(5)],
  },
  {
    name: 'IPv4 ignore elsewhere does not stop a drop',
    entries: [ignore('198.51.100.0/24', 5), drop('203.0.113.9/32', 6)],
    packet: v4('203.0.113.9'),
    action: 'XDP_DROP',
    tags: [dropTag(6)],
  },
  {
    name: 'IPv6 ignore /32 beats drop /128',
    entries: [ignore('2001:db8::/32', 7), drop('2001:db8:5::9/128', 8)],
    packet: v6('2001:db8:5::9'),
    action: 'XDP_PASS',
    tags: [ignoreTag(7)],
  },
  {
    name: 'IPv6 ignore /128 beats drop /64',
    entries: [ignore('2001:db8:5::9/128', 7), drop('2001:db8:5::/64', 8)],
    packet: v6('2001:db8:5::9'),
    action: 'XDP_PASS',
    tags: [ignoreTag(7)],
  },

  // ---- longest-prefix tag attribution
  {
    name: 'IPv4 /16 and /24 cover the source: the /24 tag counts',
    entries: [drop('198.51.0.0/16', 10), drop('198.51.100.0/24', 11)],
    packet: v4('198.51.100.7'),
    action: 'XDP_DROP',
    tags: [dropTag(11)],
  },
  {
    name: 'IPv4 /16 and /24: a source outside the /24 counts for the /16',
    entries: [drop('198.51.0.0/16', 10), drop('198.51.100.0/24', 11)],
    packet: v4('198.51.7.7'),
    action: 'XDP_DROP',
    tags: [dropTag(10)],
  },
  {
    name: 'IPv4 /16, /24 and /32 exact: the /32 tag counts',
    entries: [drop('198.51.0.0/16', 10), drop('198.51.100.0/24', 11), drop('198.51.100.7/32', 12)],
    packet: v4('198.51.100.7'),
    action: 'XDP_DROP',
    tags: [dropTag(12)],
  },
  {
    name: 'IPv6 /32 and /48 cover the source: the /48 tag counts',
    entries: [drop('2001:db8::/32', 13), drop('2001:db8:7::/48', 14)],
    packet: v6('2001:db8:7::7'),
    action: 'XDP_DROP',
    tags: [dropTag(14)],
  },
  {
    name: 'IPv6 /32, /48 and /128 exact: the /128 tag counts',
    entries: [drop('2001:db8::/32', 13), drop('2001:db8:7::/48', 14), drop('2001:db8:7::7/128', 15)],
    packet: v6('2001:db8:7::7'),
    action: 'XDP_DROP',
    tags: [dropTag(15)],
  },
  {
    name: 'ignore: longest prefix attribution too (/8 vs /24)',
    entries: [ignore('203.0.0.0/8', 16), ignore('203.0.113.0/24', 17)],
    packet: v4('203.0.113.1'),
    action: 'XDP_PASS',
    tags: [ignoreTag(17)],
  },

  // ---- tag overflow slot
  {
    name: `drop tag id ${MAX_TAGS} (= max_tags) counts in slot 0`,
    entries: [drop(`${BANNED4}/32`, MAX_TAGS)],
    packet: v4(BANNED4),
    action: 'XDP_DROP',
    tags: [dropTag(0)],
  },
  {
    name: 'drop tag id 100000 (CIDR, v6) counts in slot 0',
    entries: [drop('2001:db8:9::/64', 100000)],
    packet: v6('2001:db8:9::1'),
    action: 'XDP_DROP',
    tags: [dropTag(0)],
  },
  {
    name: `ignore tag id ${MAX_TAGS + 1} counts in ignore slot 0`,
    entries: [ignore('203.0.113.0/24', MAX_TAGS + 1), drop('203.0.113.5/32', 1)],
    packet: v4('203.0.113.5'),
    action: 'XDP_PASS',
    tags: [ignoreTag(0)],
  },
  {
    name: `tag id ${MAX_TAGS - 1} (last slot) is counted as itself`,
    entries: [drop(`${BANNED4}/32`, MAX_TAGS - 1)],
    packet: v4(BANNED4),
    action: 'XDP_DROP',
    tags: [dropTag(MAX_TAGS - 1)],
  },
];

function tagMap(s: HelperStats): Map<string, { packets: bigint; bytes: bigint }> {
  const m = new Map<string, { packets: bigint; bytes: bigint }>();
  for (const t of s.tags) m.set(`${t.policy}:${t.tagId}`, { packets: t.packets, bytes: t.bytes });
  return m;
}

/** Asserts the counter deltas between two STATS replies for `repeat` runs of a `len`-byte frame. */
function checkDeltas(row: Row, before: HelperStats, after: HelperStats, runs: number, len: number): void {
  const n = BigInt(runs);
  const bytes = BigInt(len) * n;
  for (const a of XDP_ACTIONS) {
    const want = a === row.action && runs > 0;
    assert.equal(after.xdp[a].packets - before.xdp[a].packets, want ? n : 0n, `${a} packets`);
    assert.equal(after.xdp[a].bytes - before.xdp[a].bytes, want ? bytes : 0n, `${a} bytes`);
  }
  for (const r of PARSE_REASONS) {
    if (row.parseDontCare?.includes(r)) continue;
    const want = row.parse?.includes(r) ? n : 0n;
    assert.equal(after.parse[r] - before.parse[r], want, `parse ${r}`);
  }
  const b = tagMap(before);
  const a = tagMap(after);
  const keys = new Set([...b.keys(), ...a.keys(), ...(row.tags ?? []).map((t) => `${t.policy}:${t.tagId}`)]);
  for (const k of keys) {
    const want = runs > 0 && (row.tags ?? []).some((t) => `${t.policy}:${t.tagId}` === k);
    const dp = (a.get(k)?.packets ?? 0n) - (b.get(k)?.packets ?? 0n);
    const db = (a.get(k)?.bytes ?? 0n) - (b.get(k)?.bytes ?? 0n);
    assert.equal(dp, want ? n : 0n, `tag ${k} packets`);
    assert.equal(db, want ? bytes : 0n, `tag ${k} bytes`);
  }
}

const XDP_ACTION_NUM: Record<XdpAction, number> = {
  XDP_ABORTED: 0,
  XDP_DROP: 1,
  XDP_PASS: 2,
  XDP_TX: 3,
  XDP_REDIRECT: 4,
};

for (const lpmOnly of [false, true]) {
  describe(`TEST_RUN table (${lpmOnly ? '--lpm-only' : 'exact hash + LPM'})`, () => {
    let helper: HelperClient | undefined;
    const logs: string[] = [];

    before(async () => {
      helper = await HelperClient.start({
        helperPath: helperPath(),
        capacities: { dropExact: 1024, dropCidr: 1024, ignoreExact: 1024, ignoreCidr: 1024 },
        maxTags: MAX_TAGS,
        lpmOnly,
        onLog: (l) => logs.push(l),
      });
    });

    after(async () => {
      if (!helper) return;
      try {
        await helper.close(3000);
      } catch {
        helper.kill('SIGKILL');
      }
    });

    test('hello reports the options', () => {
      assert.ok(helper);
      assert.equal(helper.hello.maxTags, MAX_TAGS);
      assert.equal(helper.hello.features.lpmOnly, lpmOnly);
      assert.equal(helper.hello.ifaces.length, 0);
      assert.deepEqual(helper.hello.count, [0, 0, 0, 0, 0, 0, 0, 0]);
    });

    for (const row of ROWS) {
      test(row.name, async (t) => {
        const h = helper;
        assert.ok(h, 'helper started');
        const entries = row.entries ?? [];
        const repeat = row.repeat ?? REPEAT;
        if (entries.length) {
          const st = await h.applyBatch(entries);
          assert.deepEqual(st, entries.map(() => 'ok'), 'entries added');
        }
        try {
          const before = await h.stats();
          let runs = repeat;
          let refused = false;
          try {
            const res = await h.testRun(row.packet, repeat);
            assert.equal(res.retval, XDP_ACTION_NUM[row.action], `action (got ${res.retval})`);
          } catch (err) {
            if (!row.mayBeRefused) throw err;
            assert.ok(err instanceof HelperRequestError && err.errno === 22, `refused with EINVAL, got ${String(err)}`);
            refused = true;
            runs = 0;
            t.diagnostic(`kernel refused the ${row.packet.length}-byte frame: ${(err as Error).message}`);
          }
          const after = await h.stats();
          checkDeltas(row, before, after, runs, row.packet.length);
          if (row.mayBeRefused && !refused) t.diagnostic('kernel accepted the short frame');
        } finally {
          if (entries.length) {
            const del = entries.map((e) => ({ ...e, kind: 'delete' as const })).reverse();
            const st = await h.applyBatch(del);
            assert.deepEqual(st, del.map(() => 'ok'), 'entries deleted');
          }
        }
      });
    }

    test('every entry is gone after the table', async () => {
      assert.ok(helper);
      const s = await helper.stats();
      assert.deepEqual(s.count, [0, 0, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(await helper.dump(), []);
    });

    test('routing: /32 and /128 land in the exact maps unless --lpm-only', async () => {
      const h = helper;
      assert.ok(h);
      const ops = [drop('192.0.2.1/32', 1), drop('2001:db8::1/128', 2), drop('192.0.2.0/24', 3), ignore('2001:db8::/32', 4)];
      assert.deepEqual(await h.applyBatch(ops), ['ok', 'ok', 'ok', 'ok']);
      try {
        const s = await h.stats();
        assert.deepEqual(s.count, lpmOnly ? [0, 0, 2, 1, 0, 0, 0, 1] : [1, 1, 1, 0, 0, 0, 0, 1]);
      } finally {
        await h.applyBatch(ops.map((o) => ({ ...o, kind: 'delete' as const })));
      }
    });
  });
}
