/**
 * `couicctl sets list|inspect|create|update|delete|reload` (spec §9.4).
 * The API only edits set files; `sets reload` applies them.
 */
import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { Policy } from '../../domain/types.js';
import { CIDR_SYNTAX_MESSAGE, tryParseCidrRaw } from '../../net/cidr.js';
import { policyArg, setEntriesArg } from '../args.js';
import { CommandError, usageError } from '../errors.js';
import { RELOAD_NOTE, setInspectText, setsListText, type ApiSet, type ApiSetSummary } from '../format.js';
import { setNameArg } from '../names.js';
import { command, type Ctx } from '../runtime.js';

interface PolicyArgs {
  readonly policy: Policy;
}

interface NameArgs extends PolicyArgs {
  readonly name: string;
}

interface CreateArgs extends NameArgs {
  readonly entries: string[];
  readonly 'from-asn'?: string;
  readonly 'from-file'?: string;
}

export const RIPE_URL = 'https://stat.ripe.net/data/announced-prefixes/data.json';
/** Couic waits 30 s; offline machines should fail fast, so we wait less. */
export const RIPE_TIMEOUT_MS = 10_000;
export const RIPE_USER_AGENT = 'couicctl/1.0.2 (+https://couic.net)';

const setPath = (policy: Policy, name: string): string => `/v1/sets/${policy}/${encodeURIComponent(name)}`;

/** `AS200373`/`as200373`/`200373` → `200373`. */
export function normalizeAsn(text: string): string {
  const digits = text.startsWith('AS') || text.startsWith('as') ? text.slice(2) : text;
  if (!/^[0-9]+$/.test(digits)) {
    throw new CommandError('generic', `Invalid ASN format: ASN must be numeric (e.g., '200373' or 'AS200373'), got: '${text}'`);
  }
  return digits;
}

/** Announced prefixes of an ASN from RIPEstat (CommandError('ripe') on any failure). */
export async function fetchAsnPrefixes(asn: string, baseUrl: string = process.env['COUICCTL_RIPE_URL'] ?? RIPE_URL): Promise<string[]> {
  let body: unknown;
  try {
    const res = await fetch(`${baseUrl}?resource=AS${asn}`, {
      headers: { 'user-agent': RIPE_USER_AGENT, accept: 'application/json' },
      signal: AbortSignal.timeout(RIPE_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`HTTP status ${res.status}`);
    body = await res.json();
  } catch (err) {
    const e = err as Error & { cause?: Error };
    const detail = e.cause?.message !== undefined ? `${e.message}: ${e.cause.message}` : e.message;
    throw new CommandError('ripe', `request to ${baseUrl} failed: ${detail}`);
  }
  const prefixes = (body as { data?: { prefixes?: unknown } } | null)?.data?.prefixes;
  if (!Array.isArray(prefixes)) throw new CommandError('ripe', 'unexpected response: missing data.prefixes');
  return prefixes.map((p) => String((p as { prefix?: unknown }).prefix));
}

/** `--from-file`: trimmed lines, blank/`#` skipped, every bad line reported. */
export function parseCidrFile(text: string): string[] {
  const ok: string[] = [];
  const bad: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (tryParseCidrRaw(line) === undefined) bad.push(`line ${i + 1}: ${line} (${CIDR_SYNTAX_MESSAGE})`);
    else ok.push(line);
  });
  if (bad.length > 0) throw new CommandError('generic', `Failed to parse ${bad.length} CIDR(s):\n${bad.join('\n')}`);
  if (ok.length === 0) throw new CommandError('generic', 'No valid CIDRs found in file');
  return ok;
}

async function createEntries(args: CreateArgs, ctx: Ctx): Promise<string[]> {
  const asn = args['from-asn'];
  const file = args['from-file'];
  if (asn !== undefined) {
    const n = normalizeAsn(asn);
    ctx.println(`Fetching prefixes for ASN: ${asn}`);
    const prefixes = await fetchAsnPrefixes(n);
    ctx.println(`Retrieved ${prefixes.length} prefixes from RIPE NCC RIPEstat`);
    return prefixes;
  }
  if (file !== undefined) {
    ctx.println(`Reading CIDRs from file: ${file}`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CommandError('generic', `Failed to read file ${file}: ${(err as Error).message}`);
    }
    const entries = parseCidrFile(text);
    ctx.println(`Loaded ${entries.length} CIDRs from file`);
    return entries;
  }
  return args.entries;
}

