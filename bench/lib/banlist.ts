/**
 * Seeded ban lists for the benches: IPv4 drop prefixes (/32 bans, or a
 * /24-heavy CIDR mix), duplicate-free, with sources that hit an entry and
 * sources no entry covers. Shared by the data-plane bench (BPF_PROG_TEST_RUN)
 * and the traffic bench (real frames), so both measure the same lists.
 */
import type { MapOp } from '../../src/xdp/types.js';

/** mulberry32: small, fast, seeded. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Unicast, not 0/8, 10/8, 127/8, 169.254/16, 192.0/16 (miss probes live there), 198.18/15, not ≥ 224/4. */
export function usableV4(a: number): boolean {
  const o1 = a >>> 24;
  const o2 = (a >>> 16) & 0xff;
  if (o1 === 0 || o1 === 10 || o1 === 127 || o1 >= 224) return false;
  if (o1 === 198 && (o2 === 18 || o2 === 19)) return false;
  if (o1 === 192 && o2 === 0) return false;
  if (o1 === 169 && o2 === 254) return false;
  return true;
}

export const maskOf = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
export const prefixKey = (net: number, len: number): number => net * 64 + len;

export type Kind = 'exact' | 'cidr';

/** A growing, duplicate-free list of drop prefixes with hit and miss sources. */
export class BanList {
  readonly nets: number[] = [];
  readonly lens: number[] = [];
  readonly #keys = new Set<number>();
  readonly #rand: () => number;
  readonly kind: Kind;

  constructor(kind: Kind, seed: number) {
    this.kind = kind;
    this.#rand = prng(seed);
  }

  get size(): number {
    return this.nets.length;
  }

  #len(): number {
    if (this.kind === 'exact') return 32;
    const r = this.#rand() / 0x1_0000_0000;
    if (r < 0.85) return 24;
    if (r < 0.95) return 21 + (this.#rand() % 3); // /21–/23
    return 25 + (this.#rand() % 6); // /25–/30
  }

  /** Adds `n` new distinct prefixes; returns their indexes [from, to). */
  grow(n: number): [number, number] {
    const from = this.size;
    while (this.size < from + n) {
      const len = this.#len();
      const net = (this.#rand() & maskOf(len)) >>> 0;
      if (!usableV4(net)) continue;
      const key = prefixKey(net, len);
      if (this.#keys.has(key)) continue;
      this.#keys.add(key);
      this.nets.push(net);
      this.lens.push(len);
    }
    return [from, this.size];
  }

  covers(a: number): boolean {
    if (this.kind === 'exact') return this.#keys.has(prefixKey(a, 32));
    for (let len = 21; len <= 30; len++) if (this.#keys.has(prefixKey((a & maskOf(len)) >>> 0, len))) return true;
    return false;
  }

  /** A source inside a random entry. */
  hit(): number {
    const i = this.#rand() % this.size;
    const net = this.nets[i] ?? 0;
    const len = this.lens[i] ?? 32;
    return (net | (this.#rand() & ~maskOf(len))) >>> 0;
  }

  /** A usable source no entry covers. */
  miss(): number {
    for (;;) {
      const a = this.#rand();
      if (usableV4(a) && !this.covers(a)) return a;
    }
  }

  /** Entry i as `a.b.c.d/len`. */
  cidr(i: number): string {
    return `${v4Text(this.nets[i] ?? 0)}/${this.lens[i] ?? 32}`;
  }

  ops(from: number, to: number, kind: MapOp['kind'] = 'add'): MapOp[] {
    const out: MapOp[] = [];
    for (let i = from; i < to; i++) {
      const net = this.nets[i] ?? 0;
      out.push({
        kind,
        policy: 'drop',
        family: 4,
        prefixLen: this.lens[i] ?? 32,
        addr: Uint8Array.of(net >>> 24, (net >>> 16) & 0xff, (net >>> 8) & 0xff, net & 0xff),
        tagId: 1 + (i % 4000),
      });
    }
    return out;
  }
}

export const v4Text = (a: number): string => `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
