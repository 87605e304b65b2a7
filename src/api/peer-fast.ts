/**
 * Fast path for `POST /v1/{policy}/peer` bodies (spec §1.7).
 *
 * The strict reader (json.ts) reproduces serde's error texts but costs a
 * tree of objects per value. Peer bodies are large (a Couic peer sends its
 * whole queue, up to 16,384 jobs) and almost always well formed, so they are
 * first read by this scanner, which accepts only a narrow, unambiguous
 * subset of JSON and builds the decoded jobs directly:
 *
 *   [ {"action": "add"|"remove", "entry": {"cidr": "...", "tag": "..."|null,
 *      "expiration": <integer>, "metadata": null}}, ... ]
 *
 * keys in any order, each at most once, JSON whitespace anywhere, read
 * from the body's bytes (no string of a whole body is made). Anything
 * else — an escape, control or non-ASCII character in a string, another key, a
 * metadata object, a number with a sign, fraction or exponent or more than
 * 15 digits, a missing field, an invalid cidr, tag or expiration, any syntax
 * error — makes it give up (undefined) and the strict reader decodes the
 * body and produces the exact error. Every document it accepts decodes to
 * the same jobs through the strict reader (test/unit/peer-fast.test.ts).
 *
 * A job laid out as Couic itself writes it (no whitespace, keys in struct
 * order) is read by matching that layout (quickJob); any other job goes
 * through the key dispatch (generalJob).
 */
import { tagError } from '../domain/rules.js';
import type { CreateRequest, PeerJob } from '../domain/types.js';
import { formatCidr, makeCidr, tryParseCidrRaw } from '../net/cidr.js';
import type { KeyedCidr } from '../net/keys.js';
import { v4KeyBytes, v4KeyNum, v4KeyText, v4NetKey } from '../net/v4-key.js';

/** A decoded job: the core's PeerJob plus what the 201 echo needs. */
export interface FastPeerJob extends PeerJob {
  /** The cidr as parsed, formatted (host bits kept): the echo. */
  readonly raw: string;
  /** The tag as sent: null when absent or null. */
  readonly echoTag: string | null;
}

const QUOTE = 34;
const COMMA = 44;
const COLON = 58;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;
const BACKSLASH = 92;

const F_CIDR = 1;
const F_TAG = 2;
const F_EXP = 4;
const F_META = 8;

/**
 * A job whose cidr is IPv4 written canonically (v4KeyNum accepts it, so
 * the echo is the text as sent): job, entry and cidr in one object that
 * carries the key number, the address bytes only made when asked. A peer
 * body holds up to 16,384 jobs, alive until the reply: the objects per job
 * are what the collector pays for.
 */
class V4Job implements FastPeerJob, CreateRequest, KeyedCidr {
  readonly action: 'add' | 'remove';
  readonly echoTag: string | null;
  readonly expiration: number;
  readonly raw: string;
  readonly text: string;
  readonly key4: number;
  constructor(action: 'add' | 'remove', raw: string, rawKey: number, echoTag: string | null, expiration: number) {
    this.action = action;
    this.echoTag = echoTag;
    this.expiration = expiration;
    this.raw = raw;
    const key = v4NetKey(rawKey);
    this.key4 = key;
    this.text = key === rawKey ? raw : v4KeyText(key);
  }

  get entry(): CreateRequest {
    return this;
  }

  get cidr(): KeyedCidr {
    return this;
  }

  get tag(): string {
    return this.echoTag ?? '';
  }

  get family(): 4 {
    return 4;
  }

  get prefixLen(): number {
    return this.key4 % 64;
  }

  get addr(): Uint8Array {
    const out = new Uint8Array(4);
    v4KeyBytes(this.key4, out);
    return out;
  }
}

/** The bytes of an ASCII text (the literals the scanner matches). */
const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Scanner state over the body's bytes; `i` is the read position. */
class Scanner {
  i = 0;
  readonly s: Buffer;
  readonly n: number;
  /** Bounds of the last string read (without quotes). */
  a = 0;
  b = 0;
  /** Validated tags of this body, as flat copies (no slice keeps the body alive). */
  readonly #tags = new Map<string, string>();
  /**
   * The last validated tag per (length, last char) bucket: a tag seen
   * before is recognized in place, without slicing or hashing it.
   */
  readonly #recent = new Array<string | undefined>(64);
  constructor(s: Buffer) {
    this.s = s;
    this.n = s.length;
  }

