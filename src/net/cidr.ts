/**
 * CIDR and address text handling, as pure functions.
 *
 * Couic v1 uses two address grammars (spec §1.5) and we reproduce both
 * exactly, so this file carries its own small recursive-descent parser
 * (a transcription of the Rust parsers Couic relies on) instead of
 * ipaddr.js: ipaddr.js reads `010.0.0.1` as octal and accepts zone ids and
 * short IPv4 forms, which neither grammar allows.
 *
 * - grammar (1), "ipnet": request bodies, set files, couicctl arguments.
 *   `<addr>/<len>` mandatory; IPv4 octets accept leading zeros; prefix has at
 *   most 2 (v4) or 3 (v6) decimal digits.
 * - grammar (2), "std": the `{ip}` and `{prefix}` path segments. IPv4 octets
 *   with leading zeros are rejected; the prefix is a Rust `u8`.
 *
 * Output follows Rust's `Display`: IPv4 dotted quad, IPv6 lower case with
 * the longest run (>= 2) of zero groups compressed (first on ties) and
 * IPv4-mapped addresses as `::ffff:a.b.c.d`.
 */
import type { Cidr, Family } from '../domain/types.js';
import { GRAMMAR1_RAW, scanV4, v4KeyBytes } from './v4-key.js';

/** The message Couic gives for every grammar (1) failure. */
export const CIDR_SYNTAX_MESSAGE = 'invalid IP address syntax';

export class CidrSyntaxError extends Error {
  constructor(message: string = CIDR_SYNTAX_MESSAGE) {
    super(message);
    this.name = 'CidrSyntaxError';
  }
}

/** A bare address: family + network-order bytes. */
export interface IpAddress {
  readonly family: Family;
  readonly addr: Uint8Array;
}

export function maxPrefix(family: Family): 32 | 128 {
  return family === 4 ? 32 : 128;
}

// ---------------------------------------------------------------- parser

class Reader {
  pos = 0;
  readonly s: string;
  constructor(s: string) {
    this.s = s;
  }

  atEnd(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): string | undefined {
    return this.s[this.pos];
  }

  /** Run `fn`; on failure (undefined) rewind to where it started. */
  atomically<T>(fn: () => T | undefined): T | undefined {
    const start = this.pos;
    const out = fn();
    if (out === undefined) this.pos = start;
    return out;
  }

  char(c: string): true | undefined {
    if (this.s[this.pos] === c) {
      this.pos += 1;
      return true;
    }
    return undefined;
  }

  /**
   * Up to `maxDigits` digits of `radix`, value < `upTo`. With
   * `allowZeroPrefix` false, `0` alone is fine but `01` is rejected.
   */
  number(radix: 10 | 16, maxDigits: number, upTo: number, allowZeroPrefix: boolean): number | undefined {
    return this.atomically(() => {
      const first = this.peek();
      let value = 0;
      let digits = 0;
      while (digits < maxDigits) {
        const d = digitValue(this.peek(), radix);
        if (d === undefined) break;
        value = value * radix + d;
        digits += 1;
        this.pos += 1;
      }
      if (digits === 0 || value >= upTo) return undefined;
      if (!allowZeroPrefix && first === '0' && digits > 1) return undefined;
      return value;
    });
  }
}

function digitValue(c: string | undefined, radix: 10 | 16): number | undefined {
  if (c === undefined || c.length !== 1) return undefined;
  const code = c.charCodeAt(0);
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (radix === 16) {
    if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
    if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  }
  return undefined;
}

function readIpv4(r: Reader, leadingZeros: boolean): number[] | undefined {
  return r.atomically(() => {
    const octets: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      if (i > 0 && r.char('.') === undefined) return undefined;
      const n = r.number(10, 3, 256, leadingZeros);
      if (n === undefined) return undefined;
      octets.push(n);
    }
    return octets;
  });
}

/** Reads up to `limit` groups; an IPv4 tail counts as two and ends the run. */
function readGroups(r: Reader, groups: number[], limit: number, leadingZeros: boolean): { size: number; ipv4: boolean } {
  for (let i = 0; i < limit; i += 1) {
    if (i < limit - 1) {
      const v4 = r.atomically(() => {
        if (i > 0 && r.char(':') === undefined) return undefined;
        return readIpv4(r, leadingZeros);
      });
      if (v4 !== undefined) {
        groups[i] = ((v4[0] ?? 0) << 8) | (v4[1] ?? 0);
        groups[i + 1] = ((v4[2] ?? 0) << 8) | (v4[3] ?? 0);
        return { size: i + 2, ipv4: true };
      }
    }
    const g = r.atomically(() => {
      if (i > 0 && r.char(':') === undefined) return undefined;
      return r.number(16, 4, 0x10000, true);
    });
    if (g === undefined) return { size: i, ipv4: false };
    groups[i] = g;
  }
  return { size: limit, ipv4: false };
}

function readIpv6(r: Reader, leadingZeros: boolean): number[] | undefined {
  return r.atomically(() => {
    const head: number[] = [];
    const h = readGroups(r, head, 8, leadingZeros);
    if (h.size === 8) return head;
    if (h.ipv4) return undefined; // an IPv4 part cannot precede `::`
    if (r.char(':') === undefined || r.char(':') === undefined) return undefined;
    // `::` stands for at least one zero group, so the tail has at most 7 - head groups.
    const tail: number[] = [];
    const t = readGroups(r, tail, 8 - (h.size + 1), leadingZeros);
    const groups = new Array<number>(8).fill(0);
    for (let i = 0; i < h.size; i += 1) groups[i] = head[i] ?? 0;
    for (let i = 0; i < t.size; i += 1) groups[8 - t.size + i] = tail[i] ?? 0;
    return groups;
  });
}

