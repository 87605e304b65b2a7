/**
 * couic(8), from the daemon's option table (src/daemon/usage.ts) and the
 * couic.toml key table (src/daemon/config-keys.ts).
 */
import { CONFIG_KEYS, defaultText, typeText, type KeyDef, type KeyOrigin } from '../daemon/config-keys.js';
import { optionDocs } from '../daemon/usage.js';
import { esc, head, inline, para, section, subsection, tagged } from './roff.js';

const ORIGIN: Record<KeyOrigin, string> = {
  couic: 'Couic key.',
  'couic-ignored': 'Couic key, accepted and ignored by couic.',
  ours: 'couic only (Couic ignores it).',
};

function keyEntry(d: KeyDef, leaf: string): string[] {
  const dflt = defaultText(d);
  const body = `${inline(d.doc)} ${esc(`Type: ${typeText(d)}.${dflt === '' ? '' : ` Default: ${dflt}.`}`)} ${esc(ORIGIN[d.origin])}`;
  return tagged(`\\fB${esc(leaf)}\\fR`, body);
}

export function couicPage(version: string): string {
  const out: string[] = [
    ...head({ name: 'couic', section: 8, version, manual: 'System Administration', summary: 'XDP/eBPF firewall daemon, a drop-in for Couic 1.0.2' }),
    section('synopsis'),
    '.B couic',
    '[\\fB\\-c\\fR \\fIFILE\\fR]',
    section('description'),
    esc('couic drops, at the network driver (XDP), every packet whose source is in its drop list and not in its ignore list. The lists are changed through the Couic v1 API on a Unix socket (couicctl(1), fail2ban\'s actions, any HTTP client); every acknowledged change is in the kernel and in the journal of working_dir, and survives a restart. Static sets (files under working_dir/sets) are applied on reload (POST /v1/sets/reload, or SIGHUP).'),
    ...para(esc('Started by couic-launcher (the systemd unit and the image do), it runs as user and group with no capability: only the launcher and couic-helper hold CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (the systemd unit grants exactly those to the couic user); started by the launcher as root, it drops to user and group after setting up working_dir. Run directly, it needs those capabilities itself and never changes its uid or gid.')),
    section('options'),
  ];
  for (const o of optionDocs()) {
    const tag = `\\fB\\-${esc(o.short)}\\fR, \\fB\\-\\-${esc(o.long)}\\fR${o.arg === undefined ? '' : ` \\fI${esc(o.arg)}\\fR`}`;
    out.push(...tagged(tag, `${esc(o.doc)}.`));
  }
  out.push(
    section('configuration'),
    esc('The configuration file is TOML: Couic 1.0.2\'s couic.toml is read unchanged, and couic adds the sections [dataplane], [journal], [queue] and [fleet]. Unknown keys are ignored, except in [peering], [[peering.peers]] and [reporting] (where a typo would silently turn peering or reporting off); a key with the wrong type or value stops the daemon with a message naming it.'),
    subsection('Top level'),
  );
  for (const d of CONFIG_KEYS) {
    const dot = d.key.indexOf('.');
    if (dot < 0 && (d.kind === 'table' || d.kind === 'other')) {
      // A section: its heading, then its keys (which follow it in the table).
      out.push(subsection(`[${d.key}]`), `${inline(d.doc)} ${esc(ORIGIN[d.origin])}`);
      if (d.kind === 'other') out.push(esc(`Type: ${typeText(d)}. Default: ${defaultText(d)}.`));
      continue;
    }
    out.push(...keyEntry(d, dot < 0 ? d.key : d.key.slice(dot + 1)));
  }
  out.push(
    section('environment'),
    ...tagged('\\fBCOUIC_LOG_LEVEL\\fR', esc('Overrides logging.level.')),
    section('signals'),
    ...tagged('\\fBSIGTERM\\fR, \\fBSIGINT\\fR', esc('Stop: the API closes, queued changes are applied and journaled, XDP is detached; exit 0.')),
    ...tagged('\\fBSIGHUP\\fR', esc('Reload the static sets (as POST /v1/sets/reload).')),
    section('exit status'),
    ...tagged('0', 'Stopped by a signal, cleanly.'),
    ...tagged('1', esc('Startup failed (configuration, capabilities, working directory, helper), with a message on stderr.')),
    ...tagged('2', 'Usage error.'),
    section('files'),
    ...tagged('\\fI/etc/couic/couic.toml\\fR', esc('The configuration of the packaged unit (couic -c /etc/couic/couic.toml).')),
    ...tagged('\\fI/var/lib/couic\\fR', esc('working_dir: journal/, rbac/clients/ (the default client couicctl.toml is created at the first start), sets/drop/, sets/ignore/.')),
    ...tagged('\\fI/run/couic/couic.sock\\fR', 'The API socket.'),
    ...tagged('\\fI/etc/fail2ban/action.d/couic.conf\\fR', esc('fail2ban\'s action banning through couic (couic-ban, about half a millisecond per ban); couic.py for high volumes.')),
    section('see also'),
    '\\fBcouicctl\\fR(1), \\fBfail2ban\\fR(1), \\fBsystemd.exec\\fR(5)',
  );
  return `${out.join('\n')}\n`;
}
