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
    // Fast path for "a.b.c.d/len" (canonical: no leading zeros, no spaces).
    let octet = 0;
    let idx = 0;
    let digits = 0;
    const n = key.length;
    for (let i = 0; i < n; i += 1) {
      const c = key.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        octet = octet * 10 + (c - 48);
        digits += 1;
        if (digits > 3 || octet > 255) return -1;
      } else if (c === 46 /* . */ || c === 47 /* / */) {
        if (digits === 0 || idx > 3) return -1;
        out[idx] = octet;
        idx += 1;
        octet = 0;
        digits = 0;
        if (c === 47) {
          if (idx !== 4) return -1;
          const len = Number(key.slice(i + 1));
          return Number.isInteger(len) && len >= 0 && len <= 32 && i + 1 < n ? len : -1;
        }
      } else {
        return -1;
      }
    }
    return -1;
  }
  const raw = tryParseCidrRaw(key);
  if (raw === undefined || raw.family !== 6) return -1;
  out.set(raw.addr);
  return raw.prefixLen;
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