  /** The byte at `i`, -1 past the end. */
  at(i: number): number {
    return i < this.n ? this.s[i]! : -1;
  }

  /** Skips JSON whitespace; returns the next byte (-1 at the end). */
  ws(): number {
    let i = this.i;
    for (;;) {
      const c = this.at(i);
      if (c > 32 || (c !== 32 && c !== 10 && c !== 13 && c !== 9)) {
        this.i = i;
        return c;
      }
      i += 1;
    }
  }

  /** A string without escapes, control or non-ASCII characters at `i` (a quote); sets a/b. */
  str(): boolean {
    const s = this.s;
    const n = this.n;
    let i = this.i + 1;
    const a = i;
    for (; i < n; i += 1) {
      const c = s[i]!;
      if (c === QUOTE) {
        this.a = a;
        this.b = i;
        this.i = i + 1;
        return true;
      }
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return false;
    }
    return false;
  }

  /** The last string equals `word` (compared in place: cheaper than startsWith for short words). */
  is(word: string): boolean {
    const a = this.a;
    const n = word.length;
    if (this.b - a !== n) return false;
    const s = this.s;
    for (let k = 0; k < n; k += 1) if (s[a + k] !== word.charCodeAt(k)) return false;
    return true;
  }

  /** The bytes `text` at `i` (then consumed). */
  lit(text: Uint8Array): boolean {
    const n = text.length;
    const i = this.i;
    if (i + n > this.n) return false;
    const s = this.s;
    for (let k = 0; k < n; k += 1) if (s[i + k] !== text[k]) return false;
    this.i = i + n;
    return true;
  }

  /** `null` at `i`. */
  nul(): boolean {
    return this.lit(NULL);
  }

  /** The last string read, as text (ASCII: the body is, when scanned). */
  text(): string {
    return this.s.toString('latin1', this.a, this.b);
  }

  /** Key, colon; returns the char code after the colon's whitespace or -1. */
  key(): number {
    if (this.ws() !== QUOTE || !this.str()) return -1;
    if (this.ws() !== COLON) return -1;
    this.i += 1;
    return this.ws();
  }

  /** After a member: `,` (true, consumed) or `}` (false, consumed); -1 otherwise. */
  next(): number {
    const c = this.ws();
    this.i += 1;
    if (c === COMMA) return 1;
    if (c === RBRACE) return 0;
    return -1;
  }

  /** A tag value at `i`, whose char code is `c`: the tag (validated), null for `null`, undefined for anything else. */
  tagValue(c: number): string | null | undefined {
    if (c === QUOTE) return this.str() ? this.tag() : undefined;
    return this.nul() ? null : undefined;
  }

  /** The last string read as a valid tag (tagError), or undefined. */
  tag(): string | undefined {
    const h = ((this.b - this.a) * 31 + this.at(this.b - 1)) & 63;
    let ok = this.#recent[h];
    if (ok !== undefined && this.is(ok)) return ok;
    const t = this.text();
    ok = this.#tags.get(t);
    if (ok === undefined) {
      if (tagError(t) !== undefined) return undefined;
      ok = t;
      this.#tags.set(ok, ok);
    }
    this.#recent[h] = ok;
    return ok;
  }

  /**
   * An expiration at `i` (then consumed): digits only, no leading zero, at
   * most 15 (exact as a double), not followed by a fraction or an exponent,
   * 0 or after `now`. -1 otherwise.
   */
  expiration(now: number): number {
    let i = this.i;
    let n = 0;
    const start = i;
    for (;;) {
      const d = this.at(i) - 48;
      if (!(d >= 0 && d <= 9)) break;
      n = n * 10 + d;
      i += 1;
    }
    const len = i - start;
    if (len === 0 || len > 15 || (len > 1 && this.at(start) === 48)) return -1;
    const after = this.at(i);
    if (after === 46 || after === 101 || after === 69) return -1; // . e E
    if (n !== 0 && n <= now) return -1;
    this.i = i;
    return n;
  }
}

