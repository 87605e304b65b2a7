/**
 * Statistics routes (spec §5): `GET /v1/stats`, `GET /v1/stats/tags/{policy}`,
 * `GET /v1/metrics[?format=prometheus]`.
 *
 * Entry counts come from the userspace state; packet counters from the
 * helper's STATS (summed over CPUs). Counters are u64: they are rendered
 * from bigints, exactly, never through a JS number.
 *
 * Per-tag counters: the data plane has `max_tags` counter slots per policy
 * (default 4096). A tag id >= max_tags shares slot 0, the overflow slot; it
 * is reported as the tag `(overflow)` (a name no tag can have). Ids whose
 * tag is gone are skipped.
 *
 * The OpenMetrics text is Couic's families, byte for byte, then ours (the
 * update queue, the journal, the helper), named as Prometheus wants them:
 * `promtool check metrics` flags only Couic's two gauges ending in `_total`.
 */
import type { StatsSource } from '../../core/model/types.js';
import type { Policy } from '../../domain/types.js';
import { AppError, isAppError, type FieldErrors } from '../../errors.js';
import { XDP_ACTIONS } from '../../xdp/abi.js';
import type { HelperStats, PktStats } from '../../xdp/types.js';
import type { Reply } from '../reply.js';
import type { Handler } from '../router.js';
import type { HandlerTable } from '../routes.js';
import { parsePolicy } from '../validate.js';

export const OVERFLOW_TAG = '(overflow)';
export const OPENMETRICS_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export interface TagCounter {
  readonly tag: string;
  readonly packets: bigint;
  readonly bytes: bigint;
}

/** Health figures of the daemon (ours, not Couic's), read at each scrape. */
export interface Health {
  /** Mutations queued or in flight (what queue.max_pending bounds). */
  readonly queueOutstanding: number;
  readonly queueMaxPending: number;
  /** Requests waiting for a batch. */
  readonly queueWaiting: number;
  /** Mutation requests queued since the start. */
  readonly requests: number;
  /** Batches applied (one helper round trip each). */
  readonly batches: number;
  readonly journalRecordsSinceSnapshot: number;
  readonly journalCompactAfter: number;
  readonly journalCompacting: boolean;
  readonly helperUp: boolean;
  readonly helperRestarts: number;
}

export type HealthSource = () => Health;

export interface StatsSnapshot {
  readonly dropCount: number;
  readonly ignoreCount: number;
  readonly raw: HelperStats;
}

/** Reads the kernel counters; any failure is a 500 `internal`. */
export async function readStats(src: StatsSource): Promise<StatsSnapshot> {
  let raw: HelperStats;
  try {
    raw = await src.stats();
  } catch (err) {
    const msg = isAppError(err) || err instanceof Error ? err.message : String(err);
    throw new AppError('internal', `Failed to read eBPF statistics: ${msg}`, {}, { cause: err });
  }
  return { dropCount: src.count('drop'), ignoreCount: src.count('ignore'), raw };
}

/** Per-tag counters of one policy, names resolved (in the helper's order). */
export function tagCounters(src: StatsSource, raw: HelperStats, policy: Policy): TagCounter[] {
  const out: TagCounter[] = [];
  const seen = new Set<string>();
  for (const t of raw.tags) {
    if (t.policy !== policy) continue;
    let tag: string | undefined;
    if (t.tagId === 0) tag = OVERFLOW_TAG;
    else {
      tag = src.tagName(t.tagId);
      if (tag === undefined) continue;
      if (tag === '') tag = 'untagged';
    }
    if (seen.has(tag)) continue;
    seen.add(tag);
    out.push({ tag, packets: t.packets, bytes: t.bytes });
  }
  return out;
}

const pkt = (p: bigint, b: bigint): string => `{"rx_packets":${p},"rx_bytes":${b}}`;

export function xdpJson(raw: HelperStats): string {
  return `{${XDP_ACTIONS.map((a) => {
    const s: PktStats = raw.xdp[a];
    return `${JSON.stringify(a)}:${pkt(s.packets, s.bytes)}`;
  }).join(',')}}`;
}

/** The Stats object of §1.4 as JSON text. */
export function statsJson(s: StatsSnapshot): string {
  return `{"drop_cidr_count":${s.dropCount},"ignore_cidr_count":${s.ignoreCount},"xdp":${xdpJson(s.raw)}}`;
}

export function tagStatsJson(tags: readonly TagCounter[]): string {
  return `{"tags":{${tags.map((t) => `${JSON.stringify(t.tag)}:${pkt(t.packets, t.bytes)}`).join(',')}}}`;
}

export function metricsJson(src: StatsSource, s: StatsSnapshot): string {
  return (
    `{"drop_cidr_count":${s.dropCount},"ignore_cidr_count":${s.ignoreCount},"xdp":${xdpJson(s.raw)},` +
    `"drop_tags":${tagStatsJson(tagCounters(src, s.raw, 'drop'))},"ignore_tags":${tagStatsJson(tagCounters(src, s.raw, 'ignore'))}}`
  );
}

type Family = (name: string, help: string, type: 'gauge' | 'counter') => void;

