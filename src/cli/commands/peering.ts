/** `couicctl peering status [--json]`: GET /v1/peering (docs/peering.md). */
import type { Argv } from 'yargs';
import { nowSeconds } from '../../domain/clock.js';
import { prettyJson } from '../format.js';
import { command } from '../runtime.js';
import { renderTable } from '../table.js';

interface StatusArgs {
  readonly json?: boolean;
}

type LastError = { readonly at: number; readonly message: string } | null;

/** GET /v1/peering, the fields this command shows (unknown ones are ignored). */
export interface ApiPeeringStatus {
  readonly enabled: boolean;
  readonly peers?: readonly {
    readonly peer: string;
    readonly url: string;
    readonly queue: { readonly jobs: number; readonly bytes: number };
    readonly sent_jobs: number;
    readonly dropped_jobs: number;
    readonly rejected_jobs: number;
    readonly auth_failures: number;
    readonly last_success: number | null;
    readonly last_error: LastError;
    readonly needs_resync: boolean;
  }[];
  readonly reporting?: {
    readonly enabled: boolean;
    readonly webhook?: string;
    readonly queue?: number;
    readonly sent_reports?: number;
    readonly dropped_reports?: number;
    readonly last_success?: number | null;
    readonly last_error?: LastError;
  };
}

const ago = (t: number | null | undefined, now: number): string => (t === null || t === undefined ? 'never' : `${Math.max(0, now - t)} s ago`);

/** The status as text: the peers' table (and their last errors), then the reporting line. */
export function peeringStatusText(s: ApiPeeringStatus, now: number): string {
  let out = '';
  const peers = s.peers ?? [];
  if (!s.enabled) out += 'Peering:   disabled ([peering] enabled = false)\n';
  else {
    out += `Peering:\n${renderTable(
      ['PEER', 'QUEUED', 'SENT', 'DROPPED', 'REJECTED', 'AUTH FAILURES', 'LAST SUCCESS', 'RESYNC'],
      peers.map((p) => [p.url, String(p.queue.jobs), String(p.sent_jobs), String(p.dropped_jobs), String(p.rejected_jobs), String(p.auth_failures), ago(p.last_success, now), p.needs_resync ? 'needed' : '-']),
    )}`;
    if (!out.endsWith('\n')) out += '\n';
    for (const p of peers) if (p.last_error) out += `Last error of ${p.peer} (${ago(p.last_error.at, now)}): ${p.last_error.message}\n`;
  }
  const r = s.reporting;
  if (r === undefined || !r.enabled) out += 'Reporting: disabled ([reporting] enabled = false)\n';
  else {
    out += `Reporting: ${r.webhook ?? ''}: ${r.queue ?? 0} queued, ${r.sent_reports ?? 0} sent, ${r.dropped_reports ?? 0} dropped, last success ${ago(r.last_success, now)}\n`;
    if (r.last_error) out += `Last error of the webhook (${ago(r.last_error.at, now)}): ${r.last_error.message}\n`;
  }
  return out;
}

export function register(y: Argv): Argv {
  return y.command('peering', 'Show Couic\'s peering and reporting', (g: Argv) =>
    g.command(
      'status',
      'Queue, sent, dropped, last success and last error of each peer and of the webhook',
      (a: Argv) => a.option('json', { type: 'boolean', describe: 'Print the status as JSON' }),
      command<StatusArgs>(async (args, ctx) => {
        const s = await ctx.client.call<ApiPeeringStatus>('GET', '/v1/peering');
        if (args.json === true) ctx.println(prettyJson(s));
        else ctx.print(peeringStatusText(s, nowSeconds()));
      }),
    ).demandCommand(1, 'a subcommand is required: status'));
}
