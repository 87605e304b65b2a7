/**
 * Store keys: the canonical CIDR text an entry is stored under, and for
 * IPv4 its key number (v4-key.ts), which the state indexes instead of the
 * text.
 * Address bytes are derived from the key when the kernel needs them, so the
 * state never keeps a Uint8Array per entry.
 */
import type { Cidr, Family } from '../domain/types.js';
import { tryParseCidrRaw } from './cidr.js';
import { v4KeyBytes, v4KeyNum } from './v4-key.js';

/** Prefix length encoded in a key ("a.b.c.d/len", "x::/len"). */
export function keyPrefixLen(key: string): number {
  let n = 0;
  let mul = 1;
  for (let i = key.length - 1; i >= 0; i -= 1) {
    const c = key.charCodeAt(i);
    if (c === 47 /* / */) return n;
    n += (c - 48) * mul;
    mul *= 10;
  }
  return -1;
}

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

/** A Cidr that carries its IPv4 key number (v4KeyNum of its text). */
export interface KeyedCidr extends Cidr {
  readonly key4: number;
}

/** IPv4 key number of `cidr` (a normalized Cidr), -1 for IPv6: carried by the parsers that computed it, else read from the text. */
export function cidrKeyNum(cidr: Cidr): number {
  if (cidr.family !== 4) return -1;
  const k = (cidr as Partial<KeyedCidr>).key4;
  return k !== undefined ? k : v4KeyNum(cidr.text);
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
    return keyPrefixLen(this.text);
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
