/**
 * The planned map ops of a batch, column by column. A set reload plans up to
 * one op per entry (a million): as objects with their key texts they took
 * ~180 bytes each on the heap for the whole round trip to the kernel and the
 * journal; here an op is ~35 bytes of typed arrays. IPv4 keys are kept as
 * their key number only (the text is rebuilt when asked for), IPv6 keys and
 * address bytes in side maps (few), a tag once per tag id.
 */
import { v4KeyText } from '../../net/v4-key.js';

/**
 * What a planned op does to its entry. Not the wire's op kinds (src/xdp/abi.ts
 * OP_KIND): an ADD and an UPDATE both go to the kernel as an upsert; they
 * differ for the state, the journal and the events.
 */
export const PLANNED = { ADD: 1, UPDATE: 2, DELETE: 3 } as const;
export type PlannedKind = (typeof PLANNED)[keyof typeof PLANNED];

/** One planned map op. `prevTagId`: the tag of the entry an UPDATE/DELETE replaces. */
export interface POp {
  readonly kind: PlannedKind;
  readonly store: number;
  readonly key: string;
  /** Kernel map slot (0..7). */
  readonly ks: number;
  /** Address bytes when the request carried them (else derived from the key). */
  readonly addr: Uint8Array | undefined;
  /** IPv4 key number (v4KeyNum of `key`, no re-parsing of the text), -1 for IPv6. */
  readonly k4: number;
  readonly tagId: number;
  readonly tag: string;
  readonly creation: number;
  readonly expiration: number;
  readonly prevTagId: number;
  /** Index of the owning request in the batch. */
  readonly req: number;
}

/** The numeric fields of the ops, one array each (index = op index, valid below OpList.length). */
export interface OpColumns {
  readonly kind: Uint8Array;
  readonly store: Uint8Array;
  readonly ks: Uint8Array;
  readonly k4: Float64Array;
  readonly tagId: Int32Array;
  readonly prevTagId: Int32Array;
  readonly req: Int32Array;
  /** Unix seconds, as the table keeps them (Uint32). */
  readonly creation: Uint32Array;
  readonly expiration: Float64Array;
}

/** Columns of `n` ops holding a copy of `from`. */
function columns(n: number, from?: OpColumns): OpColumns {
  const c: OpColumns = {
    kind: new Uint8Array(n), store: new Uint8Array(n), ks: new Uint8Array(n),
    k4: new Float64Array(n), tagId: new Int32Array(n), prevTagId: new Int32Array(n), req: new Int32Array(n),
    creation: new Uint32Array(n), expiration: new Float64Array(n),
  };
  if (from !== undefined) for (const f of Object.keys(c) as (keyof OpColumns)[]) c[f].set(from[f]);
  return c;
}

const decLen = (v: number): number => (v >= 100 ? 3 : v >= 10 ? 2 : 1);

/** Length of v4KeyText(k4), without building it. */
function v4TextLength(k4: number): number {
  const len = k4 % 64;
  const a = (k4 - len) / 64;
  return decLen((a >>> 24) & 255) + decLen((a >>> 16) & 255) + decLen((a >>> 8) & 255) + decLen(a & 255) + decLen(len) + 4;
}

export class OpList {
  #n = 0;
  #journalBytes = 0;
  #c = columns(16);
  /** Key texts of ops without a key number (k4 < 0), by op index. */
  readonly #text = new Map<number, string>();
  readonly #addr = new Map<number, Uint8Array>();
  /** tag id -> tag; an op whose tag differs from its id's entry keeps it in #tagOf. */
  readonly #tags = new Map<number, string>();
  readonly #tagOf = new Map<number, string>();
  /** tag id -> UTF-8 length of its #tags entry. */
  readonly #tagBytes = new Map<number, number>();

  get length(): number {
    return this.#n;
  }

  /**
   * Size of the journal records of the ops were they all PUTs (journal.ts
   * RecordEncoder; a DEL is shorter): the journal frame of a million-op
   * reload is allocated once at its size, not doubled past it.
   */
  get journalBytes(): number {
    return this.#journalBytes;
  }

