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

/** The OpenMetrics text of §5, byte for byte, then `extra` families (the fleet's gauges) before the EOF. */
export function openMetrics(src: StatsSource, s: StatsSnapshot, extra: readonly string[] = []): string {
  const l: string[] = [];
  const family = (name: string, help: string, type: string): void => {
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
  l.push(...extra, '# EOF');
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

/** `extraMetrics`: more OpenMetrics families (the fleet's gauges), none by default. */
export function statsHandlers(src: StatsSource, extraMetrics: () => readonly string[] = () => []): HandlerTable {
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
    if (prom) return { status: 200, text: openMetrics(src, s, extraMetrics()), contentType: OPENMETRICS_TYPE };
    return jsonText(200, metricsJson(src, s));
  };
  return { 'stats.global': global, 'stats.tags': tags, metrics };
}
