/**
 * Pure renderers for couicctl's human output (spec §9.3, §9.4). Every
 * function returns the exact text to print (no trailing newline unless the
 * output itself ends with a blank line).
 */
import { renderTable } from './table.js';

export type PolicyName = 'drop' | 'ignore';

/** Entry as the API returns it (§1.4). */
export interface ApiEntry {
  readonly creation: number;
  readonly cidr: string;
  readonly tag: string | null;
  readonly expiration: number;
}

export interface ApiClient {
  readonly name: string;
  readonly token: string;
  readonly group: string;
}

/** A u64 counter: a BigInt beyond 2^53 (decoded losslessly, see http.ts parseJsonLossless). */
export type Counter = number | bigint;

export interface PktStats {
  readonly rx_packets: Counter;
  readonly rx_bytes: Counter;
}

export interface ApiStats {
  readonly drop_cidr_count: Counter;
  readonly ignore_cidr_count: Counter;
  readonly xdp: Readonly<Record<string, PktStats>>;
}

export interface ApiTagStats {
  readonly tags: Readonly<Record<string, PktStats>>;
}

export interface ApiSetSummary {
  readonly name: string;
  readonly entry_count: number;
  readonly file_size: number;
}

export interface ApiSet {
  readonly name: string;
  readonly entries: readonly string[];
}

/** Pretty JSON as serde_json::to_string_pretty prints it (2-space indent). */
export function prettyJson(value: unknown): string {
  let big = false;
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    big = true;
    return `${BIGINT_MARK}${v}`;
  }, 2);
  // BigInts (u64 counters beyond 2^53) printed as their exact digits
  return big ? text.replace(BIGINT_MARK_RE, '$1') : text;
}
const BIGINT_MARK = '\u0000bigint:';
const BIGINT_MARK_RE = /"\\u0000bigint:(-?\d+)"/g;

/** c - p for two counters, exact even beyond 2^53, as a number. */
function counterDelta(c: Counter, p: Counter): number {
  return typeof c === 'bigint' || typeof p === 'bigint' ? Number(BigInt(c) - BigInt(p)) : c - p;
}

/** Entry fields in the Entry struct's order (creation, cidr, tag, expiration). */
export function entryJson(e: ApiEntry): ApiEntry {
  return { creation: e.creation, cidr: e.cidr, tag: e.tag, expiration: e.expiration };
}

export function clientJson(c: ApiClient): ApiClient {
  return { name: c.name, token: c.token, group: c.group };
}

/**
 * Expiration cell: `never` (0), `expired` (not in the future), otherwise
 * the remaining time as `{d}d {h}h{m}m{s}s` / `{h}h{m}m{s}s` / `{m}m{s}s` / `{s}s`.
 */
