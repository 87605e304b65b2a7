/**
 * GET /v1/{policy} as a stream: the JSON of a copy of the entries
 * (core listCopy), cut into pieces of about CHUNK_CHARS, byte for byte what
 * `JSON.stringify(list.map(entryJson))` gives (Couic's shape):
 * `[{"creation":…,"cidr":"…","tag":"…","expiration":…},…]`. Its byte
 * length is computed first (entryListLength) so the answer keeps Couic's
 * `content-length` framing, for HTTP/1.0 clients too.
 */
import type { EntryListCopy } from '../core/model/types.js';

/** About 64 KiB of JSON per piece (entries are ASCII). */
export const CHUNK_CHARS = 64 * 1024;

const tagJsonOf = (cache: Map<string, string>, tag: string): string => {
  let t = cache.get(tag);
  if (t === undefined) {
    t = JSON.stringify(tag);
    cache.set(tag, t);
  }
  return t;
};

/** Bytes of `{"creation":,"cidr":"","tag":,"expiration":}` around the values. */
const ENTRY_FIXED = Buffer.byteLength('{"creation":,"cidr":"","tag":,"expiration":}');

/** Byte length of what entryListJson(copy) yields, without building it. */
export function entryListLength(copy: EntryListCopy): number {
  const tagBytes = new Map<string, number>();
  let n = 2 + Math.max(0, copy.size - 1);
  for (let i = 0; i < copy.size; i += 1) {
    const tag = copy.tag(i);
    let t = tagBytes.get(tag);
    if (t === undefined) {
      t = Buffer.byteLength(JSON.stringify(tag));
      tagBytes.set(tag, t);
    }
    n += ENTRY_FIXED + String(copy.creation(i)).length + copy.cidr(i).length + t + String(copy.expiration(i)).length;
  }
  return n;
}

export function* entryListJson(copy: EntryListCopy, chunkChars: number = CHUNK_CHARS): Generator<string> {
  const tagJson = new Map<string, string>();
  let out = '[';
  for (let i = 0; i < copy.size; i += 1) {
    const t = tagJsonOf(tagJson, copy.tag(i));
    // CIDR texts are canonical (digits, dots, colons, hex, a slash): no escaping.
    out += `${i === 0 ? '' : ','}{"creation":${copy.creation(i)},"cidr":"${copy.cidr(i)}","tag":${t},"expiration":${copy.expiration(i)}}`;
    if (out.length >= chunkChars) {
      yield out;
      out = '';
    }
  }
  yield `${out}]`;
}