/** The job of a cidr as sent (`raw`); undefined when `raw` is not a CIDR. */
function makeJob(action: 'add' | 'remove', raw: string, tag: string | null, expiration: number): FastPeerJob | undefined {
  const rawKey = v4KeyNum(raw);
  if (rawKey >= 0) return new V4Job(action, raw, rawKey, tag, expiration);
  const r = tryParseCidrRaw(raw);
  if (r === undefined) return undefined;
  const cidr = makeCidr(r.family, r.addr, r.prefixLen);
  return { action, entry: { cidr, tag: tag ?? '', expiration }, raw: formatCidr(r), echoTag: tag };
}

const NULL = ascii('null');
const Q_ADD = ascii('{"action":"add","entry":{"cidr":');
const Q_REMOVE = ascii('{"action":"remove","entry":{"cidr":');
const Q_TAG = ascii(',"tag":');
const Q_EXPIRATION = ascii(',"expiration":');
const Q_METADATA = ascii(',"metadata":null');
const Q_END = ascii('}}');

/**
 * A job at `i` written as Couic (serde) writes it: no whitespace, the keys
 * in struct order, the tag a string or null, metadata null or left out.
 * Read by matching those texts, without the key dispatch of generalJob:
 * undefined when the job is written any other way (generalJob then reads
 * it from its start, and decides).
 */
function quickJob(p: Scanner, now: number): FastPeerJob | undefined {
  let action: 'add' | 'remove';
  if (p.lit(Q_ADD)) action = 'add';
  else if (p.lit(Q_REMOVE)) action = 'remove';
  else return undefined;
  if (p.at(p.i) !== QUOTE || !p.str()) return undefined;
  const raw = p.text();
  if (!p.lit(Q_TAG)) return undefined;
  const tag = p.tagValue(p.at(p.i));
  if (tag === undefined || !p.lit(Q_EXPIRATION)) return undefined;
  const expiration = p.expiration(now);
  if (expiration < 0) return undefined;
  p.lit(Q_METADATA);
  if (!p.lit(Q_END)) return undefined;
  return makeJob(action, raw, tag, expiration);
}

/** A job at `i` (a `{`) in the fast subset, keys in any order; undefined otherwise. */
function generalJob(p: Scanner, now: number): FastPeerJob | undefined {
  p.i += 1;
  let action: 'add' | 'remove' | undefined;
  let raw: string | undefined;
  let tag: string | null = null;
  let expiration = 0;
  let seen = 0;
  let gotEntry = false;
  for (;;) {
    const v = p.key();
    if (v < 0) return undefined;
    if (p.is('action')) {
      if (action !== undefined || v !== QUOTE || !p.str()) return undefined;
      if (p.is('add')) action = 'add';
      else if (p.is('remove')) action = 'remove';
      else return undefined;
    } else if (p.is('entry')) {
      if (gotEntry || v !== LBRACE) return undefined;
      gotEntry = true;
      p.i += 1;
      // ---- the entry object
      for (;;) {
        const w = p.key();
        if (w < 0) return undefined;
        if (p.is('cidr')) {
          if ((seen & F_CIDR) !== 0 || w !== QUOTE || !p.str()) return undefined;
          seen |= F_CIDR;
          raw = p.text();
        } else if (p.is('tag')) {
          if ((seen & F_TAG) !== 0) return undefined;
          seen |= F_TAG;
          const t = p.tagValue(w);
          if (t === undefined) return undefined;
          tag = t;
        } else if (p.is('expiration')) {
          if ((seen & F_EXP) !== 0) return undefined;
          seen |= F_EXP;
          expiration = p.expiration(now);
          if (expiration < 0) return undefined;
        } else if (p.is('metadata')) {
          if ((seen & F_META) !== 0 || !p.nul()) return undefined;
          seen |= F_META;
        } else {
          return undefined;
        }
        const m = p.next();
        if (m < 0) return undefined;
        if (m === 0) break;
      }
      if ((seen & (F_CIDR | F_EXP)) !== (F_CIDR | F_EXP)) return undefined;
    } else {
      return undefined;
    }
    const m = p.next();
    if (m < 0) return undefined;
    if (m === 0) break;
  }
  if (action === undefined || raw === undefined) return undefined;
  return makeJob(action, raw, tag, expiration);
}