export function formatExpiration(expiration: number, nowSeconds: number): string {
  if (expiration === 0) return 'never';
  if (expiration <= nowSeconds) return 'expired';
  let rest = expiration - nowSeconds;
  const d = Math.floor(rest / 86400);
  rest -= d * 86400;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  if (d > 0) return `${d}d ${h}h${m}m${s}s`;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Tag cell: `-` for null (create echo without tag), the string otherwise ("" stays empty). */
export function formatTag(tag: string | null): string {
  return tag === null ? '-' : tag;
}

export const ENTRY_HEADER = ['Policy', 'CIDR', 'Tag', 'Expiration'] as const;

export function entriesTable(policy: PolicyName, entries: readonly ApiEntry[], nowSeconds: number): string {
  return renderTable(
    ENTRY_HEADER,
    entries.map((e) => [policy, e.cidr, formatTag(e.tag), formatExpiration(e.expiration, nowSeconds)]),
  );
}

/** `clientro` → `client_ro` etc. (JSON keeps the API spelling). */
export function groupDisplay(group: string): string {
  switch (group) {
    case 'clientro':
      return 'client_ro';
    case 'clientrw':
      return 'client_rw';
    default:
      return group;
  }
}

export const CLIENT_HEADER = ['Name', 'Group', 'Token'] as const;

export function clientsTable(clients: readonly ApiClient[]): string {
  return renderTable(
    CLIENT_HEADER,
    clients.map((c) => [c.name, groupDisplay(c.group), c.token]),
  );
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** `stats global` text: counts, then every XDP action sorted by name, then a blank line. */
export function globalStatsText(stats: ApiStats): string {
  const lines = [
    `Drop CIDR Count: ${stats.drop_cidr_count}`,
    `Ignore CIDR Count: ${stats.ignore_cidr_count}`,
    'XDP Stats:',
  ];
  for (const action of Object.keys(stats.xdp).sort(byCodeUnits)) {
    const s = stats.xdp[action] as PktStats;
    lines.push(`  Action: ${action}`, `    RX Packets: ${s.rx_packets}`, `    RX Bytes: ${s.rx_bytes}`);
  }
  return `${lines.join('\n')}\n\n`;
}

export const NO_TAG_STATS = 'No tag statistics available.';

/** `stats drop|ignore`: table sorted by tag, or the "no statistics" line. */
export function tagStatsText(policy: PolicyName, stats: ApiTagStats): string {
  const tags = Object.keys(stats.tags).sort(byCodeUnits);
  if (tags.length === 0) return NO_TAG_STATS;
  return renderTable(
    ['Tag', 'Policy', 'RX Packets', 'RX Bytes'],
    tags.map((t) => {
      const s = stats.tags[t] as PktStats;
      return [t, policy, String(s.rx_packets), String(s.rx_bytes)];
    }),
  );
}

/** Rate with Couic's `{x:.1}g|m|k<unit>` / `{x:.1} <unit>` format. */
export function formatRate(x: number, unit: string): string {
  if (x >= 1e9) return `${(x / 1e9).toFixed(1)}g${unit}`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}m${unit}`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k${unit}`;
  return `${x.toFixed(1)} ${unit}`;
}

export const CLEAR_SCREEN = '\x1b[2J\x1b[1;1H';
const HIGHLIGHT_ON = '\x1b[47;30m';
const HIGHLIGHT_OFF = '\x1b[0m';

/** Rates of one live frame, keyed `<action>` → formatted packets/bytes. */
export type LiveRates = Record<string, { readonly packets: string; readonly bytes: string }>;

/** Rates between two samples `elapsedSeconds` apart (counters going back count as 0). */
export function liveRates(prev: ApiStats, cur: ApiStats, elapsedSeconds: number): LiveRates {
  const out: LiveRates = {};
  const dt = elapsedSeconds > 0 ? elapsedSeconds : 1;
  for (const action of Object.keys(cur.xdp)) {
    const c = cur.xdp[action] as PktStats;
    const p = prev.xdp[action] ?? c;
    out[action] = {
      packets: formatRate(Math.max(0, counterDelta(c.rx_packets, p.rx_packets)) / dt, 'pps'),
      bytes: formatRate(Math.max(0, counterDelta(c.rx_bytes, p.rx_bytes)) / dt, 'bps'),
    };
  }
  return out;
}

/**
 * One `stats global --live` frame: clear screen, `Every {elapsed:.1}s:
 * stats`, the counts, and the per-action rates, a value being highlighted
 * when it differs from the previous frame's.
 */
export function liveFrame(elapsedSeconds: number, stats: ApiStats, rates: LiveRates, previous: LiveRates | undefined): string {
  const mark = (v: string, old: string | undefined): string =>
    old !== undefined && old !== v ? `${HIGHLIGHT_ON}${v}${HIGHLIGHT_OFF}` : v;
  const lines = [
    `Every ${elapsedSeconds.toFixed(1)}s: stats`,
    `Drop CIDR Count: ${stats.drop_cidr_count}`,
    `Ignore CIDR Count: ${stats.ignore_cidr_count}`,
    'XDP Stats:',
  ];
  for (const action of Object.keys(rates).sort(byCodeUnits)) {
    const r = rates[action] as LiveRates[string];
    const old = previous?.[action];
    lines.push(`  Action: ${action}`, `    RX Packets: ${mark(r.packets, old?.packets)}`, `    RX Bytes: ${mark(r.bytes, old?.bytes)}`);
  }
  return `${CLEAR_SCREEN}${lines.join('\n')}\n`;
}

/** `sets list`: one line per set, or the "no sets" line. */
export function setsListText(policy: PolicyName, sets: readonly ApiSetSummary[]): string {
  if (sets.length === 0) return `No sets found for policy '${policy}'`;
  return sets.map((s) => `${s.name}: ${s.entry_count} entries (${s.file_size} bytes)`).join('\n');
}

/** `sets inspect`: header lines, one tab-indented entry per line, then a blank line. */
export function setInspectText(set: ApiSet): string {
  const lines = [`Set: ${set.name}`, `Entry count: ${set.entries.length}`, 'Entries:', ...set.entries.map((e) => `\t${e}`)];
  return `${lines.join('\n')}\n\n`;
}

export const RELOAD_NOTE = "Note: Run 'couicctl sets reload' to apply changes";
