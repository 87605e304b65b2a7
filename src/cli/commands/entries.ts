/**
 * `couicctl drop|ignore add|delete|inspect|list` (spec §9.4).
 */
import type { Argv } from 'yargs';
import type { Cidr, Policy } from '../../domain/types.js';
import { cidrArg, tagArg } from '../args.js';
import { expirationFromArg } from '../duration.js';
import { CommandError, usageError } from '../errors.js';
import { entriesTable, entryJson, prettyJson, type ApiEntry } from '../format.js';
import { command, type Ctx } from '../runtime.js';
import { parseTagPatterns, tagMatchesAny } from '../tags.js';

export interface AddArgs {
  readonly cidr: Cidr;
  readonly tag?: string;
  readonly expiration: string;
  readonly json?: boolean;
}

export interface CidrArgs {
  readonly cidr: Cidr;
  readonly json?: boolean;
}

export interface ListArgs {
  readonly quiet?: boolean;
  readonly tags?: string;
  readonly json?: boolean;
}

const entryPath = (policy: Policy, cidr: Cidr): string => `/v1/${policy}/${cidr.text}`;

export async function addEntry(policy: Policy, args: AddArgs, ctx: Ctx): Promise<void> {
  let expiration: number;
  try {
    expiration = expirationFromArg(args.expiration, ctx.now());
  } catch {
    throw new CommandError('generic', 'Invalid expiration format');
  }
  const tag = args.tag !== undefined ? args.tag : policy === 'drop' ? 'couicctl' : null;
  const entry = await ctx.client.call<ApiEntry>('POST', `/v1/${policy}`, { cidr: args.cidr.text, tag, expiration });
  ctx.println(args.json === true ? prettyJson(entryJson(entry)) : entriesTable(policy, [entry], ctx.now()));
}

export async function deleteEntry(policy: Policy, args: CidrArgs, ctx: Ctx): Promise<void> {
  await ctx.client.call<void>('DELETE', entryPath(policy, args.cidr));
}

export async function inspectEntry(policy: Policy, args: CidrArgs, ctx: Ctx): Promise<void> {
  const entry = await ctx.client.call<ApiEntry>('GET', entryPath(policy, args.cidr));
  ctx.println(args.json === true ? prettyJson(entryJson(entry)) : entriesTable(policy, [entry], ctx.now()));
}

export async function listEntries(policy: Policy, args: ListArgs, ctx: Ctx): Promise<void> {
  let entries = await ctx.client.call<ApiEntry[]>('GET', `/v1/${policy}`);
  if (args.tags !== undefined) {
    const patterns = parseTagPatterns(String(args.tags));
    entries = entries.filter((e) => tagMatchesAny(e.tag, patterns));
  }
  if (args.json === true) ctx.println(prettyJson(entries.map(entryJson)));
  else if (args.quiet === true) ctx.print(entries.map((e) => `${e.cidr}\n`).join(''));
  else ctx.println(entriesTable(policy, entries, ctx.now()));
}

/** The `drop` or `ignore` command group. */
export function register(y: Argv, policy: Policy): Argv {
  const what = policy === 'drop' ? 'drop (block)' : 'ignore (allow-list)';
  return y.command(policy, `Manage ${what} entries`, (g: Argv) =>
    g
      .command(
        'add <cidr>',
        `Add a CIDR to the ${policy} list`,
        (a: Argv) =>
          a
            .positional('cidr', { type: 'string', describe: 'CIDR to add (e.g. 192.0.2.0/24)', coerce: cidrArg })
            .option('tag', {
              alias: 't',
              type: 'string',
              requiresArg: true,
              describe: policy === 'drop' ? 'Tag (default: couicctl; "" = untagged)' : 'Tag ("" = untagged)',
              coerce: tagArg,
            })
            .option('expiration', {
              alias: 'e',
              type: 'string',
              default: '0',
              describe: 'Expiration as a duration (30s, 1m, 2h, 1day, 1h 30m, 1w); 0 = never',
            })
            .option('json', { type: 'boolean', describe: 'Print the entry as JSON' }),
        command<AddArgs>((args, ctx) => addEntry(policy, args, ctx)),
      )
      .command(
        'delete <cidr>',
        `Remove a CIDR from the ${policy} list`,
        (a: Argv) => a.positional('cidr', { type: 'string', describe: 'CIDR to remove', coerce: cidrArg }),
        command<CidrArgs>((args, ctx) => deleteEntry(policy, args, ctx)),
      )
      .command(
        'inspect <cidr>',
        `Show one ${policy} entry`,
        (a: Argv) =>
          a
            .positional('cidr', { type: 'string', describe: 'CIDR to show', coerce: cidrArg })
            .option('json', { type: 'boolean', describe: 'Print the entry as JSON' }),
        command<CidrArgs>((args, ctx) => inspectEntry(policy, args, ctx)),
      )
      .command(
        'list',
        `List the ${policy} entries`,
        (a: Argv) =>
          a
            .option('quiet', { alias: 'q', type: 'boolean', describe: 'Print only the CIDRs, one per line' })
            .option('tags', {
              alias: 't',
              type: 'string',
              describe: 'Comma-separated tag patterns: *, *x*, *x, x*, exact, "" (untagged)',
            })
            .option('json', { type: 'boolean', describe: 'Print the entries as JSON' })
            .check((argv) => {
              if (argv['json'] === true && argv['quiet'] === true) {
                throw usageError("the argument '--json' cannot be used with '--quiet'");
              }
              return true;
            }),
        command<ListArgs>((args, ctx) => listEntries(policy, args, ctx)),
      )
      .demandCommand(1, 'a subcommand is required: add, delete, inspect or list'),
  );
}
