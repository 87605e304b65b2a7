/**
 * Entry routes (spec §1.7): list, create, get, delete, peer.
 */
import type { EntryService } from '../../core/model/types.js';
import { nowSeconds } from '../../domain/clock.js';
import { notFoundError, setEntryError } from '../../domain/entry-errors.js';
import { EXPIRATION_RANGE_MESSAGE, expirationError, isSetTag, tagError } from '../../domain/rules.js';
import type { Entry, PeerJob, Policy } from '../../domain/types.js';
import { AppError, type FieldErrors } from '../../errors.js';
import { CIDR_SYNTAX_MESSAGE, formatCidr, tryParseCidr, tryParseCidrRaw } from '../../net/cidr.js';
import { readFrameworkJson, readValidatedJson } from '../body.js';
import { anyMap, dataError, enumOf, nullable, safeU64, seqOf, str, struct, u64Exact, type Decoder } from '../json.js';
import { HeavyReads } from '../heavy-reads.js';
import { entryListJson, entryListLength } from '../list-stream.js';
import { peerEcho, scanPeerJobs, type FastPeerJob } from '../peer-fast.js';
import { empty, json, JSON_TYPE, type Reply } from '../reply.js';
import type { Handler, RequestContext } from '../router.js';
import { selfOrdered } from '../turns.js';
import { invalid, parsePathCidr, parsePolicy } from '../validate.js';

/** Entry response, field order creation, cidr, tag, expiration. */
export function entryJson(e: Entry, tag: string | null = e.tag): { creation: number; cidr: string; tag: string | null; expiration: number } {
  return { creation: e.creation, cidr: e.cidr.text, tag, expiration: e.expiration };
}

export interface Metadata {
  readonly kind: string;
  readonly detail: string;
  readonly extra: Record<string, unknown> | null;
}

export const metadataDecoder = struct('Metadata', [
  { name: 'kind', decode: str },
  { name: 'detail', decode: str },
  { name: 'extra', decode: nullable(anyMap), optional: true },
]) as Decoder<unknown> as Decoder<Metadata>;

interface RawEntryInput {
  readonly cidr: string;
  readonly tag: string | null;
  /** A bigint when above 2^53-1: refused by the handler (422), never rounded. */
  readonly expiration: number | bigint;
  readonly metadata: Metadata | null;
}

/** Body of POST /v1/{policy}: cidr, tag, expiration, metadata (positional arrays too). */
export const rawEntryDecoder = struct('RawEntryInput', [
  { name: 'cidr', decode: str },
  { name: 'tag', decode: nullable(str), optional: true },
  { name: 'expiration', decode: u64Exact },
  { name: 'metadata', decode: nullable(metadataDecoder), defaulted: true },
]) as Decoder<unknown> as Decoder<RawEntryInput>;

// Peer bodies validate while decoding (custom serde deserializers), so
// failures are data errors (422) with the JSON path.
const peerCidr: Decoder<{ text: string; raw: string }> = (v, ctx) => {
  const s = str(v, ctx);
  const raw = tryParseCidrRaw(s);
  if (raw === undefined) throw dataError(ctx.path, CIDR_SYNTAX_MESSAGE, v.end);
  return { text: s, raw: formatCidr(raw) };
};

const peerTag: Decoder<string | null> = (v, ctx) => {
  if (v.t === 'null') return null;
  const s = str(v, ctx);
  const bad = tagError(s);
  if (bad !== undefined) throw dataError(ctx.path, bad, v.end);
  return s;
};

const peerU64 = safeU64(EXPIRATION_RANGE_MESSAGE);
const peerExpiration: Decoder<number> = (v, ctx) => {
  const n = peerU64(v, ctx);
  const bad = expirationError(n, nowSeconds());
  if (bad !== undefined) throw dataError(ctx.path, bad, v.end);
  return n;
};

interface PeerEntryInput {
  readonly cidr: { text: string; raw: string };
  readonly tag: string | null;
  readonly expiration: number;
  readonly metadata: Metadata | null;
}

interface PeerJobInput {
  readonly action: 'add' | 'remove';
  readonly entry: PeerEntryInput;
}

const peerEntryDecoder = struct('EntryInput', [
  { name: 'cidr', decode: peerCidr },
  { name: 'tag', decode: peerTag, optional: true },
  { name: 'expiration', decode: peerExpiration },
  { name: 'metadata', decode: nullable(metadataDecoder), defaulted: true },
]) as Decoder<unknown> as Decoder<PeerEntryInput>;

export const peerJobsDecoder = seqOf(
  struct('PeerJob', [
    { name: 'action', decode: enumOf(['add', 'remove'] as const) },
    { name: 'entry', decode: peerEntryDecoder },
  ]) as Decoder<unknown> as Decoder<PeerJobInput>,
);

type PeerBody = { readonly fast: FastPeerJob[] } | { readonly strict: PeerJobInput[] };

const peerBodyDecoder: Decoder<PeerBody> = (v, ctx) => ({ strict: peerJobsDecoder(v, ctx) });

const fastPeerBody = (body: Buffer): PeerBody | undefined => {
  const fast = scanPeerJobs(body, nowSeconds());
  return fast === undefined ? undefined : { fast };
};