  /** The numeric fields (replaced when the list grows: read them again after a push). */
  get cols(): OpColumns {
    return this.#c;
  }

  /** Makes room for `n` more ops at once (no growth copies left behind as garbage). */
  reserve(n: number): void {
    if (this.#n + n > this.#c.kind.length) this.#c = columns(this.#n + n, this.#c);
  }

  /**
   * Appends an op on `key` of `store` (`k4`: its IPv4 key number, -1 for
   * IPv6, whose key text is then kept; `ks`: its kernel map slot) and
   * returns its index. The planner then sets its value (setValue) and its
   * origin (setOrigin), and its address bytes when it has them (setAddr).
   * Field by field, not as a POp: on the per-entry path a peer batch of
   * 10,000 jobs would otherwise leave 10,000 objects alive for the whole
   * round trip to the kernel.
   */
  append(kind: PlannedKind, store: number, key: string, k4: number, ks: number): number {
    if (this.#n === this.#c.kind.length) this.#c = columns(this.#n * 2, this.#c);
    const i = this.#n;
    const c = this.#c;
    c.kind[i] = kind;
    c.store[i] = store;
    c.ks[i] = ks;
    c.k4[i] = k4;
    if (k4 < 0) this.#text.set(i, key);
    this.#n = i + 1;
    return i;
  }

  /** The entry op `i` leaves (for a DELETE: the one it removes). */
  setValue(i: number, tagId: number, tag: string, creation: number, expiration: number): void {
    const c = this.#c;
    c.tagId[i] = tagId;
    c.creation[i] = creation;
    c.expiration[i] = expiration;
    const known = this.#tags.get(tagId);
    let tagBytes = this.#tagBytes.get(tagId);
    if (known === undefined) {
      this.#tags.set(tagId, tag);
      tagBytes = Buffer.byteLength(tag, 'utf8');
      this.#tagBytes.set(tagId, tagBytes);
    } else if (known !== tag) {
      this.#tagOf.set(i, tag);
      tagBytes = Buffer.byteLength(tag, 'utf8');
    }
    const k4 = c.k4[i]!;
    this.#journalBytes += 3 + (k4 >= 0 ? v4TextLength(k4) : this.#text.get(i)!.length) + 14 + tagBytes!;
  }

  /** The request (its index in the batch) op `i` belongs to, and the tag id of the entry it replaces. */
  setOrigin(i: number, req: number, prevTagId: number): void {
    this.#c.req[i] = req;
    this.#c.prevTagId[i] = prevTagId;
  }

  /** Address bytes of op `i`, when the request carried them (else derived from the key when encoded). */
  setAddr(i: number, addr: Uint8Array): void {
    this.#addr.set(i, addr);
  }

  /** Op `i` as an object (for the paths that are not per-entry hot). */
  at(i: number): POp {
    if (i < 0 || i >= this.#n) throw new RangeError(`op ${i} of ${this.#n}`);
    const c = this.#c;
    const k4 = c.k4[i]!;
    // the IPv4 key text is only built if read
    let key = k4 >= 0 ? undefined : this.#text.get(i)!;
    return {
      kind: c.kind[i] as PlannedKind, store: c.store[i]!, ks: c.ks[i]!, addr: this.addrAt(i), k4, tagId: c.tagId[i]!, tag: this.tagAt(i),
      creation: c.creation[i]!, expiration: c.expiration[i]!, prevTagId: c.prevTagId[i]!, req: c.req[i]!,
      get key(): string {
        key ??= v4KeyText(k4);
        return key;
      },
    };
  }

  addrAt(i: number): Uint8Array | undefined {
    return this.#addr.get(i);
  }

  tagAt(i: number): string {
    return this.#tagOf.get(i) ?? this.#tags.get(this.#c.tagId[i]!)!;
  }

  keyAt(i: number): string {
    const k4 = this.#c.k4[i]!;
    return k4 >= 0 ? v4KeyText(k4) : this.#text.get(i)!;
  }
}