const policyPositional = { type: 'string', describe: 'Policy: drop or ignore', coerce: policyArg } as const;
const namePositional = { type: 'string', describe: 'Set name (1-48 alphanumerics, - or _)', coerce: setNameArg } as const;

export function register(y: Argv): Argv {
  return y.command('sets', 'Manage static sets (files applied on reload)', (g: Argv) =>
    g
      .command(
        'list <policy>',
        'List the set files of a policy',
        (a: Argv) => a.positional('policy', policyPositional),
        command<PolicyArgs>(async (args, ctx) => {
          const sets = await ctx.client.call<ApiSetSummary[]>('GET', `/v1/sets/${args.policy}`);
          ctx.println(setsListText(args.policy, sets));
        }),
      )
      .command(
        'inspect <policy> <name>',
        'Show the entries of a set',
        (a: Argv) => a.positional('policy', policyPositional).positional('name', namePositional),
        command<NameArgs>(async (args, ctx) => {
          const set = await ctx.client.call<ApiSet>('GET', setPath(args.policy, args.name));
          ctx.print(setInspectText(set));
        }),
      )
      .command(
        'create <policy> <name> [entries..]',
        'Create a set from CIDRs, a file or an ASN',
        (a: Argv) =>
          a
            .positional('policy', policyPositional)
            .positional('name', namePositional)
            .positional('entries', { type: 'string', array: true, describe: 'CIDRs', coerce: setEntriesArg })
            .option('from-asn', { type: 'string', describe: "Fetch the ASN's announced prefixes from RIPEstat" })
            .option('from-file', { type: 'string', describe: 'Read CIDRs from a file (one per line, # comments)' })
            .check((argv) => {
              const entries = (argv['entries'] as string[] | undefined) ?? [];
              const sources = [entries.length > 0 ? '[ENTRIES]...' : undefined, argv['from-asn'] !== undefined ? '--from-asn <ASN>' : undefined, argv['from-file'] !== undefined ? '--from-file <PATH>' : undefined].filter(
                (s): s is string => s !== undefined,
              );
              if (sources.length === 0) {
                throw usageError('the following required arguments were not provided:\n  <ENTRIES>...|--from-asn <ASN>|--from-file <PATH>');
              }
              if (sources.length > 1) throw usageError(`the argument '${sources[1]}' cannot be used with '${sources[0]}'`);
              return true;
            }),
        command<CreateArgs>(async (args, ctx) => {
          const entries = await createEntries(args, ctx);
          const set = await ctx.client.call<ApiSet>('POST', `/v1/sets/${args.policy}`, { name: args.name, entries });
          ctx.println(`Set '${set.name}' created with ${set.entries.length} entries`);
          ctx.println(RELOAD_NOTE);
        }),
      )
      .command(
        'update <policy> <name> [entries..]',
        'Replace the entries of a set (none = empty it)',
        (a: Argv) =>
          a
            .positional('policy', policyPositional)
            .positional('name', namePositional)
            .positional('entries', { type: 'string', array: true, describe: 'CIDRs', coerce: setEntriesArg }),
        command<CreateArgs>(async (args, ctx) => {
          const set = await ctx.client.call<ApiSet>('PUT', setPath(args.policy, args.name), { name: args.name, entries: args.entries ?? [] });
          ctx.println(`Set '${set.name}' updated with ${set.entries.length} entries`);
          ctx.println(RELOAD_NOTE);
        }),
      )
      .command(
        'delete <policy> <name>',
        'Delete a set file',
        (a: Argv) => a.positional('policy', policyPositional).positional('name', namePositional),
        command<NameArgs>(async (args, ctx) => {
          await ctx.client.call<unknown>('DELETE', setPath(args.policy, args.name));
          ctx.println(`Set '${args.name}' deleted`);
          ctx.println(RELOAD_NOTE);
        }),
      )
      .command(
        'reload',
        'Apply the set files (ignore first, then drop)',
        {},
        command<object>(async (_args, ctx) => {
          await ctx.client.call<unknown>('POST', '/v1/sets/reload');
          ctx.println('Sets reloaded successfully');
        }),
      )
      .demandCommand(1, 'a subcommand is required: list, inspect, create, update, delete or reload'),
  );
}