function v4Bytes(octets: readonly number[]): Uint8Array {
  return Uint8Array.from(octets);
}

function v6Bytes(groups: readonly number[]): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i += 1) {
    const g = groups[i] ?? 0;
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  return out;
}

// ------------------------------------------------------------ public API

/**
 * Grammar (1) without normalization: the address as typed (host bits kept).
 * Returns undefined on any syntax error.
 */
export function tryParseCidrRaw(text: string): { family: Family; addr: Uint8Array; prefixLen: number } | undefined {
  // IPv4 is tried first (whole string), then IPv6, like ipnet's IpNet::from_str.
  const k4 = scanV4(text, 0, text.length, GRAMMAR1_RAW);
  if (k4 >= 0) {
    const addr = new Uint8Array(4);
    return { family: 4, addr, prefixLen: v4KeyBytes(k4, addr) };
  }
  const r = new Reader(text);
  const g = readIpv6(r, true);
  if (g === undefined || r.char('/') === undefined) return undefined;
  const len = r.number(10, 3, 129, true);
  if (len === undefined || !r.atEnd()) return undefined;
  return { family: 6, addr: v6Bytes(g), prefixLen: len };
}

/** Grammar (1), normalized (host bits zeroed). Undefined on syntax error. */
export function tryParseCidr(text: string): Cidr | undefined {
  const raw = tryParseCidrRaw(text);
  return raw === undefined ? undefined : makeCidr(raw.family, raw.addr, raw.prefixLen);
}

/** Grammar (1), normalized. Throws CidrSyntaxError("invalid IP address syntax"). */
export function parseCidr(text: string): Cidr {
  const c = tryParseCidr(text);
  if (c === undefined) throw new CidrSyntaxError();
  return c;
}

/** True when `text` satisfies grammar (1) (set files are checked this way, unnormalized). */
export function isCidrText(text: string): boolean {
  return tryParseCidrRaw(text) !== undefined;
}

/**
 * Grammar (2) address (Rust `IpAddr::from_str`): IPv4 leading zeros
 * rejected. Undefined on error.
 */
export function parsePathIp(ip: string): IpAddress | undefined {
  return tryParseIp(ip, { leadingZeros: false });
}

/**
 * Grammar (2) prefix: a Rust `u8` (optional `+`, decimal digits, value
 * <= 255). The family range is checked separately. Undefined on error.
 */
export function parsePathPrefix(p: string): number | undefined {
  if (!/^\+?[0-9]+$/.test(p)) return undefined;
  const digits = p.startsWith('+') ? p.slice(1) : p;
  const n = Number.parseInt(digits, 10);
  return n <= 255 ? n : undefined;
}

/** Builds a normalized Cidr (copies `addr`, zeroes the host bits). */
export function makeCidr(family: Family, addr: Uint8Array, prefixLen: number): Cidr {
  const size = family === 4 ? 4 : 16;
  if (addr.length !== size) throw new RangeError(`IPv${family} address must be ${size} bytes, got ${addr.length}`);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > size * 8) {
    throw new RangeError(`Prefix must be between 0 and ${size * 8}, got ${prefixLen}`);
  }
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 1) {
    const bitsHere = Math.max(0, Math.min(8, prefixLen - i * 8));
    const mask = bitsHere === 0 ? 0 : (0xff << (8 - bitsHere)) & 0xff;
    out[i] = (addr[i] ?? 0) & mask;
  }
  return { family, addr: out, prefixLen, text: `${formatAddr(family, out)}/${prefixLen}` };
}

/** Canonical text of a CIDR (same as `cidr.text`). */
export function formatCidr(c: { family: Family; addr: Uint8Array; prefixLen: number }): string {
  return `${formatAddr(c.family, c.addr)}/${c.prefixLen}`;
}

/** Rust `Display` for Ipv4Addr / Ipv6Addr. */
export function formatAddr(family: Family, addr: Uint8Array): string {
  if (family === 4) return `${addr[0] ?? 0}.${addr[1] ?? 0}.${addr[2] ?? 0}.${addr[3] ?? 0}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i += 1) groups.push(((addr[i * 2] ?? 0) << 8) | (addr[i * 2 + 1] ?? 0));
  // IPv4-mapped ::ffff:a.b.c.d
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${addr[12] ?? 0}.${addr[13] ?? 0}.${addr[14] ?? 0}.${addr[15] ?? 0}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Parses the text of a bare address with grammar (1)'s address rules (leading zeros ok). */
export function tryParseIp(text: string, opts: { leadingZeros?: boolean } = {}): IpAddress | undefined {
  const lz = opts.leadingZeros ?? true;
  const r4 = new Reader(text);
  const v4 = readIpv4(r4, lz);
  if (v4 !== undefined && r4.atEnd()) return { family: 4, addr: v4Bytes(v4) };
  const r6 = new Reader(text);
  const v6 = readIpv6(r6, lz);
  if (v6 !== undefined && r6.atEnd()) return { family: 6, addr: v6Bytes(v6) };
  return undefined;
}

/** Identity key of a CIDR: (family, network, prefix). Equal to the canonical text. */
export function cidrKey(c: Cidr): string {
  return c.text;
}

/** True when `inner` is equal to or inside `outer` (same family). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefixLen < outer.prefixLen) return false;
  const masked = makeCidr(inner.family, inner.addr, outer.prefixLen);
  return masked.text === outer.text;
}
