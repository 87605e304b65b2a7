import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLEAR_SCREEN,
  clientsTable,
  entriesTable,
  formatExpiration,
  formatRate,
  formatTag,
  globalStatsText,
  groupDisplay,
  liveFrame,
  liveRates,
  prettyJson,
  setInspectText,
  setsListText,
  tagStatsText,
  type ApiStats,
} from '../../src/cli/format.js';

const NOW = 1_700_000_000;

describe('formatExpiration', () => {
  const cases: [number, string][] = [
    [0, 'never'],
    [NOW - 10, 'expired'],
    [NOW, 'expired'],
    [NOW + 1, '1s'],
    [NOW + 59, '59s'],
    [NOW + 60, '1m0s'],
    [NOW + 3 * 60 + 4, '3m4s'],
    [NOW + 3600, '1h0m0s'],
    [NOW + 2 * 3600 + 3 * 60 + 4, '2h3m4s'],
    [NOW + 86400, '1d 0h0m0s'],
    [NOW + 86400 + 2 * 3600 + 3 * 60 + 4, '1d 2h3m4s'],
    [NOW + 400 * 86400 + 59, '400d 0h0m59s'],
  ];
  for (const [exp, text] of cases) {
    it(`${exp === 0 ? 0 : exp - NOW} → ${text}`, () => assert.equal(formatExpiration(exp, NOW), text));
  }
});

describe('entry and client tables', () => {
  it('renders tag null as -, "" as empty, expirations', () => {
    const t = entriesTable(
      'ignore',
      [
        { creation: NOW, cidr: '10.0.0.0/8', tag: null, expiration: 0 },
        { creation: NOW, cidr: '2001:db8::/32', tag: '', expiration: NOW - 1 },
        { creation: NOW, cidr: '192.0.2.0/24', tag: 'fail2ban-sshd', expiration: NOW + 93784 },
      ],
      NOW,
    );
    assert.equal(
      t,
      [
        '┌────────┬───────────────┬───────────────┬────────────┐',
        '│ Policy ┆ CIDR          ┆ Tag           ┆ Expiration │',
        '╞════════╪═══════════════╪═══════════════╪════════════╡',
        '│ ignore ┆ 10.0.0.0/8    ┆ -             ┆ never      │',
        '├╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌┤',
        '│ ignore ┆ 2001:db8::/32 ┆               ┆ expired    │',
        '├╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌┤',
        '│ ignore ┆ 192.0.2.0/24  ┆ fail2ban-sshd ┆ 1d 2h3m4s  │',
        '└────────┴───────────────┴───────────────┴────────────┘',
      ].join('\n'),
    );
    assert.equal(formatTag(null), '-');
    assert.equal(formatTag(''), '');
  });

  it('renders an empty entry list', () => {
    assert.equal(
      entriesTable('drop', [], NOW),
      [
        '┌────────┬──────┬─────┬────────────┐',
        '│ Policy ┆ CIDR ┆ Tag ┆ Expiration │',
        '╞════════╪══════╪═════╪════════════╡',
        '└────────┴──────┴─────┴────────────┘',
      ].join('\n'),
    );
  });

  it('shows client groups in display form', () => {
    assert.deepEqual(
      ['admin', 'clientro', 'clientrw', 'monitoring', 'peering'].map(groupDisplay),
      ['admin', 'client_ro', 'client_rw', 'monitoring', 'peering'],
    );
    assert.equal(
      clientsTable([
        { name: 'ro', token: 'a', group: 'clientro' },
        { name: 'mon', token: 'b', group: 'monitoring' },
      ]),
      [
        '┌──────┬────────────┬───────┐',
        '│ Name ┆ Group      ┆ Token │',
        '╞══════╪════════════╪═══════╡',
        '│ ro   ┆ client_ro  ┆ a     │',
        '├╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌┤',
        '│ mon  ┆ monitoring ┆ b     │',
        '└──────┴────────────┴───────┘',
      ].join('\n'),
    );
  });

  it('pretty-prints JSON with 2 spaces', () => {
    assert.equal(prettyJson({ a: 1, b: [] }), '{\n  "a": 1,\n  "b": []\n}');
    assert.equal(prettyJson([]), '[]');
  });
});

const STATS: ApiStats = {
  drop_cidr_count: 3,
  ignore_cidr_count: 1,
  xdp: {
    XDP_PASS: { rx_packets: 10, rx_bytes: 1000 },
    XDP_TX: { rx_packets: 0, rx_bytes: 0 },
    XDP_ABORTED: { rx_packets: 0, rx_bytes: 0 },
    XDP_REDIRECT: { rx_packets: 0, rx_bytes: 0 },
    XDP_DROP: { rx_packets: 5, rx_bytes: 300 },
  },
};

