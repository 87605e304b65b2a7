/**
 * `/v1/bans/{owner}`: bans held by owners, the fail2ban backend
 * (docs/api-extensions.md). The claims logic is in src/core (EntryStore
 * claims, src/core/state/claims.ts and src/core/plan/claims.ts); this file
 * parses and validates.
 *
 * Bodies are read with JSON.parse (a 20,000-ban array restores in one
 * request): JSON-level problems (content type, syntax, shape, types) are
 * 400 `bad_request` "Invalid JSON format: …", domain errors 422 `invalid`
 * with errors.cidr / errors.expiration (`[i].cidr` in an array).
 *
 * The static `bans` segment shadows `{policy}` = "bans", which Couic
 * answers with 400 (invalid policy). Those answers are kept where the new
 * routes leave room: GET/POST `/v1/bans`, POST `/v1/bans/peer` and GET
 * `/v1/bans/{x}/{ip}/{prefix}` still go to the entry handlers with
 * policy "bans" (400 after auth, as before).
 */
import type { BanItem, BanService, EntryService } from '../../core/model/types.js';
import { nowSeconds } from '../../domain/clock.js';
import { banPrefixError, expirationError, ownerError } from '../../domain/rules.js';
import type { Cidr } from '../../domain/types.js';
import { AppError, type FieldErrors } from '../../errors.js';
import { CIDR_SYNTAX_MESSAGE, makeCidr, tryParseCidr, tryParseIp } from '../../net/cidr.js';
import { isJsonContentType, MISSING_JSON_CONTENT_TYPE, readBody } from '../body.js';
import { empty, json, type Reply } from '../reply.js';
import type { Handler, RequestContext } from '../router.js';
import type { HandlerTable } from '../routes.js';
import { invalid, parsePathCidr } from '../validate.js';
import { selfOrdered, wrapHandler } from '../turns.js';
import type { EntryHandlers } from './entries.js';

export function isBanService(x: unknown): x is BanService {
  const o = x as Partial<BanService> | null;
  return typeof o?.ban === 'function' && typeof o.unban === 'function' && typeof o.flushBans === 'function' && typeof o.bansOf === 'function';
}

/** Body limit of POST /v1/bans/{owner}: about 300,000 bans. */
export const BANS_BODY_LIMIT = 16 * 1024 * 1024;
/** At most this many field errors are reported for one array. */
const MAX_FIELD_ERRORS = 100;

/**
 * The `cidr` of a ban: `<addr>/<len>` (grammar (1)) or a bare address
 * (/32, /128), normalized. IPv4 octets with leading zeros are refused in
 * both forms (`192.0.2.010` is 192.0.2.8 to inet_aton: ambiguous).
 */
export function parseBanCidr(text: string): Cidr | undefined {
  if (text.length === 0 || text.length > 64) return undefined;
  const slash = text.indexOf('/');
  const ip = tryParseIp(slash < 0 ? text : text.slice(0, slash), { leadingZeros: false });
  if (ip === undefined) return undefined;
  if (slash < 0) return makeCidr(ip.family, ip.addr, ip.family === 4 ? 32 : 128);
  return tryParseCidr(text);
}

function ownerParam(ctx: RequestContext, errors: FieldErrors = {}): string {
  const owner = ctx.params['owner'] ?? '';
  const bad = ownerError(owner);
  if (bad !== undefined) errors['owner'] = invalid(bad);
  if (Object.keys(errors).length > 0) throw new AppError('bad_request', 'Bad request', errors);
  return owner;
}

const jsonError = (text: string): AppError => new AppError('bad_request', `Invalid JSON format: ${text}`);

