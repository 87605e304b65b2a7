/**
 * A fast path for the hot commands (`drop|ignore add|delete|inspect|list`,
 * what fail2ban runs per ban): when the command line is plainly
 * well-formed it runs without loading yargs (~70 ms of module loading on
 * a 2-core machine). Anything unusual — help, an unknown or repeated flag,
 * a missing or extra argument, a value that does not validate — returns
 * undefined and the full yargs parser handles the command line, so usage
 * errors and their messages have a single source.
 */
import type { Cidr, Policy } from '../domain/types.js';
import { cidrArg, tagArg } from './args.js';

export type FastCommand =
  | { readonly sub: 'add'; readonly policy: Policy; readonly config: string | undefined; readonly cidr: Cidr; readonly tag?: string; readonly expiration: string; readonly json: boolean }
  | { readonly sub: 'delete' | 'inspect'; readonly policy: Policy; readonly config: string | undefined; readonly cidr: Cidr; readonly json: boolean }
  | { readonly sub: 'list'; readonly policy: Policy; readonly config: string | undefined; readonly quiet: boolean; readonly tags?: string; readonly json: boolean };

/** Flags each subcommand takes: name → takes a value. */
const FLAGS: Readonly<Record<string, Readonly<Record<string, boolean>>>> = {
  add: { '-t': true, '--tag': true, '-e': true, '--expiration': true, '--json': false },
  delete: {},
  inspect: { '--json': false },
  list: { '-q': false, '--quiet': false, '-t': true, '--tags': true, '--json': false },
};

const CANONICAL: Readonly<Record<string, string>> = {
  '-c': 'config', '--config': 'config',
  '-t': 'tag', '--tag': 'tag', '--tags': 'tag',
  '-e': 'expiration', '--expiration': 'expiration',
  '-q': 'quiet', '--quiet': 'quiet',
  '--json': 'json',
};

export function fastParse(argv: readonly string[]): FastCommand | undefined {
  const positionals: string[] = [];
  const values = new Map<string, string | true>();
  const allowed = (flag: string): boolean | undefined => {
    if (flag === '-c' || flag === '--config') return true;
    const sub = positionals[1];
    return sub === undefined ? undefined : FLAGS[sub]?.[flag];
  };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i] as string;
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    const takesValue = allowed(a);
    if (takesValue === undefined) return undefined; // unknown flag, --help, --x=y, -qt, --, ...
    const key = CANONICAL[a] as string;
    if (values.has(key)) return undefined;
    if (takesValue) {
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith('-') && v !== '')) return undefined;
      values.set(key, v);
      i += 1;
    } else {
      values.set(key, true);
    }
  }
  const [policy, sub, target, ...extra] = positionals;
  if ((policy !== 'drop' && policy !== 'ignore') || sub === undefined || FLAGS[sub] === undefined || extra.length > 0) return undefined;
  const config = values.get('config') as string | undefined;
  const json = values.get('json') === true;
  try {
    if (sub === 'list') {
      if (target !== undefined) return undefined;
      const quiet = values.get('quiet') === true;
      if (quiet && json) return undefined;
      const tags = values.get('tag') as string | undefined;
      return tags === undefined ? { sub, policy, config, quiet, json } : { sub, policy, config, quiet, json, tags };
    }
    if (target === undefined) return undefined;
    const cidr = cidrArg(target);
    if (sub === 'add') {
      const expiration = (values.get('expiration') as string | undefined) ?? '0';
      const tag = values.get('tag') as string | undefined;
      return tag === undefined ? { sub, policy, config, cidr, expiration, json } : { sub, policy, config, cidr, expiration, json, tag: tagArg(tag) };
    }
    if (sub === 'delete' || sub === 'inspect') return { sub, policy, config, cidr, json };
  } catch {
    return undefined; // let yargs report it
  }
  return undefined;
}

/** Runs a fast-parsed command with the same handlers as the yargs commands. */
export async function runFast(cmd: FastCommand): Promise<void> {
  const [{ command }, entries] = await Promise.all([import('./runtime.js'), import('./commands/entries.js')]);
  const bodies = { add: entries.addEntry, delete: entries.deleteEntry, inspect: entries.inspectEntry, list: entries.listEntries } as const;
  const body = bodies[cmd.sub] as (policy: Policy, args: FastCommand, ctx: import('./runtime.js').Ctx) => Promise<void>;
  await command<FastCommand>((args, ctx) => body(cmd.policy, args, ctx))(cmd);
}
