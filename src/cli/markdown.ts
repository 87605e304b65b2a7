/**
 * `couicctl --markdown-help` (hidden): the command reference as Markdown,
 * printed before any config is read. couicctl(1) is generated from the same
 * tables (src/man/couicctl.ts).
 */

export interface Cmd {
  readonly usage: string;
  readonly about: string;
  readonly options?: readonly (readonly [string, string])[];
}

const JSON_OPT = ['`--json`', 'Print JSON (2-space indent)'] as const;

function entryCommands(policy: 'drop' | 'ignore'): Cmd[] {
  return [
    {
      usage: `couicctl ${policy} add <CIDR> [-t TAG] [-e DURATION] [--json]`,
      about: `Add a CIDR to the ${policy} list; prints the entry.`,
      options: [
        ['`-t, --tag <TAG>`', policy === 'drop' ? 'Tag [default: couicctl]; `""` = untagged' : 'Tag; `""` = untagged'],
        ['`-e, --expiration <DURATION>`', '`0` = never (default), or `30s`, `1m`, `2h`, `1day`, `1h 30m`, `1w`, …'],
        JSON_OPT,
      ],
    },
    { usage: `couicctl ${policy} delete <CIDR>`, about: `Remove a CIDR from the ${policy} list (silent).` },
    { usage: `couicctl ${policy} inspect <CIDR> [--json]`, about: 'Show one entry.', options: [JSON_OPT] },
    {
      usage: `couicctl ${policy} list [-q] [-t PATTERNS] [--json]`,
      about: 'List entries.',
      options: [
        ['`-q, --quiet`', 'Only the CIDRs, one per line (conflicts with `--json`)'],
        ['`-t, --tags <PATTERNS>`', 'Comma-separated tag patterns: `*`, `*x*`, `*x`, `x*`, exact, `""`'],
        JSON_OPT,
      ],
    },
  ];
}

export const SECTIONS: readonly (readonly [string, readonly Cmd[]])[] = [
  ['drop', entryCommands('drop')],
  ['ignore', entryCommands('ignore')],
  [
    'sets',
    [
      { usage: 'couicctl sets list <POLICY>', about: 'List the set files of `drop` or `ignore`.' },
      { usage: 'couicctl sets inspect <POLICY> <NAME>', about: 'Show the entries of a set.' },
      {
        usage: 'couicctl sets create <POLICY> <NAME> (<ENTRIES>... | --from-asn <ASN> | --from-file <PATH>)',
        about: 'Create a set file (applied by `sets reload`).',
        options: [
          ['`--from-asn <ASN>`', "The ASN's announced prefixes (RIPEstat)"],
          ['`--from-file <PATH>`', 'One CIDR per line, `#` comments'],
        ],
      },
      { usage: 'couicctl sets update <POLICY> <NAME> [ENTRIES]...', about: 'Replace the entries of a set.' },
      { usage: 'couicctl sets delete <POLICY> <NAME>', about: 'Delete a set file.' },
      { usage: 'couicctl sets reload', about: 'Apply all set files.' },
    ],
  ],
  [
    'stats',
    [
      {
        usage: 'couicctl stats global [-l] [--json]',
        about: 'Entry counts and XDP action counters.',
        options: [['`-l, --live`', 'Refresh every second with rates (conflicts with `--json`)'], JSON_OPT],
      },
      { usage: 'couicctl stats drop [--json]', about: 'Per-tag counters of the drop policy.', options: [JSON_OPT] },
      { usage: 'couicctl stats ignore [--json]', about: 'Per-tag counters of the ignore policy.', options: [JSON_OPT] },
    ],
  ],
  [
    'clients',
    [
      {
        usage: 'couicctl clients add -n <NAME> -g <GROUP> [--json]',
        about: 'Create a client; prints its token.',
        options: [
          ['`-n, --name <NAME>`', '1-48 alphanumerics, `-` or `_`'],
          ['`-g, --group <GROUP>`', '`admin`, `clientro`, `clientrw`, `monitoring` or `peering`'],
          JSON_OPT,
        ],
      },
      {
        usage: 'couicctl clients list [-q] [--json]',
        about: 'List clients with their tokens.',
        options: [['`-q, --quiet`', 'Only the names, one per line (conflicts with `--json`)'], JSON_OPT],
      },
      { usage: 'couicctl clients inspect <NAME> [--json]', about: 'Show one client.', options: [JSON_OPT] },
      { usage: 'couicctl clients delete <NAME>', about: 'Delete a client.' },
    ],
  ],
  [
    'fleet',
    [
      {
        usage: 'couicctl fleet status [--json]',
        about: 'Ban sharing over NATS JetStream: connection, node, applied position, lag, outbox, the nodes seen.',
        options: [JSON_OPT],
      },
    ],
  ],
  [
    'peering',
    [
      {
        usage: 'couicctl peering status [--json]',
        about: 'Couic\'s peering and reporting: per peer the queued, sent, dropped and rejected changes, authentication failures, last success, last error and whether it needs a resync; the same for the webhook.',
        options: [JSON_OPT],
      },
    ],
  ],
];

/** The options every command takes. */
export const GLOBAL_OPTIONS: readonly (readonly [string, string])[] = [
  ['`-c`, `--config <FILE>`', 'Configuration file. Default: `/etc/couic/couicctl.toml`'],
];

export function markdownHelp(): string {
  const out: string[] = [
    '# Command-Line Help for `couicctl`',
    '',
    '**Usage:** `couicctl [-c FILE] <COMMAND>`',
    '',
    '###### **Options:**',
    '',
    ...GLOBAL_OPTIONS.map(([flag, text]) => `* ${flag} — ${text}`),
    '',
  ];
  for (const [group, cmds] of SECTIONS) {
    out.push(`## \`couicctl ${group}\``, '');
    for (const c of cmds) {
      out.push(`### \`${c.usage}\``, '', c.about, '');
      if (c.options !== undefined && c.options.length > 0) {
        out.push('###### **Options:**', '');
        for (const [flag, text] of c.options) out.push(`* ${flag} — ${text}`);
        out.push('');
      }
    }
  }
  return `${out.join('\n')}\n`;
}
