/**
 * The one IPv4 CIDR scanner: `a.b.c.d/len` read from a string or from
 * bytes (a set file's buffer) into its key number, `addr * 64 + len` (a
 * number below 2^38), with no object or string made.
 *
 * Two rules tell it apart from one caller to the next, named, not flags:
 *   - leadingZeros: 'allow' is Couic's grammar (1) (`010.0.0.1/8`, `/08`
 *     are fine: request bodies, set files, couicctl); 'reject' reads only
 *     the canonical text (the keys the state stores, the peer fast path).
 *   - hostBits: 'keep' returns the address as written; 'zero' the network
 *     it names (host bits cleared).
 * Octets have 1-3 digits and are <= 255; the prefix has 1-2 digits and is <= 32.
 *
 * The rest of this file is the arithmetic of key numbers.
 */

export interface V4ScanRule {
  readonly leadingZeros: 'allow' | 'reject';
  readonly hostBits: 'keep' | 'zero';
}

/** Stored keys: canonical text, the number as written. */
export const CANONICAL_KEY: V4ScanRule = { leadingZeros: 'reject', hostBits: 'keep' };
/** Grammar (1), the address as written (net/cidr.ts builds the Cidr from it). */
export const GRAMMAR1_RAW: V4ScanRule = { leadingZeros: 'allow', hostBits: 'keep' };
/** Grammar (1), normalized: the key of the network (set files). */
export const GRAMMAR1_NET: V4ScanRule = { leadingZeros: 'allow', hostBits: 'zero' };

/**
 * Key number of the IPv4 CIDR in `src[start, end)`, or -1 when that range
 * is not exactly one under `rule`.
 */
export function scanV4(src: string | Uint8Array, start: number, end: number, rule: V4ScanRule): number {
  const text = typeof src === 'string';
  const strict = rule.leadingZeros === 'reject';
  let addr = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let i = start;
  for (; i < end; i += 1) {
    const c = text ? src.charCodeAt(i) : src[i]!;
    if (c >= 48 && c <= 57) {
      if (strict && digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      digits += 1;
      if (digits > 3 || octet > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      addr = addr * 256 + octet;
      octet = 0;
      digits = 0;
      dots += 1;
    } else if (c === 47 && digits > 0 && dots === 3) {
      addr = addr * 256 + octet;
      break;
    } else {
      return -1;
    }
  }
  if (i >= end) return -1;
  const ps = i + 1;
  const pl = end - ps;
  if (pl < 1 || pl > 2) return -1;
  const d0 = (text ? src.charCodeAt(ps) : src[ps]!) - 48;
  if (d0 < 0 || d0 > 9) return -1;
  let len = d0;
  if (pl === 2) {
    const d1 = (text ? src.charCodeAt(ps + 1) : src[ps + 1]!) - 48;
    if ((strict && d0 === 0) || d1 < 0 || d1 > 9) return -1;
    len = d0 * 10 + d1;
  }
  if (len > 32) return -1;
  if (rule.hostBits === 'zero' && len < 32) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    addr = (addr & mask) >>> 0;
  }
  return addr * 64 + len;
}

/** Key number of a canonical IPv4 key text ("a.b.c.d/len", no leading zeros), -1 when it is not one. */
export function v4KeyNum(key: string): number {
  return scanV4(key, 0, key.length, CANONICAL_KEY);
}

/** The IPv4 address (a u32) of key number `k` (its prefix length is k % 64). */
export function v4KeyAddr(k: number): number {
  return (k - (k % 64)) / 64;
}

/** Writes the 4 address bytes of IPv4 key number `k` into `out`; returns the prefix length. */
export function v4KeyBytes(k: number, out: Uint8Array): number {
  const len = k % 64;
  const a = v4KeyAddr(k);
  out[0] = a >>> 24;
  out[1] = (a >>> 16) & 255;
  out[2] = (a >>> 8) & 255;
  out[3] = a & 255;
  return len;
}

/** IPv4 key number `k` with its host bits zeroed: the key of the network it names. */
export function v4NetKey(k: number): number {
  const len = k % 64;
  if (len === 0) return 0;
  const a = (k - len) / 64;
  return (a - (a % 2 ** (32 - len))) * 64 + len;
}

/** The canonical text of IPv4 key number `num`. */
export function v4KeyText(num: number): string {
  const len = num % 64;
  const a = (num - len) / 64;
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`;
}
