/**
 * couicctl's command-line parser (yargs) and entry function.
 *
 * Startup is kept light: only the command group named on the command line
 * is imported (the others are registered as one-line stubs for --help),
 * yargs is loaded once we know parsing is needed, and heavy dependencies
 * (ws for `stats global --live`, TOML for non-trivial files) are imported
 * by the code that uses them.
 */
import type { Argv } from 'yargs';

export const VERSION = '1.0.2';

export const GROUPS = {
  drop: 'Manage drop (block) entries',
  ignore: 'Manage ignore (allow-list) entries',
  sets: 'Manage static sets (files applied on reload)',
  stats: 'Show statistics',
  clients: 'Manage API clients',
  fleet: 'Show the fleet (ban sharing over NATS JetStream)',
  peering: 'Show Couic\'s peering and reporting',
} as const;
export type GroupName = keyof typeof GROUPS;

/** The command group named on the command line (first positional not taken by -c). */
export function detectGroup(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i] as string;
    if (a === '--') return argv[i + 1];
    if (a === '-c' || a === '--config') {
      i += 1;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

async function registerGroup(y: Argv, name: GroupName): Promise<Argv> {
  switch (name) {
    case 'drop':
    case 'ignore':
      return (await import('./commands/entries.js')).register(y, name);
    case 'sets':
      return (await import('./commands/sets.js')).register(y);
    case 'stats':
      return (await import('./commands/stats.js')).register(y);
    case 'clients':
      return (await import('./commands/clients.js')).register(y);
    case 'fleet':
      return (await import('./commands/fleet.js')).register(y);
    case 'peering':
      return (await import('./commands/peering.js')).register(y);
  }
}

/** Builds the full parser (all groups loaded when `all` is true, e.g. for Markdown help). */
export async function buildParser(argv: readonly string[], all = false): Promise<Argv> {
  const { default: yargs } = await import('yargs');
  let y: Argv = yargs([...argv])
    .scriptName('couicctl')
    .usage('$0 [-c FILE] <command>\n\nCommand-line client of the couic firewall daemon (Couic v1 API).')
    .parserConfiguration({
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'dot-notation': false,
      // true, or a variadic positional ([entries..]) keeps only its last value;
      // repeated single-value flags are refused by repeatedFlag() instead.
      'duplicate-arguments-array': true,
      'camel-case-expansion': false,
      'strip-aliased': true,
      'boolean-negation': false,
    })
    .option('config', { alias: 'c', type: 'string', describe: 'Configuration file [default: /etc/couic/couicctl.toml]' })
    .option('markdown-help', { type: 'boolean', hidden: true })
    .strict()
    .fail(false)
    .exitProcess(false)
    .help()
    .alias('help', 'h')
    .version(VERSION)
    .alias('version', 'V')
    .wrap(null);
  const wanted = detectGroup(argv);
  for (const name of Object.keys(GROUPS) as GroupName[]) {
    if (all || name === wanted) y = await registerGroup(y, name);
    else y = y.command(name, GROUPS[name]);
  }
  // `false` hides the default command from --help (the typings only allow a string).
  return y.command('$0', false as unknown as string, {}, async (argv) => {
    const args = argv as { config?: string };
    // Couic builds the config and the client before looking at the
    // subcommand, so a bare `couicctl` fails on a bad config too.
    const { buildClient, reportError } = await import('./runtime.js');
    try {
      await buildClient(args);
    } catch (err) {
      reportError(err);
      return;
    }
    process.stdout.write(`${await y.getHelp()}\n`);
  });
}

/** Every couicctl flag takes one value (clap refuses a repeat): spellings → display. */
const SINGLE_FLAGS: ReadonlyMap<string, string> = new Map([
  ...(['-t', '--tag', '--tags'] as const).map((f) => [f, '--tag <TAG>'] as const),
  ...(['-e', '--expiration'] as const).map((f) => [f, '--expiration <EXPIRATION>'] as const),
  ...(['-n', '--name'] as const).map((f) => [f, '--name <NAME>'] as const),
  ...(['-g', '--group'] as const).map((f) => [f, '--group <GROUP>'] as const),
  ...(['-c', '--config'] as const).map((f) => [f, '--config <CONFIG>'] as const),
  ...(['-q', '--quiet'] as const).map((f) => [f, '--quiet'] as const),
  ...(['-l', '--live'] as const).map((f) => [f, '--live'] as const),
  ['--json', '--json'],
  ['--from-asn', '--from-asn <ASN>'],
  ['--from-file', '--from-file <PATH>'],
]);

/** The display name of the first single-value flag given twice, if any. */
export function repeatedFlag(argv: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const arg of argv) {
    if (arg === '--') break;
    const display = SINGLE_FLAGS.get(arg.split('=', 1)[0] ?? arg);
    if (display === undefined) continue;
    if (seen.has(display)) return display;
    seen.add(display);
  }
  return undefined;
}

export async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--markdown-help')) {
    const { markdownHelp } = await import('./markdown.js');
    process.stdout.write(markdownHelp());
    return;
  }
  if (process.env['COUICCTL_NO_FAST_PATH'] === undefined) {
    const { fastParse, runFast } = await import('./fast.js');
    const fast = fastParse(argv);
    if (fast !== undefined) {
      await runFast(fast);
      return;
    }
  }
  const repeated = repeatedFlag(argv);
  if (repeated !== undefined) {
    const { usageText } = await import('./errors.js');
    process.stderr.write(usageText(`the argument '${repeated}' cannot be used multiple times`));
    process.exitCode = 2;
    return;
  }
  const y = await buildParser(argv);
  try {
    await y.parseAsync();
  } catch (err) {
    const { usageText } = await import('./errors.js');
    process.stderr.write(usageText(err instanceof Error ? err.message : String(err)));
    process.exitCode = 2;
  }
}

