/**
 * A FIFO bounded in items and in bytes. Each item gets a sequence number
 * when pushed; a sender takes a prefix, and on success acknowledges up to
 * the last number it sent, so items pushed (or dropped) while it was in
 * flight are neither lost nor sent twice. When a push exceeds a bound the
 * oldest items are dropped (the caller logs and counts them).
 */
export interface BacklogLimits {
  readonly maxItems: number;
  readonly maxBytes: number;
}

interface Slot<T> {
  readonly seq: number;
  readonly bytes: number;
  readonly value: T;
}

export class Backlog<T> {
  readonly #limits: BacklogLimits;
  #slots: Slot<T>[] = [];
  #head = 0;
  #bytes = 0;
  #nextSeq = 1;

  constructor(limits: BacklogLimits) {
    this.#limits = limits;
  }

  get length(): number {
    return this.#slots.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Appends `value` (`bytes` long once encoded); returns how many old items were dropped to make room. */
  push(value: T, bytes: number): number {
    this.#slots.push({ seq: this.#nextSeq, bytes, value });
    this.#nextSeq += 1;
    this.#bytes += bytes;
    let dropped = 0;
    while (this.length > 1 && (this.length > this.#limits.maxItems || this.#bytes > this.#limits.maxBytes)) {
      this.#shift();
      dropped += 1;
    }
    return dropped;
  }

  /**
   * Up to `maxItems` of the oldest items (and up to `maxBytes` of them, at
   * least one), in order, with the first one's number: item k is numbered
   * `firstSeq + k` (numbers are consecutive, drops only take the oldest).
   */
  peek(maxItems: number, maxBytes = Number.POSITIVE_INFINITY): { values: T[]; firstSeq: number; lastSeq: number } {
    const values: T[] = [];
    const firstSeq = this.length > 0 ? this.#slots[this.#head]!.seq : this.#nextSeq;
    let lastSeq = firstSeq - 1;
    let bytes = 0;
    for (let i = this.#head; i < this.#slots.length && values.length < maxItems; i += 1) {
      const s = this.#slots[i]!;
      if (values.length > 0 && bytes + s.bytes > maxBytes) break;
      values.push(s.value);
      bytes += s.bytes;
      lastSeq = s.seq;
    }
    return { values, firstSeq, lastSeq };
  }

  /** Removes every item numbered up to `seq` (those sent and acknowledged). */
  ack(seq: number): void {
    while (this.length > 0 && this.#slots[this.#head]!.seq <= seq) this.#shift();
  }

  #shift(): void {
    const s = this.#slots[this.#head]!;
    this.#bytes -= s.bytes;
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
  }
}