/**
 * Decodes a peer body (its bytes: no string of the whole body is made) when
 * it is in the fast subset, else undefined. `now`: unix seconds, for the
 * expiration check.
 */
export function scanPeerJobs(body: Buffer, now: number): FastPeerJob[] | undefined {
  const p = new Scanner(body);
  const out: FastPeerJob[] = [];
  if (p.ws() !== LBRACKET) return undefined;
  p.i += 1;
  let c = p.ws();
  if (c === RBRACKET) {
    p.i += 1;
    p.ws();
    return p.i === p.n ? out : undefined;
  }
  for (;;) {
    if (c !== LBRACE) return undefined;
    const start = p.i;
    let job = quickJob(p, now);
    if (job === undefined) {
      p.i = start;
      job = generalJob(p, now);
      if (job === undefined) return undefined;
    }
    out.push(job);
    // ---- `,` or `]`
    c = p.ws();
    p.i += 1;
    if (c === RBRACKET) break;
    if (c !== COMMA) return undefined;
    c = p.ws();
  }
  p.ws();
  return p.i === p.n ? out : undefined;
}

const ECHO_ADD = ascii('{"action":"add","entry":{"cidr":"');
const ECHO_REMOVE = ascii('{"action":"remove","entry":{"cidr":"');
const ECHO_TAG_NULL = ascii('","tag":null');
const ECHO_TAG = ascii('","tag":"');
const ECHO_EXP = ascii(',"expiration":');
const ECHO_END = ascii(',"metadata":null}}');

/** Writes the char codes of `s` (all below 0x80) at `off`; returns the end. */
function put(out: Buffer, off: number, s: string): number {
  for (let i = 0; i < s.length; i += 1) out[off + i] = s.charCodeAt(i);
  return off + s.length;
}

/** `b` (a few bytes: a loop costs less than TypedArray#set) at `off`; returns the end. */
function putBytes(out: Buffer, off: number, b: Buffer): number {
  for (let i = 0; i < b.length; i += 1) out[off + i] = b[i]!;
  return off + b.length;
}

/** Decimal digits of a non-negative integer below 2^53. */
function digitCount(n: number): number {
  let d = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) d += 1;
  return d;
}

/**
 * The 201 body for jobs of the fast path: each job as
 * `{"action":…,"entry":{"cidr":raw,"tag":…,"expiration":…,"metadata":null}}`.
 * Cidrs (digits, hex, `.:/`) and tags (tagError: `[A-Za-z0-9_-]`) are
 * ASCII and need no escaping, so the bytes are written straight into one
 * buffer: no string per job.
 */
export function peerEcho(jobs: readonly FastPeerJob[]): Buffer {
  let size = 1 + Math.max(1, jobs.length); // brackets and commas
  for (let i = 0; i < jobs.length; i += 1) {
    const j = jobs[i]!;
    size += (j.action === 'add' ? ECHO_ADD.length : ECHO_REMOVE.length) + j.raw.length
      + (j.echoTag === null ? ECHO_TAG_NULL.length : ECHO_TAG.length + j.echoTag.length + 1) + ECHO_EXP.length
      + digitCount(j.entry.expiration) + ECHO_END.length;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = LBRACKET;
  let off = 1;
  for (let i = 0; i < jobs.length; i += 1) {
    const j = jobs[i]!;
    if (i > 0) out[off++] = COMMA;
    off = putBytes(out, off, j.action === 'add' ? ECHO_ADD : ECHO_REMOVE);
    off = put(out, off, j.raw);
    if (j.echoTag === null) {
      off = putBytes(out, off, ECHO_TAG_NULL);
    } else {
      off = putBytes(out, off, ECHO_TAG);
      off = put(out, off, j.echoTag);
      out[off++] = QUOTE;
    }
    off = putBytes(out, off, ECHO_EXP);
    let n = j.entry.expiration;
    const end = off + digitCount(n);
    for (let k = end - 1; k >= off; k -= 1) {
      out[k] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    off = putBytes(out, end, ECHO_END);
  }
  out[off] = RBRACKET;
  return out.subarray(0, off + 1);
}