function policyParam(ctx: RequestContext): Policy {
  const errors: FieldErrors = {};
  const policy = parsePolicy(ctx.params['policy'] ?? '', errors);
  if (policy === undefined) throw new AppError('bad_request', 'Bad request', errors);
  return policy;
}

function pathParams(ctx: RequestContext): { policy: Policy; cidr: NonNullable<ReturnType<typeof parsePathCidr>> } {
  const errors: FieldErrors = {};
  const policy = parsePolicy(ctx.params['policy'] ?? '', errors);
  const cidr = parsePathCidr(ctx.params['ip'] ?? '', ctx.params['prefix'] ?? '', errors);
  if (policy === undefined || cidr === undefined) throw new AppError('bad_request', 'Bad request', errors);
  return { policy, cidr };
}

export interface EntryHandlers {
  readonly list: Handler;
  readonly create: Handler;
  readonly get: Handler;
  readonly delete: Handler;
  readonly peer: Handler;
}

/**
 * Submits the mutation `submit` makes in the request's connection turn
 * (turns.ts): after the previous request of the connection was submitted.
 */
async function submitInTurn<T>(ctx: RequestContext, submit: () => Promise<T>): Promise<T> {
  await ctx.turn.wait('mutation');
  const out = submit();
  ctx.turn.submitted();
  return out;
}

export function entryHandlers(entries: EntryService, heavyReads: HeavyReads = new HeavyReads()): EntryHandlers {
  return {
    async list(ctx): Promise<Reply> {
      const policy = policyParam(ctx);
      if (entries.listCopy === undefined) return json(200, entries.list(policy).map((e) => entryJson(e)));
      // Streamed from a compact copy, at most a few at once (heavy-reads.ts).
      const release = await heavyReads.acquire();
      try {
        const copy = entries.listCopy(policy);
        return { status: 200, chunks: entryListJson(copy), length: entryListLength(copy), contentType: JSON_TYPE, onSent: release };
      } catch (err) {
        release();
        throw err;
      }
    },

    create: selfOrdered(async (ctx): Promise<Reply> => {
      const policy = policyParam(ctx);
      const body = await readValidatedJson(ctx.req, ctx.bodyLimit, rawEntryDecoder);
      const errors: FieldErrors = {};
      const cidr = tryParseCidr(body.cidr);
      if (cidr === undefined) errors['cidr'] = invalid(CIDR_SYNTAX_MESSAGE);
      const tag = body.tag ?? '';
      const badTag = tagError(tag);
      if (badTag !== undefined) errors['tag'] = invalid(badTag);
      const expiration = body.expiration;
      const badExp = typeof expiration === 'bigint' ? EXPIRATION_RANGE_MESSAGE : expirationError(expiration, nowSeconds());
      if (badExp !== undefined) errors['expiration'] = invalid(badExp);
      if (cidr === undefined || typeof expiration === 'bigint' || Object.keys(errors).length > 0) throw new AppError('invalid', 'Validation failed', errors);
      // The core logs the mutation with the acting client.
      const metadata = body.metadata === null ? {} : { metadata: body.metadata };
      const entry = await submitInTurn(ctx, () => entries.create(policy, { cidr, tag, expiration, ...metadata }, ctx.actor));
      return json(201, entryJson(entry, tag === '' ? null : tag));
    }),

    async get(ctx): Promise<Reply> {
      const { policy, cidr } = pathParams(ctx);
      const entry = entries.get(policy, cidr);
      if (entry === undefined) throw notFoundError(cidr.text);
      return json(200, entryJson(entry));
    },

    async delete(ctx): Promise<Reply> {
      const { policy, cidr } = pathParams(ctx);
      const entry = entries.get(policy, cidr);
      if (entry === undefined) throw notFoundError(cidr.text);
      if (isSetTag(entry.tag)) throw setEntryError();
      await entries.remove(policy, cidr, ctx.actor);
      return empty(204);
    },

    peer: selfOrdered(async (ctx): Promise<Reply> => {
      const policy = policyParam(ctx);
      const body = await readFrameworkJson(ctx.req, ctx.bodyLimit, peerBodyDecoder, fastPeerBody);
      if ('fast' in body) {
        // Well-formed body (the usual case): jobs decoded in one pass.
        const jobs = body.fast;
        await submitInTurn(ctx, () => entries.applyPeer(policy, jobs, ctx.actor));
        // The echo (about 100 bytes a job) is built after a macrotask turn:
        // the batch queued behind this one is planned and sent to the
        // helper first, and the echo is written while the kernel applies it.
        await new Promise<void>((resolve) => setImmediate(resolve));
        return { status: 201, bytes: peerEcho(jobs), contentType: JSON_TYPE };
      }
      const jobs = body.strict;
      const parsed: PeerJob[] = jobs.map((j) => {
        const cidr = tryParseCidr(j.entry.cidr.text);
        if (cidr === undefined) throw new AppError('internal', 'peer cidr lost validation');
        return { action: j.action, entry: { cidr, tag: j.entry.tag ?? '', expiration: j.entry.expiration } };
      });
      await submitInTurn(ctx, () => entries.applyPeer(policy, parsed, ctx.actor));
      return json(
        201,
        jobs.map((j) => ({
          action: j.action,
          entry: { cidr: j.entry.cidr.raw, tag: j.entry.tag, expiration: j.entry.expiration, metadata: j.entry.metadata },
        })),
      );
    }),
  };
}
