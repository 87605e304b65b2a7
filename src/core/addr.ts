/**
 * Address bytes derived from a stored key (canonical CIDR text), so the
 * state never keeps a Uint8Array per entry.
 */
import { tryParseCidrRaw } from '../net/cidr.js';
import type { Cidr, Family } from './types.js';

/**
 * Writes the network-order address of `key` into `out` (4 or 16 bytes,
 * by family) and returns the prefix length, or -1 if `key` does not parse.
 */
export function keyToBytes(key: string, family: Family, out: Uint8Array): number {
  if (family === 4) {
    const k = v4KeyNum(key);
    return k < 0 ? -1 : v4KeyBytes(k, out);
  }
  const raw = tryParseCidrRaw(key);
  if (raw === undefined || raw.family !== 6) return -1;
  out.set(raw.addr);
  return raw.prefixLen;
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

/**
 * "a.b.c.d/len" -> addr * 64 + len (a number below 2^38), or -1 when the
 * text is not an IPv4 CIDR written canonically: decimal octets without
 * leading zeros, a prefix length of 0..32 without a leading zero. Host bits
 * are kept (see v4NetKey), so the text is exactly v4KeyText of the result.
 */
export function v4KeyNum(key: string): number {
  let addr = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  const n = key.length;
  for (let i = 0; i < n; i += 1) {
    const c = key.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return -1; // leading zero
      octet = octet * 10 + (c - 48);
      digits += 1;
      if (octet > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      addr = addr * 256 + octet;
      octet = 0;
      digits = 0;
      dots += 1;
    } else if (c === 47 && digits > 0 && dots === 3) {
      addr = addr * 256 + octet;
      const ld = n - i - 1;
      if (ld < 1 || ld > 2) return -1;
      const d1 = key.charCodeAt(i + 1) - 48;
      if (!(d1 >= 0 && d1 <= 9)) return -1;
      let len = d1;
      if (ld === 2) {
        const d2 = key.charCodeAt(i + 2) - 48;
        if (d1 === 0 || !(d2 >= 0 && d2 <= 9)) return -1;
        len = d1 * 10 + d2;
      }
      return len <= 32 ? addr * 64 + len : -1;
    } else {
      return -1;
    }
  }
  return -1;
}

/** IPv4 key number `k` with its host bits zeroed: the key of the network it names. */
export function v4NetKey(k: number): number {
  const len = k % 64;
  if (len === 0) return 0;
  const a = (k - len) / 64;
  return (a - (a % 2 ** (32 - len))) * 64 + len;
}

/** IPv4 key number of `cidr` (a normalized Cidr), -1 for IPv6: carried by the parsers that computed it, else read from the text. */
export function cidrKeyNum(cidr: Cidr): number {
  if (cidr.family !== 4) return -1;
  const k = (cidr as Partial<KeyedCidr>).key4;
  return k !== undefined ? k : v4KeyNum(cidr.text);
}

/** A Cidr that carries its IPv4 key number (v4KeyNum of its text). */
export interface KeyedCidr extends Cidr {
  readonly key4: number;
}

export function v4KeyText(num: number): string {
  const len = num % 64;
  const a = (num - len) / 64;
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`;
}

/** A Cidr backed by its canonical text; `addr` is derived on demand. */
export class StoredCidr implements Cidr {
  readonly family: Family;
  readonly text: string;
  constructor(family: Family, text: string) {
    this.family = family;
    this.text = text;
  }

  get prefixLen(): number {
    return Number(this.text.slice(this.text.lastIndexOf('/') + 1));
  }

  get addr(): Uint8Array {
    const out = new Uint8Array(this.family === 4 ? 4 : 16);
    keyToBytes(this.text, this.family, out);
    return out;
  }

  toJSON(): string {
    return this.text;
  }
}
