/**
 * Set routes (spec §1.8): the API only edits files; nothing is applied
 * until `POST /v1/sets/reload`.
 */
import { SET_MAX_BYTES, type SetFiles } from '../../core/sets.js';
import { nameError } from '../../domain/rules.js';
import type { Policy } from '../../domain/types.js';
import { AppError, type FieldErrors } from '../../errors.js';
import { isCidrText } from '../../net/cidr.js';
import { readValidatedJson } from '../body.js';
import { seqOf, str, struct, type Decoder } from '../json.js';
import { json, type Reply } from '../reply.js';
import type { Handler, RequestContext } from '../router.js';
import type { HandlerTable } from '../routes.js';
import { invalid, parsePolicy } from '../validate.js';

const setDecoder = struct('Set', [
  { name: 'name', decode: str },
  { name: 'entries', decode: seqOf(str) },
]) as Decoder<unknown> as Decoder<{ name: string; entries: string[] }>;

/** Path `{policy}` (and `{name}` when present) → 400 with every error. */
function pathParams(ctx: RequestContext, withName: boolean): { policy: Policy; name: string } {
  const errors: FieldErrors = {};
  const policy = parsePolicy(ctx.params['policy'] ?? '', errors);
  const name = ctx.params['name'] ?? '';
  if (withName) {
    const bad = nameError('Set name', name);
    if (bad !== undefined) errors['name'] = invalid(bad);
  }
  if (policy === undefined || Object.keys(errors).length > 0) throw new AppError('bad_request', 'Bad request', errors);
  return { policy, name };
}

/** Body `{name, entries}`: 400 (JSON level) or 422 (name, each entry, total size). */
async function setBody(ctx: RequestContext): Promise<{ name: string; entries: string[] }> {
  const body = await readValidatedJson(ctx.req, ctx.bodyLimit, setDecoder);
  const errors: FieldErrors = {};
  const bad = nameError('Set name', body.name);
  if (bad !== undefined) errors['name'] = invalid(bad);
  let size = 0;
  body.entries.forEach((e, i) => {
    size += Buffer.byteLength(e, 'utf8') + 1;
    if (!isCidrText(e)) errors[`entries[${i}]`] = invalid('invalid IP address syntax');
  });
  if (size > SET_MAX_BYTES) errors['entries'] = invalid('Total entries would exceed 5 MB limit');
  if (Object.keys(errors).length > 0) throw new AppError('invalid', 'Validation failed', errors);
  return body;
}

export function setHandlers(sets: SetFiles): HandlerTable {
  const list: Handler = async (ctx) => {
    const { policy } = pathParams(ctx, false);
    return json(200, await sets.list(policy));
  };
  const create: Handler = async (ctx) => {
    const { policy } = pathParams(ctx, false);
    const body = await setBody(ctx);
    await sets.create(policy, body.name, body.entries);
    ctx.logger.info({ client: ctx.actor.name, group: ctx.actor.group, policy, set: body.name, entries: body.entries.length }, 'set file created');
    return json(201, { name: body.name, entries: body.entries });
  };
  const get: Handler = async (ctx) => {
    const { policy, name } = pathParams(ctx, true);
    return json(200, await sets.read(policy, name));
  };
  const update: Handler = async (ctx) => {
    const { policy, name } = pathParams(ctx, true);
    const body = await setBody(ctx);
    await sets.update(policy, name, body.entries);
    ctx.logger.info({ client: ctx.actor.name, group: ctx.actor.group, policy, set: name, entries: body.entries.length }, 'set file updated');
    return json(200, { name, entries: body.entries });
  };
  const remove: Handler = async (ctx) => {
    const { policy, name } = pathParams(ctx, true);
    await sets.delete(policy, name);
    ctx.logger.info({ client: ctx.actor.name, group: ctx.actor.group, policy, set: name }, 'set file deleted');
    return json(200, { deleted: true, reload_required: true });
  };
  const reload: Handler = async (ctx): Promise<Reply> => {
    await sets.reload(ctx.actor);
    return json(201, { reload_status: 'OK' });
  };
  return {
    'sets.list': list,
    'sets.create': create,
    'sets.get': get,
    'sets.update': update,
    'sets.delete': remove,
    'sets.reload': reload,
  };
}
