/**
 * The daemon's command line: its parser (main.ts), `couic --help`'s text
 * and couic(8)'s OPTIONS section come from this one table.
 */

/** node:util parseArgs options, plus the value's name (`arg`) and a description. */
export const DAEMON_OPTIONS = {
  config: { type: 'string', short: 'c', arg: 'FILE', doc: 'configuration file (TOML); default: embedded defaults' },
  version: { type: 'boolean', short: 'V', doc: 'print the version and exit' },
  help: { type: 'boolean', short: 'h', doc: 'print this help and exit' },
} as const;

export interface OptionDoc {
  readonly long: string;
  readonly short: string;
  readonly arg: string | undefined;
  readonly doc: string;
}

export function optionDocs(): OptionDoc[] {
  return Object.entries(DAEMON_OPTIONS).map(([long, o]) => ({ long, short: o.short, arg: 'arg' in o ? o.arg : undefined, doc: o.doc }));
}

const flags = (o: OptionDoc): string => `-${o.short}, --${o.long}${o.arg === undefined ? '' : ` ${o.arg}`}`;
const width = Math.max(...optionDocs().map((o) => flags(o).length)) + 3;

export const USAGE = `Usage: couic [-c FILE]\n\n${optionDocs().map((o) => `  ${flags(o).padEnd(width)}${o.doc}\n`).join('')}`;