/** Our families: one sample each. */
function healthFamilies(l: string[], family: Family, h: Health): void {
  const one = (name: string, help: string, type: 'gauge' | 'counter', v: number | boolean): void => {
    family(name, help, type);
    l.push(`${name} ${typeof v === 'boolean' ? (v ? 1 : 0) : v}`);
  };
  one('couic_queue_outstanding_mutations', 'Mutations queued or in flight to the kernel.', 'gauge', h.queueOutstanding);
  one('couic_queue_max_pending_mutations', 'Outstanding mutations beyond which requests are refused (503 busy), queue.max_pending.', 'gauge', h.queueMaxPending);
  one('couic_queue_waiting_requests', 'Mutation requests waiting for a batch.', 'gauge', h.queueWaiting);
  one('couic_queue_requests_total', 'Mutation requests queued since the start.', 'counter', h.requests);
  one('couic_queue_batches_total', 'Batches of mutations applied to the kernel (one helper round trip each).', 'counter', h.batches);
  one('couic_journal_records_since_snapshot', 'Journal records written since the last snapshot.', 'gauge', h.journalRecordsSinceSnapshot);
  one('couic_journal_compact_after_records', 'Records since the last snapshot that start a compaction, journal.compact_after.', 'gauge', h.journalCompactAfter);
  one('couic_journal_compacting', '1 while the journal is being compacted.', 'gauge', h.journalCompacting);
  one('couic_helper_up', '1 when couic-helper is ready (0 while it restarts).', 'gauge', h.helperUp);
  one('couic_helper_restarts_total', 'Restarts of couic-helper since the start.', 'counter', h.helperRestarts);
}

/** What the OpenMetrics text adds after Couic's families. */
export interface MoreMetrics {
  /** Our health families (queue, journal, helper). */
  readonly health?: Health;
  /** More families, already rendered (the fleet's, peering's gauges). */
  readonly families?: readonly string[];
}

/** The OpenMetrics text of §5, byte for byte, then our health families and `more.families`, before the EOF. */
export function openMetrics(src: StatsSource, s: StatsSnapshot, more: MoreMetrics = {}): string {
  const l: string[] = [];
  const family: Family = (name, help, type) => {
    l.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  family('couic_drop_cidr_total', 'Current number of CIDR dropped by couic.', 'gauge');
  l.push(`couic_drop_cidr_total ${s.dropCount}`);
  family('couic_ignore_cidr_total', 'Current number of CIDR ignored by couic.', 'gauge');
  l.push(`couic_ignore_cidr_total ${s.ignoreCount}`);
  family('couic_stats_rx_packets_total', 'Current number of packets handled by XDP.', 'counter');
  for (const a of XDP_ACTIONS) l.push(`couic_stats_rx_packets_total{action="${a}"} ${s.raw.xdp[a].packets}`);
  family('couic_stats_rx_bytes_total', 'Current number of bytes handled by XDP.', 'counter');
  for (const a of XDP_ACTIONS) l.push(`couic_stats_rx_bytes_total{action="${a}"} ${s.raw.xdp[a].bytes}`);
  for (const [policy, verb] of [['drop', 'dropped'], ['ignore', 'ignored']] as const) {
    const tags = tagCounters(src, s.raw, policy);
    family(`couic_${policy}_tag_rx_packets_total`, `Number of packets ${verb} per tag.`, 'counter');
    for (const t of tags) l.push(`couic_${policy}_tag_rx_packets_total{tag="${t.tag}"} ${t.packets}`);
    family(`couic_${policy}_tag_rx_bytes_total`, `Number of bytes ${verb} per tag.`, 'counter');
    for (const t of tags) l.push(`couic_${policy}_tag_rx_bytes_total{tag="${t.tag}"} ${t.bytes}`);
  }
  if (more.health !== undefined) healthFamilies(l, family, more.health);
  l.push(...(more.families ?? []), '# EOF');
  return `${l.join('\n')}\n`;
}

const jsonText = (status: number, text: string): Reply => ({ status, text, contentType: 'application/json' });

/**
 * The `format` query parameter as serde would deserialize it: absent or any
 * value but `prometheus` = JSON; given twice = 400 plain text.
 */
function wantsPrometheus(query: URLSearchParams): boolean {
  const all = query.getAll('format');
  if (all.length > 1) {
    const text = 'Failed to deserialize query string: duplicate field `format`';
    throw new AppError('bad_request', text, {}, { plainBody: text });
  }
  return all[0] === 'prometheus';
}

/** Where the metrics route reads our families beyond Couic's. */
export interface MoreMetricsSources {
  readonly health?: HealthSource;
  /** More OpenMetrics families (the fleet's gauges), none by default. */
  readonly families?: () => readonly string[];
}

export function statsHandlers(src: StatsSource, more: MoreMetricsSources = {}): HandlerTable {
  const global: Handler = async () => jsonText(200, statsJson(await readStats(src)));
  const tags: Handler = async (ctx) => {
    const errors: FieldErrors = {};
    const policy = parsePolicy(ctx.params['policy'] ?? '', errors);
    if (policy === undefined) throw new AppError('bad_request', 'Bad request', errors);
    const s = await readStats(src);
    return jsonText(200, tagStatsJson(tagCounters(src, s.raw, policy)));
  };
  const metrics: Handler = async (ctx) => {
    const prom = wantsPrometheus(ctx.query);
    const s = await readStats(src);
    if (prom) {
      const health = more.health?.();
      const families = more.families?.();
      const text = openMetrics(src, s, { ...(health === undefined ? {} : { health }), ...(families === undefined ? {} : { families }) });
      return { status: 200, text, contentType: OPENMETRICS_TYPE };
    }
    return jsonText(200, metricsJson(src, s));
  };
  return { 'stats.global': global, 'stats.tags': tags, metrics };
}
