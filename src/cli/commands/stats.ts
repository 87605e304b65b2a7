/**
 * `couicctl stats global [--live] [--json]` and `stats drop|ignore [--json]`
 * (spec §9.4).
 */
import type { Argv } from 'yargs';
import type { Policy } from '../../domain/types.js';
import { usageError } from '../errors.js';
import { globalStatsText, prettyJson, tagStatsText, type ApiStats, type ApiTagStats } from '../format.js';
import { command } from '../runtime.js';

interface GlobalArgs {
  readonly live?: boolean;
  readonly json?: boolean;
}

interface TagArgs {
  readonly json?: boolean;
}

function tagCommand(y: Argv, policy: Policy): Argv {
  return y.command(
    policy,
    `Per-tag packet counters of the ${policy} policy`,
    (a: Argv) => a.option('json', { type: 'boolean', describe: 'Print the statistics as JSON' }),
    command<TagArgs>(async (args, ctx) => {
      const stats = await ctx.client.call<ApiTagStats>('GET', `/v1/stats/tags/${policy}`, undefined, { lossless: true });
      ctx.println(args.json === true ? prettyJson(stats) : tagStatsText(policy, stats));
    }),
  );
}

export function register(y: Argv): Argv {
  return y.command('stats', 'Show statistics', (g: Argv) => {
    let s = g.command(
      'global',
      'Global counters (entries and XDP actions)',
      (a: Argv) =>
        a
          .option('live', { alias: 'l', type: 'boolean', describe: 'Refresh every second with per-second rates' })
          .option('json', { type: 'boolean', describe: 'Print the statistics as JSON' })
          .check((argv) => {
            if (argv['json'] === true && argv['live'] === true) throw usageError("the argument '--json' cannot be used with '--live'");
            return true;
          }),
      command<GlobalArgs>(async (args, ctx) => {
        if (args.live === true) {
          const { runLive } = await import('../live.js');
          await runLive(ctx.client, process.stdout);
          return;
        }
        const stats = await ctx.client.call<ApiStats>('GET', '/v1/stats', undefined, { lossless: true });
        if (args.json === true) ctx.println(prettyJson(stats));
        else ctx.print(globalStatsText(stats));
      }),
    );
    s = tagCommand(s, 'drop');
    s = tagCommand(s, 'ignore');
    return s.demandCommand(1, 'a subcommand is required: global, drop or ignore');
  });
}