describe('stats renderers', () => {
  it('global stats: counts, actions sorted, trailing blank line', () => {
    assert.equal(
      globalStatsText(STATS),
      [
        'Drop CIDR Count: 3',
        'Ignore CIDR Count: 1',
        'XDP Stats:',
        '  Action: XDP_ABORTED',
        '    RX Packets: 0',
        '    RX Bytes: 0',
        '  Action: XDP_DROP',
        '    RX Packets: 5',
        '    RX Bytes: 300',
        '  Action: XDP_PASS',
        '    RX Packets: 10',
        '    RX Bytes: 1000',
        '  Action: XDP_REDIRECT',
        '    RX Packets: 0',
        '    RX Bytes: 0',
        '  Action: XDP_TX',
        '    RX Packets: 0',
        '    RX Bytes: 0',
        '',
        '',
      ].join('\n'),
    );
  });

  it('tag stats: table sorted by tag, or the empty message', () => {
    assert.equal(tagStatsText('drop', { tags: {} }), 'No tag statistics available.');
    assert.equal(
      tagStatsText('drop', { tags: { untagged: { rx_packets: 1, rx_bytes: 60 }, 'lan.couic': { rx_packets: 12, rx_bytes: 1234 } } }),
      [
        '┌───────────┬────────┬────────────┬──────────┐',
        '│ Tag       ┆ Policy ┆ RX Packets ┆ RX Bytes │',
        '╞═══════════╪════════╪════════════╪══════════╡',
        '│ lan.couic ┆ drop   ┆ 12         ┆ 1234     │',
        '├╌╌╌╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌╌╌┼╌╌╌╌╌╌╌╌╌╌┤',
        '│ untagged  ┆ drop   ┆ 1          ┆ 60       │',
        '└───────────┴────────┴────────────┴──────────┘',
      ].join('\n'),
    );
  });

  it('u64 counters beyond 2^53 (BigInt) print exactly in text and JSON, and give exact rates', () => {
    const big: ApiStats = {
      drop_cidr_count: 2,
      ignore_cidr_count: 0,
      xdp: { XDP_DROP: { rx_packets: 18446744073709551615n, rx_bytes: 9007199254740993n }, XDP_PASS: { rx_packets: 7, rx_bytes: 420 } },
    };
    const text = globalStatsText(big);
    assert.match(text, /  Action: XDP_DROP\n    RX Packets: 18446744073709551615\n    RX Bytes: 9007199254740993\n/);
    assert.equal(
      prettyJson(big),
      '{\n  "drop_cidr_count": 2,\n  "ignore_cidr_count": 0,\n  "xdp": {\n    "XDP_DROP": {\n      "rx_packets": 18446744073709551615,\n      "rx_bytes": 9007199254740993\n    },\n    "XDP_PASS": {\n      "rx_packets": 7,\n      "rx_bytes": 420\n    }\n  }\n}',
    );
    assert.match(
      tagStatsText('drop', { tags: { big: { rx_packets: 18446744073709551615n, rx_bytes: 9007199254740993n } } }),
      /│ big +┆ drop +┆ 18446744073709551615 ┆ 9007199254740993 │/,
    );
    const next: ApiStats = { ...big, xdp: { ...big.xdp, XDP_DROP: { rx_packets: 18446744073709551615n, rx_bytes: 9007199254742993n } } };
    assert.deepEqual(liveRates(big, next, 1)['XDP_DROP'], { packets: '0.0 pps', bytes: '2.0kbps' });
  });

  it('formats rates', () => {
    assert.equal(formatRate(0, 'pps'), '0.0 pps');
    assert.equal(formatRate(999.94, 'pps'), '999.9 pps');
    assert.equal(formatRate(1500, 'pps'), '1.5kpps');
    assert.equal(formatRate(2_340_000, 'bps'), '2.3mbps');
    assert.equal(formatRate(7e9, 'bps'), '7.0gbps');
  });

  it('live frame: rates, highlight on change', () => {
    const next: ApiStats = {
      ...STATS,
      xdp: { ...STATS.xdp, XDP_DROP: { rx_packets: 2005, rx_bytes: 120_300 } },
    };
    const r0 = liveRates(STATS, STATS, 1);
    const r1 = liveRates(STATS, next, 2);
    assert.deepEqual(r1['XDP_DROP'], { packets: '1.0kpps', bytes: '60.0kbps' });
    const frame = liveFrame(2, next, r1, r0);
    assert.ok(frame.startsWith(CLEAR_SCREEN));
    assert.equal(
      frame.slice(CLEAR_SCREEN.length),
      [
        'Every 2.0s: stats',
        'Drop CIDR Count: 3',
        'Ignore CIDR Count: 1',
        'XDP Stats:',
        '  Action: XDP_ABORTED',
        '    RX Packets: 0.0 pps',
        '    RX Bytes: 0.0 bps',
        '  Action: XDP_DROP',
        '    RX Packets: \x1b[47;30m1.0kpps\x1b[0m',
        '    RX Bytes: \x1b[47;30m60.0kbps\x1b[0m',
        '  Action: XDP_PASS',
        '    RX Packets: 0.0 pps',
        '    RX Bytes: 0.0 bps',
        '  Action: XDP_REDIRECT',
        '    RX Packets: 0.0 pps',
        '    RX Bytes: 0.0 bps',
        '  Action: XDP_TX',
        '    RX Packets: 0.0 pps',
        '    RX Bytes: 0.0 bps',
        '',
      ].join('\n'),
    );
  });
});

describe('sets renderers', () => {
  it('lists sets or says there are none', () => {
    assert.equal(setsListText('ignore', []), "No sets found for policy 'ignore'");
    assert.equal(
      setsListText('drop', [
        { name: 'lan', entry_count: 2, file_size: 27 },
        { name: 'bad-asn', entry_count: 0, file_size: 0 },
      ]),
      'lan: 2 entries (27 bytes)\nbad-asn: 0 entries (0 bytes)',
    );
  });

  it('inspects a set', () => {
    assert.equal(
      setInspectText({ name: 'lan', entries: ['10.0.0.0/8', '192.168.1.100/24'] }),
      'Set: lan\nEntry count: 2\nEntries:\n\t10.0.0.0/8\n\t192.168.1.100/24\n\n',
    );
    assert.equal(setInspectText({ name: 'e', entries: [] }), 'Set: e\nEntry count: 0\nEntries:\n\n');
  });
});
