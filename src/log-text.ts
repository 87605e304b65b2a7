/**
 * Readable log lines from pino's JSON lines, in the shape of Rust's
 * tracing-subscriber `fmt` output (what Couic prints):
 *
 *   2026-12-08T00:30:00.123Z  INFO couic::entries: entry added cidr=192.0.2.0/24 tag=fail2ban-sshd
 *
 * time (UTC, milliseconds), the level right-aligned on 5 columns, the target
 * `couic::<module>`, the message, then every other field as key=value
 * (strings quoted when they hold a space, a quote or `=`; objects as JSON;
 * an error as its message). The journal style drops the time (journald
 * stamps each line) and starts with the syslog priority `<N>`, which
 * journald reads (SyslogLevelPrefix=yes, its default).
 */

const LEVELS: Readonly<Record<number, { readonly name: string; readonly priority: number }>> = {
  10: { name: 'TRACE', priority: 7 },
  20: { name: 'DEBUG', priority: 7 },
  30: { name: 'INFO', priority: 6 },
  40: { name: 'WARN', priority: 4 },
  50: { name: 'ERROR', priority: 3 },
  60: { name: 'FATAL', priority: 2 },
};

/** Fields the line shows in its head, or not at all. */
const HEAD = new Set(['level', 'time', 'pid', 'hostname', 'name', 'module', 'msg']);

export type TextStyle = 'text' | 'journal';

const PLAIN = /^[^\s"=\\]+$/;

function value(v: unknown): string {
  if (typeof v === 'string') return PLAIN.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string' && typeof (v as { stack?: unknown }).stack === 'string') {
    return JSON.stringify((v as { message: string }).message);
  }
  return JSON.stringify(v);
}

/** One pino JSON line (with or without its newline) as a readable line ending in a newline. */
export function textLine(json: string, style: TextStyle): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`; // not ours to reshape
  }
  const level = LEVELS[o['level'] as number] ?? { name: String(o['level']), priority: 6 };
  const target = typeof o['module'] === 'string' ? `couic::${o['module']}` : 'couic';
  let out = style === 'journal' ? `<${level.priority}>${target}: ` : `${String(o['time'])} ${level.name.padStart(5)} ${target}: `;
  out += typeof o['msg'] === 'string' ? o['msg'] : '';
  for (const [k, v] of Object.entries(o)) {
    if (HEAD.has(k) || v === undefined) continue;
    out += ` ${k}=${value(v)}`;
  }
  return `${out}\n`;
}
