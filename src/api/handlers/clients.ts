/**
 * Client routes (spec §1.9).
 */
import type { Client, ClientRegistry } from '../../core/clients.js';
import { nameError, parseGroup } from '../../domain/rules.js';
import { AppError, type FieldErrors } from '../../errors.js';
import { readValidatedJson } from '../body.js';
import { str, struct, type Decoder } from '../json.js';
import { empty, json, type Reply } from '../reply.js';
import type { Handler, RequestContext } from '../router.js';
import { invalid } from '../validate.js';

export function clientJson(c: Client): { name: string; token: string; group: string } {
  return { name: c.name, token: c.token, group: c.group };
}

const clientRequestDecoder = struct('ClientRequest', [
  { name: 'name', decode: str },
  { name: 'group', decode: str },
]) as Decoder<unknown> as Decoder<{ name: string; group: string }>;

function nameParam(ctx: RequestContext): string {
  const name = ctx.params['name'] ?? '';
  const bad = nameError('Client name', name);
  if (bad !== undefined) throw new AppError('bad_request', 'Bad request', { name: invalid(bad) });
  return name;
}

export interface ClientHandlers {
  readonly list: Handler;
  readonly create: Handler;
  readonly get: Handler;
  readonly delete: Handler;
}

export function clientHandlers(clients: ClientRegistry): ClientHandlers {
  return {
    async list(): Promise<Reply> {
      return json(200, clients.list().map(clientJson));
    },

    async create(ctx): Promise<Reply> {
      const body = await readValidatedJson(ctx.req, ctx.bodyLimit, clientRequestDecoder);
      const errors: FieldErrors = {};
      const badName = nameError('Client name', body.name);
      if (badName !== undefined) errors['name'] = invalid(badName);
      const group = parseGroup(body.group);
      if (group === undefined) errors['group'] = invalid(`Invalid group: ${body.group}`);
      if (group === undefined || Object.keys(errors).length > 0) throw new AppError('invalid', 'Validation failed', errors);
      const c = await clients.create(body.name, group);
      ctx.logger.info({ client: ctx.actor.name, group: ctx.actor.group, name: c.name, clientGroup: c.group }, 'client created');
      return json(201, clientJson(c));
    },

    async get(ctx): Promise<Reply> {
      const name = nameParam(ctx);
      const c = clients.get(name);
      if (c === undefined) throw new AppError('not_found', `Client not found: ${name}`);
      return json(200, clientJson(c));
    },

    async delete(ctx): Promise<Reply> {
      const name = nameParam(ctx);
      await clients.delete(name);
      ctx.logger.info({ client: ctx.actor.name, group: ctx.actor.group, name }, 'client deleted');
      return empty(204);
    },
  };
}
