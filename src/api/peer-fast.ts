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
 * keys in any order, each at most once, JSON whitespace anywhere. Anything
 * else — an escape or control character in a string, another key, a
 * metadata object, a number with a sign, fraction or exponent or more than
 * 15 digits, a missing field, an invalid cidr, tag or expiration, any syntax
 * error — makes it give up (undefined) and the strict reader decodes the
 * body and produces the exact error. Every document it accepts decodes to
 * the same jobs through the strict reader (test/unit/peer-fast.test.ts).
 */
import type { Cidr, PeerJob } from '../core/types.js';
import { formatCidr, makeCidr, tryParseCidrRaw } from '../net/cidr.js';
import { tagError } from './validate.js';

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

/** A normalized IPv4 cidr built without the generic parser. */
class V4Cidr implements Cidr {
  readonly family = 4 as const;
  readonly addr: Uint8Array;
  readonly prefixLen: number;
  readonly text: string;
  constructor(addr: Uint8Array, prefixLen: number, text: string) {
    this.addr = addr;
    this.prefixLen = prefixLen;
    this.text = text;
  }
}

/**
 * `a.b.c.d/len` written canonically (no leading zeros, so the echo is the
 * text itself): the normalized cidr, or undefined (then the generic parser
 * decides).
 */
function canonicalV4(s: string): Cidr | undefined {
  const n = s.length;
  let addr = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let i = 0;
  for (; i < n; i += 1) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - 48);
      digits += 1;
      if (octet > 255) return undefined;
    } else if (c === 46 && digits > 0 && dots < 3) {
      addr = addr * 256 + octet;
      octet = 0;
      digits = 0;
      dots += 1;
    } else if (c === 47 && digits > 0 && dots === 3) {
      addr = addr * 256 + octet;
      break;
    } else {
      return undefined;
    }
  }
  if (i >= n - 1 || n - i > 3) return undefined;
  const d1 = s.charCodeAt(i + 1) - 48;
  if (d1 < 0 || d1 > 9) return undefined;
  let len = d1;
  if (n - i === 3) {
    const d2 = s.charCodeAt(i + 2) - 48;
    if (d1 === 0 || d2 < 0 || d2 > 9) return undefined;
    len = d1 * 10 + d2;
    if (len > 32) return undefined;
  }
  const net = len === 0 ? 0 : (addr - (addr % 2 ** (32 - len)));
  const bytes = new Uint8Array(4);
  bytes[0] = net >>> 24;
  bytes[1] = (net >>> 16) & 255;
  bytes[2] = (net >>> 8) & 255;
  bytes[3] = net & 255;
  const text = net === addr ? s : `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}/${len}`;
  return new V4Cidr(bytes, len, text);
}

/** Scanner state; `i` is the read position. */
class Scanner {
  i = 0;
  readonly s: string;
  readonly n: number;
  /** Bounds of the last string read (without quotes). */
  a = 0;
  b = 0;
  constructor(s: string) {
    this.s = s;
    this.n = s.length;
  }

  /** Skips JSON whitespace; returns the next char code (NaN at the end). */
  ws(): number {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i += 1;
      else {
        this.i = i;
        return c;
      }
    }
  }

  /** A string without escapes or control characters at `i` (a quote); sets a/b. */
  str(): boolean {
    const s = this.s;
    const n = this.n;
    let i = this.i + 1;
    const a = i;
    for (; i < n; i += 1) {
      const c = s.charCodeAt(i);
      if (c === QUOTE) {
        this.a = a;
        this.b = i;
        this.i = i + 1;
        return true;
      }
      if (c === BACKSLASH || c < 0x20) return false;
    }
    return false;
  }

  /** The last string equals `word`. */
  is(word: string): boolean {
    return this.b - this.a === word.length && this.s.startsWith(word, this.a);
  }

  /** `null` at `i`. */
  nul(): boolean {
    if (!this.s.startsWith('null', this.i)) return false;
    this.i += 4;
    return true;
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
}

/**
 * Decodes a peer body when it is in the fast subset, else undefined.
 * `now`: unix seconds, for the expiration check.
 */
export function scanPeerJobs(text: string, now: number): FastPeerJob[] | undefined {
  const p = new Scanner(text);
  const s = text;
  const out: FastPeerJob[] = [];
  /** Validated tags of this body, as flat copies (no slice keeps the body alive). */
  const tags = new Map<string, string>();
  if (p.ws() !== LBRACKET) return undefined;
  p.i += 1;
  let c = p.ws();
  if (c === RBRACKET) {
    p.i += 1;
    p.ws();
    return p.i === p.n ? out : undefined;
  }
  for (;;) {
    // ---- one job
    if (c !== LBRACE) return undefined;
    p.i += 1;
    let action: 'add' | 'remove' | undefined;
    let cidr: Cidr | undefined;
    let raw = '';
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
            const t = s.slice(p.a, p.b);
            cidr = canonicalV4(t);
            if (cidr !== undefined) {
              raw = t;
            } else {
              const r = tryParseCidrRaw(t);
              if (r === undefined) return undefined;
              raw = formatCidr(r);
              cidr = makeCidr(r.family, r.addr, r.prefixLen);
            }
          } else if (p.is('tag')) {
            if ((seen & F_TAG) !== 0) return undefined;
            seen |= F_TAG;
            if (w === QUOTE) {
              if (!p.str()) return undefined;
              const t = s.slice(p.a, p.b);
              let ok = tags.get(t);
              if (ok === undefined) {
                if (tagError(t) !== undefined) return undefined;
                ok = Buffer.from(t, 'utf8').toString('utf8');
                tags.set(ok, ok);
              }
              tag = ok;
            } else if (!p.nul()) {
              return undefined;
            }
          } else if (p.is('expiration')) {
            if ((seen & F_EXP) !== 0) return undefined;
            seen |= F_EXP;
            // digits only, no leading zero, at most 15 (exact as a double)
            let i = p.i;
            let n = 0;
            const start = i;
            for (;;) {
              const d = s.charCodeAt(i) - 48;
              if (!(d >= 0 && d <= 9)) break;
              n = n * 10 + d;
              i += 1;
            }
            const len = i - start;
            if (len === 0 || len > 15 || (len > 1 && s.charCodeAt(start) === 48)) return undefined;
            const after = s.charCodeAt(i);
            if (after === 46 || after === 101 || after === 69) return undefined; // . e E
            if (n !== 0 && n <= now) return undefined;
            expiration = n;
            p.i = i;
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
    if (action === undefined || !gotEntry || cidr === undefined) return undefined;
    out.push({ action, entry: { cidr, tag: tag ?? '', expiration }, raw, echoTag: tag });
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

/** The 201 body for jobs of the fast path (tags and cidrs need no escaping). */
export function peerEcho(jobs: readonly FastPeerJob[]): string {
  if (jobs.length === 0) return '[]';
  const parts = new Array<string>(jobs.length);
  for (let i = 0; i < jobs.length; i += 1) {
    const j = jobs[i]!;
    const tag = j.echoTag === null ? 'null' : `"${j.echoTag}"`;
    parts[i] = `{"action":"${j.action}","entry":{"cidr":"${j.raw}","tag":${tag},"expiration":${j.entry.expiration},"metadata":null}}`;
  }
  return `[${parts.join(',')}]`;
}
