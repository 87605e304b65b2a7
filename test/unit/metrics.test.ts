/**
 * The OpenMetrics output with our health families: Couic's families first,
 * unchanged, ours after them, and `promtool check metrics` (Prometheus's own
 * linter) flags nothing but Couic's two gauges named `_total`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { openMetrics, type Health } from '../../src/api/handlers/stats.js';
import type { StatsSource } from '../../src/core/model/types.js';
import { PARSE_REASONS, XDP_ACTIONS } from '../../src/xdp/abi.js';
import type { HelperStats } from '../../src/xdp/types.js';

const raw: HelperStats = {
  xdp: Object.fromEntries(XDP_ACTIONS.map((a, i) => [a, { packets: BigInt(i * 10), bytes: BigInt(i * 640) }])) as HelperStats['xdp'],
  parse: Object.fromEntries(PARSE_REASONS.map((r) => [r, 0n])) as HelperStats['parse'],
  count: [],
  tags: [
    { policy: 'drop', tagId: 1, packets: 7n, bytes: 448n },
    { policy: 'ignore', tagId: 2, packets: 3n, bytes: 192n },
  ],
};
const src: StatsSource = {
  stats: async () => raw,
  count: (p) => (p === 'drop' ? 12 : 1),
  tagName: (id) => (id === 1 ? 'fail2ban-sshd' : id === 2 ? 'office' : undefined),
};
const health: Health = {
  queueOutstanding: 5, queueMaxPending: 262_144, queueWaiting: 2, requests: 1234, batches: 99,
  journalRecordsSinceSnapshot: 4321, journalCompactAfter: 1_000_000, journalCompacting: true, helperUp: true, helperRestarts: 1,
};
const snap = { dropCount: 12, ignoreCount: 1, raw };

describe('OpenMetrics output', () => {
  it('is Couic\'s output, then our families, then # EOF', () => {
    const couic = openMetrics(src, snap);
    const full = openMetrics(src, snap, { health });
    assert.ok(full.startsWith(couic.slice(0, -'# EOF\n'.length)));
    assert.ok(full.endsWith('\n# EOF\n'));
    for (const line of [
      'couic_queue_outstanding_mutations 5', 'couic_queue_max_pending_mutations 262144', 'couic_queue_waiting_requests 2',
      'couic_queue_requests_total 1234', 'couic_queue_batches_total 99', 'couic_journal_records_since_snapshot 4321',
      'couic_journal_compact_after_records 1000000', 'couic_journal_compacting 1', 'couic_helper_up 1', 'couic_helper_restarts_total 1',
      '# TYPE couic_queue_requests_total counter', '# TYPE couic_helper_up gauge',
    ]) {
      assert.ok(full.split('\n').includes(line), line);
    }
  });

  it('promtool check metrics flags only Couic\'s two _total gauges', (t) => {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: openMetrics(src, snap, { health }), encoding: 'utf8' });
    if (r.error !== undefined) {
      t.skip('promtool not installed (apt-get install prometheus)');
      return;
    }
    const problems = `${r.stdout}${r.stderr}`.trim().split('\n').sort();
    assert.deepEqual(problems, [
      'couic_drop_cidr_total non-counter metrics should not have "_total" suffix',
      'couic_ignore_cidr_total non-counter metrics should not have "_total" suffix',
    ]);
  });
});
