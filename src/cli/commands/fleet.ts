/** `couicctl fleet status [--json]`: GET /v1/fleet (docs/fleet.md). */
import type { Argv } from 'yargs';
import { nowSeconds } from '../../domain/clock.js';
import { prettyJson } from '../format.js';
import { command } from '../runtime.js';
import { renderTable } from '../table.js';

interface StatusArgs {
  readonly json?: boolean;
}

/** GET /v1/fleet, the fields this command shows (unknown ones are ignored). */
export interface ApiFleetStatus {
  readonly enabled: boolean;
  readonly node?: string;
  readonly bucket?: string;
  readonly policies?: readonly string[];
  readonly connected?: boolean;
  readonly server?: string | null;
  readonly servers?: readonly string[];
  readonly applied?: { readonly revision: number; readonly received: number };
  readonly catching_up?: string | null;
  readonly lag?: { readonly messages: number; readonly seconds: number };
  readonly outbox?: number;
  readonly peers?: readonly { readonly node: string; readonly last_seen: number; readonly messages: number }[];
  readonly last_error?: string | null;
}

/** The status as text: one `key: value` line each, then the peers' table. */
export function fleetStatusText(s: ApiFleetStatus, nowSeconds: number): string {
  if (!s.enabled) return 'Fleet: disabled ([fleet] enabled = false)\n';
  const lines = [
    `Node:       ${s.node ?? ''}`,
    `Bucket:     ${s.bucket ?? ''} (${(s.policies ?? []).join(', ')})`,
    `Connected:  ${s.connected === true ? `yes, to ${s.server ?? '?'}` : 'no'} (servers: ${(s.servers ?? []).join(', ')})`,
    `Applied:    revision ${s.applied?.revision ?? 0}${s.catching_up ? ` (catching up: ${s.catching_up})` : ''}`,
    `Lag:        ${s.lag?.messages ?? 0} messages, ${s.lag?.seconds ?? 0} s`,
    `Outbox:     ${s.outbox ?? 0}`,
  ];
  if (s.last_error) lines.push(`Last error: ${s.last_error}`);
  const peers = s.peers ?? [];
  let out = `${lines.join('\n')}\n`;
  if (peers.length === 0) return `${out}Peers:      none seen\n`;
  out += `Peers:\n${renderTable(['NODE', 'LAST SEEN', 'MESSAGES'], peers.map((p) => [p.node, `${Math.max(0, nowSeconds - p.last_seen)} s ago`, String(p.messages)]))}`;
  return out.endsWith('\n') ? out : `${out}\n`;
}

export function register(y: Argv): Argv {
  return y.command('fleet', 'Show the fleet (ban sharing over NATS JetStream)', (g: Argv) =>
    g.command(
      'status',
      'Connection, applied position, lag, outbox and peers of this host',
      (a: Argv) => a.option('json', { type: 'boolean', describe: 'Print the status as JSON' }),
      command<StatusArgs>(async (args, ctx) => {
        const s = await ctx.client.call<ApiFleetStatus>('GET', '/v1/fleet');
        if (args.json === true) ctx.println(prettyJson(s));
        else ctx.print(fleetStatusText(s, nowSeconds()));
      }),
    ).demandCommand(1, 'a subcommand is required: status'));
}
