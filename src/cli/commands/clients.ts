/**
 * `couicctl clients add|list|inspect|delete` (spec §9.4). Group cells use
 * the display form (`client_ro`, `client_rw`); JSON keeps the API's.
 */
import type { Argv } from 'yargs';
import { usageError } from '../errors.js';
import { clientJson, clientsTable, prettyJson, type ApiClient } from '../format.js';
import { clientNameArg, groupArg } from '../names.js';
import { command } from '../runtime.js';

interface AddArgs {
  readonly name: string;
  readonly group: string;
  readonly json?: boolean;
}

interface NameArgs {
  readonly name: string;
  readonly json?: boolean;
}

interface ListArgs {
  readonly quiet?: boolean;
  readonly json?: boolean;
}

const clientPath = (name: string): string => `/v1/client/${encodeURIComponent(name)}`;

export function register(y: Argv): Argv {
  return y.command('clients', 'Manage API clients', (g: Argv) =>
    g
      .command(
        'add',
        'Create a client (a new token is generated)',
        (a: Argv) =>
          a
            .option('name', { alias: 'n', type: 'string', demandOption: true, describe: 'Client name (1-48 alphanumerics, - or _)', coerce: clientNameArg('--name <NAME>') })
            .option('group', {
              alias: 'g',
              type: 'string',
              demandOption: true,
              describe: 'Group: admin, clientro, clientrw, monitoring, peering (case-insensitive)',
              coerce: groupArg,
            })
            .option('json', { type: 'boolean', describe: 'Print the client as JSON' }),
        command<AddArgs>(async (args, ctx) => {
          const client = await ctx.client.call<ApiClient>('POST', '/v1/client', { name: args.name, group: args.group });
          ctx.println(args.json === true ? prettyJson(clientJson(client)) : clientsTable([client]));
        }),
      )
      .command(
        'list',
        'List clients (with their tokens)',
        (a: Argv) =>
          a
            .option('quiet', { alias: 'q', type: 'boolean', describe: 'Print only the names' })
            .option('json', { type: 'boolean', describe: 'Print the clients as JSON' })
            .check((argv) => {
              if (argv['json'] === true && argv['quiet'] === true) throw usageError("the argument '--json' cannot be used with '--quiet'");
              return true;
            }),
        command<ListArgs>(async (args, ctx) => {
          const clients = await ctx.client.call<ApiClient[]>('GET', '/v1/client');
          if (args.json === true) ctx.println(prettyJson(clients.map(clientJson)));
          else if (args.quiet === true) ctx.print(clients.map((c) => `${c.name}\n`).join(''));
          else ctx.println(clientsTable(clients));
        }),
      )
      .command(
        'inspect <name>',
        'Show one client',
        (a: Argv) =>
          a
            .positional('name', { type: 'string', describe: 'Client name', coerce: clientNameArg('<NAME>') })
            .option('json', { type: 'boolean', describe: 'Print the client as JSON' }),
        command<NameArgs>(async (args, ctx) => {
          const client = await ctx.client.call<ApiClient>('GET', clientPath(args.name));
          ctx.println(args.json === true ? prettyJson(clientJson(client)) : clientsTable([client]));
        }),
      )
      .command(
        'delete <name>',
        'Delete a client (its file and token)',
        (a: Argv) => a.positional('name', { type: 'string', describe: 'Client name', coerce: clientNameArg('<NAME>') }),
        command<NameArgs>(async (args, ctx) => {
          await ctx.client.call<void>('DELETE', clientPath(args.name));
        }),
      )
      .demandCommand(1, 'a subcommand is required: add, list, inspect or delete'),
  );
}
