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
    if (k < 0) return -1;
    const len = k % 64;
    const a = (k - len) / 64;
    out[0] = a >>> 24;
    out[1] = (a >>> 16) & 255;
    out[2] = (a >>> 8) & 255;
    out[3] = a & 255;
    return len;
  }
  const raw = tryParseCidrRaw(key);
  if (raw === undefined || raw.family !== 6) return -1;
  out.set(raw.addr);
  return raw.prefixLen;
}

/**
 * "a.b.c.d/len" -> addr * 64 + len (a number below 2^38), or -1 when the
 * text is not a canonical IPv4 CIDR.
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
      let len = 0;
      let ld = 0;
      for (let j = i + 1; j < n; j += 1) {
        const d = key.charCodeAt(j);
        if (d < 48 || d > 57 || ld >= 2) return -1;
        len = len * 10 + (d - 48);
        ld += 1;
      }
      return ld > 0 && len <= 32 ? addr * 64 + len : -1;
    } else {
      return -1;
    }
  }
  return -1;
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
