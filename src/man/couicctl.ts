/**
 * couicctl(1), from the tables of `couicctl --markdown-help`
 * (src/cli/markdown.ts): every command, its usage and options.
 */
import { GLOBAL_OPTIONS, SECTIONS } from '../cli/markdown.js';
import { GROUPS, type GroupName } from '../cli/parser.js';
import { esc, head, inline, para, section, subsection, tagged } from './roff.js';

export function couicctlPage(version: string): string {
  const out: string[] = [
    ...head({ name: 'couicctl', section: 1, version, manual: 'User Commands', summary: 'command-line client of the couic firewall daemon (Couic v1 API)' }),
    section('synopsis'),
    '.B couicctl',
    '[\\fB\\-c\\fR \\fIFILE\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR...]',
    section('description'),
    esc('couicctl manages the drop and ignore entries, static sets, API clients and statistics of a running couic(8) daemon (or of Couic 1.0.2: the commands, output, messages and exit codes are Couic\'s). It talks to the daemon\'s Unix socket (local mode) or to a reverse proxy in front of it (remote mode), as its configuration file says.'),
    section('options'),
    ...GLOBAL_OPTIONS.flatMap(([flag, text]) => tagged(inline(flag), inline(text))),
    ...tagged('\\fB\\-h\\fR, \\fB\\-\\-help\\fR', 'Print help (of the command it follows) and exit.'),
    ...tagged('\\fB\\-V\\fR, \\fB\\-\\-version\\fR', 'Print the version and exit.'),
    section('commands'),
  ];
  for (const [group, cmds] of SECTIONS) {
    out.push(subsection(`couicctl ${group}`), inline(GROUPS[group as GroupName] ?? group) + '.');
    for (const c of cmds) {
      out.push(...tagged(`\\fB${esc(c.usage)}\\fR`, inline(c.about)));
      if (c.options !== undefined && c.options.length > 0) {
        out.push('.RS');
        for (const [flag, text] of c.options) out.push(...tagged(inline(flag), inline(text)));
        out.push('.RE');
      }
    }
  }
  out.push(
    section('configuration'),
    esc('/etc/couic/couicctl.toml (or the file given with -c), TOML:'),
    ...tagged('\\fBmode\\fR = "local" | "remote"', 'Required.'),
    ...tagged('\\fBsocket\\fR', esc('The daemon\'s socket (local mode), e.g. /run/couic/couic.sock.')),
    ...tagged('\\fBclient_file\\fR', esc('A client file (rbac/clients/NAME.toml of the daemon\'s working directory) holding the token; required in both modes.')),
    ...tagged('\\fBhost\\fR, \\fBport\\fR, \\fBtls\\fR, \\fBtoken\\fR', esc('Remote mode: the reverse proxy\'s address, https or not, and the bearer token.')),
    section('exit status'),
    ...tagged('0', 'Success.'),
    ...tagged('1', esc('The configuration or the client could not be set up ("Error: ..."), or the command failed ("Error executing command: ...").')),
    ...tagged('2', esc('Usage error (unknown command or flag, invalid CIDR, tag, name or group).')),
    section('examples'),
    ...para(esc('The fail2ban action of Couic\'s documentation:')),
    '.nf',
    esc('couicctl drop add 192.0.2.7/32 -t fail2ban-sshd'),
    esc('couicctl drop delete 192.0.2.7/32'),
    esc('couicctl drop list -t \'fail2ban-*\''),
    '.fi',
    section('files'),
    ...tagged('\\fI/etc/couic/couicctl.toml\\fR', 'The default configuration file.'),
    section('see also'),
    '\\fBcouic\\fR(8), \\fBfail2ban\\-client\\fR(1)',
  );
  return `${out.join('\n')}\n`;
}