async function readBans(ctx: RequestContext): Promise<BanItem[]> {
  if (!isJsonContentType(ctx.req.headers['content-type'])) throw jsonError(MISSING_JSON_CONTENT_TYPE);
  const buf = await readBody(ctx.req, BANS_BODY_LIMIT);
  if (buf === undefined) {
    throw new AppError('payload_too_large', `Request body exceeds the ${BANS_BODY_LIMIT / 1024 / 1024} MiB limit of /v1/bans`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw jsonError((err as Error).message);
  }
  const isArray = Array.isArray(doc);
  const list: unknown[] = isArray ? (doc as unknown[]) : [doc];
  const now = nowSeconds();
  const items: BanItem[] = new Array<BanItem>(list.length);
  const errors: FieldErrors = {};
  let nErrors = 0;
  for (let i = 0; i < list.length; i += 1) {
    const o = list[i];
    const at = isArray ? `[${i}]` : '';
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      throw jsonError(`${at === '' ? '' : `${at}: `}invalid type: expected an object {"cidr", "expiration"}`);
    }
    const { cidr: c, expiration: e } = o as { cidr?: unknown; expiration?: unknown };
    if (typeof c !== 'string') throw jsonError(`${at}${at === '' ? '' : '.'}cidr: ${c === undefined ? 'missing field `cidr`' : 'invalid type: expected a string'}`);
    if (typeof e !== 'number' || !Number.isSafeInteger(e) || e < 0) {
      throw jsonError(`${at}${at === '' ? '' : '.'}expiration: ${e === undefined ? 'missing field `expiration`' : 'invalid type: expected a u64 (unix seconds, 0 = permanent)'}`);
    }
    const cidr = parseBanCidr(c);
    const p = at === '' ? '' : `${at}.`;
    const badCidr = cidr === undefined ? CIDR_SYNTAX_MESSAGE : banPrefixError(cidr);
    if (badCidr !== undefined && nErrors < MAX_FIELD_ERRORS) {
      errors[`${p}cidr`] = invalid(badCidr);
      nErrors += 1;
    }
    const badExp = expirationError(e, now);
    if (badExp !== undefined && nErrors < MAX_FIELD_ERRORS) {
      errors[`${p}expiration`] = invalid(badExp);
      nErrors += 1;
    }
    if (cidr !== undefined && badCidr === undefined) items[i] = { cidr, expiration: e };
  }
  if (nErrors > 0) throw new AppError('invalid', 'Validation failed', errors);
  return items;
}

/**
 * Requests pipelined on one connection take effect in the order they were
 * sent (turns.ts): a mutation reads and checks its body, then is submitted
 * to the update queue (FIFO, group commit) once the previous request of its
 * connection was. (A POST reads its body before submitting; without this a
 * pipelined DELETE behind it could overtake it.)
 */
function inTurn<T>(prepare: (ctx: RequestContext) => Promise<T> | T, fn: (v: T, ctx: RequestContext) => Promise<Reply>): Handler {
  return selfOrdered(async (ctx) => {
    const v = await prepare(ctx);
    await ctx.turn.wait('mutation');
    const out = fn(v, ctx);
    ctx.turn.submitted();
    return out;
  });
}

/** Handlers of the `/v1/bans` routes (routes.ts ids), given the entry handlers for the compatibility routes. */
export function banHandlers(service: EntryService, entryHandlers: EntryHandlers): HandlerTable {
  const asPolicy = (h: Handler): Handler => wrapHandler(h, (ctx) => h({ ...ctx, params: { ...ctx.params, policy: 'bans' } }));
  const compat: HandlerTable = {
    'bans.compat.list': asPolicy(entryHandlers.list),
    'bans.compat.create': asPolicy(entryHandlers.create),
    'bans.compat.peer': asPolicy(entryHandlers.peer),
    'bans.compat.get': asPolicy(entryHandlers.get),
  };
  if (!isBanService(service)) return compat;
  const bans = service;
  return {
    ...compat,

    'bans.create': inTurn(
      async (ctx) => {
        const owner = ownerParam(ctx);
        return { owner, items: await readBans(ctx) };
      },
      async ({ owner, items }, ctx) => json(200, { applied: await bans.ban(owner, items, ctx.actor) }),
    ),

    'bans.delete': inTurn(
      (ctx) => {
        const errors: FieldErrors = {};
        const cidr = parsePathCidr(ctx.params['ip'] ?? '', ctx.params['prefix'] ?? '', errors);
        return { owner: ownerParam(ctx, errors), cidr: cidr! };
      },
      async ({ owner, cidr }, ctx) => {
        await bans.unban(owner, cidr, ctx.actor);
        return empty(204);
      },
    ),

    'bans.flush': inTurn((ctx) => ownerParam(ctx), async (owner, ctx) => json(200, { removed: await bans.flushBans(owner, ctx.actor) })),

    // A read: the server starts it once the previous request of its connection completed.
    'bans.list': async (ctx) => json(200, bans.bansOf(ownerParam(ctx)).map((b) => ({ cidr: b.cidr, expiration: b.expiration }))),
  };
}
