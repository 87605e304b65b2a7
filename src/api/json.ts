/**
 * A strict JSON reader and typed decoders that reproduce the error texts of
 * Couic's stack (serde_json + serde derive + serde_path_to_error, as wrapped
 * by axum's `Json` extractor): `trailing comma at line 1 column 13`,
 * `missing field \`cidr\` at line 1 column 20`,
 * `[0].action: unknown variant \`x\`, expected \`add\` or \`remove\` at ...`.
 *
 * JSON.parse cannot do this: it loses the raw text of numbers (u64 range,
 * `1.0` vs `1`), positions and duplicate keys. Documents are parsed in full
 * first, then decoded, so a document with both a syntax error and an earlier
 * type error reports the syntax error (serde_json, which streams, would
 * report the type error); that is the one known divergence.
 */

export interface Pos {
  readonly line: number;
  /** Characters consumed on the line (serde_json's column). */
  readonly col: number;
}

interface Base {
  /** Position just before the value's first character. */
  readonly before: Pos;
  /** Position after its last character. */
  readonly end: Pos;
}

export type JVal =
  | (Base & { readonly t: 'null' })
  | (Base & { readonly t: 'bool'; readonly v: boolean })
  | (Base & { readonly t: 'num'; readonly raw: string; readonly isInt: boolean })
  | (Base & { readonly t: 'str'; readonly v: string })
  | (Base & { readonly t: 'arr'; readonly items: readonly JVal[] })
  | (Base & { readonly t: 'obj'; readonly entries: ReadonlyArray<readonly [string, JVal, Pos]> });

/** Category "Syntax"/"Eof" of serde_json: axum answers 400. */
export class JsonSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

/** Category "Data" of serde_json: axum answers 422. */
export class JsonDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonDataError';
  }
}

const at = (p: Pos): string => ` at line ${p.line} column ${p.col}`;

/**
 * serde_json's recursion limit: the 128th nested array/object is refused
 * ("recursion limit exceeded", a syntax error: 400). It also bounds the
 * recursion of this parser and of every decoder (no stack overflow, a 500).
 */
export const MAX_DEPTH = 127;

class Parser {
  private i = 0;
  private depth = 0;
  private line = 1;
  private col = 0;
  private readonly s: string;

  constructor(s: string) {
    this.s = s;
  }

  pos(): Pos {
    return { line: this.line, col: this.col };
  }

  /** serde_json's peek_position: the column of the next character. */
  private peekPos(): Pos {
    return this.i < this.s.length ? { line: this.line, col: this.col + 1 } : this.pos();
  }

  private peek(): string | undefined {
    return this.s[this.i];
  }

  private eat(): string | undefined {
    const c = this.s[this.i];
    if (c === undefined) return undefined;
    this.i += 1;
    if (c === '\n') {
      this.line += 1;
      this.col = 0;
    } else {
      this.col += 1;
    }
    return c;
  }

  private peekErr(msg: string): never {
    throw new JsonSyntaxError(msg + at(this.peekPos()));
  }

  private err(msg: string): never {
    throw new JsonSyntaxError(msg + at(this.pos()));
  }

  private ws(): string | undefined {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\n' || c === '\t' || c === '\r') this.eat();
      else return c;
    }
  }

  document(): JVal {
    const v = this.value();
    if (this.ws() !== undefined) this.peekErr('trailing characters');
    return v;
  }

  private value(): JVal {
    const c = this.ws();
    const before = this.pos();
    switch (c) {
      case undefined:
        return this.peekErr('EOF while parsing a value');
      case 'n':
        this.eat();
        this.ident('ull');
        return { t: 'null', before, end: this.pos() };
      case 't':
        this.eat();
        this.ident('rue');
        return { t: 'bool', v: true, before, end: this.pos() };
      case 'f':
        this.eat();
        this.ident('alse');
        return { t: 'bool', v: false, before, end: this.pos() };
      case '"':
        this.eat();
        return { t: 'str', v: this.string(), before, end: this.pos() };
      case '[': {
        this.enter();
        this.eat();
        const items: JVal[] = [];
        let first = true;
        for (;;) {
          let p = this.ws();
          if (p === ']') break;
          if (p === ',' && !first) {
            this.eat();
            p = this.ws();
          } else if (p === undefined) {
            this.peekErr('EOF while parsing a list');
          } else if (!first) {
            this.peekErr('expected `,` or `]`');
          }
          first = false;
          if (p === ']') this.peekErr('trailing comma');
          if (p === undefined) this.peekErr('EOF while parsing a value');
          items.push(this.value());
        }
        this.eat();
        this.depth -= 1;
        return { t: 'arr', items, before, end: this.pos() };
      }
      case '{': {
        this.enter();
        this.eat();
        const entries: Array<readonly [string, JVal, Pos]> = [];
        let first = true;
        for (;;) {
          let p = this.ws();
          if (p === '}') break;
          if (p === ',' && !first) {
            this.eat();
            p = this.ws();
          } else if (p === undefined) {
            this.peekErr('EOF while parsing an object');
          } else if (!first) {
            this.peekErr('expected `,` or `}`');
          }
          first = false;
          if (p === '}') this.peekErr('trailing comma');
          if (p === undefined) this.peekErr('EOF while parsing a value');
          if (p !== '"') this.peekErr('key must be a string');
          this.eat();
          const key = this.string();
          const keyEnd = this.pos();
          const colon = this.ws();
          if (colon === undefined) this.peekErr('EOF while parsing an object');
          if (colon !== ':') this.peekErr('expected `:`');
          this.eat();
          entries.push([key, this.value(), keyEnd]);
        }
        this.eat();
        this.depth -= 1;
        return { t: 'obj', entries, before, end: this.pos() };
      }
      default:
        if (c === '-' || (c >= '0' && c <= '9')) return this.number(before);
        return this.peekErr('expected value');
    }
  }

  /** Before consuming a `[` or `{`. */
  private enter(): void {
    this.depth += 1;
    if (this.depth > MAX_DEPTH) this.peekErr('recursion limit exceeded');
  }

  private ident(rest: string): void {
    for (const expected of rest) {
      const c = this.eat();
      if (c === undefined) this.err('EOF while parsing a value');
      if (c !== expected) this.err('expected ident');
    }
  }

  private digits(): number {
    let n = 0;
    for (let c = this.peek(); c !== undefined && c >= '0' && c <= '9'; c = this.peek()) {
      this.eat();
      n += 1;
    }
    return n;
  }

  private number(before: Pos): JVal {
    const start = this.i;
    if (this.peek() === '-') this.eat();
    const first = this.peek();
    if (first === undefined) this.err('EOF while parsing a value');
    if (!(first >= '0' && first <= '9')) this.peekErr('invalid number');
    this.eat();
    if (first === '0') {
      const c = this.peek();
      if (c !== undefined && c >= '0' && c <= '9') this.peekErr('invalid number');
    } else {
      this.digits();
    }
    let isInt = true;
    if (this.peek() === '.') {
      isInt = false;
      this.eat();
      if (this.peek() === undefined) this.err('EOF while parsing a value');
      if (this.digits() === 0) this.peekErr('invalid number');
    }
    const e = this.peek();
    if (e === 'e' || e === 'E') {
      isInt = false;
      this.eat();
      const sign = this.peek();
      if (sign === '+' || sign === '-') this.eat();
      if (this.peek() === undefined) this.err('EOF while parsing a value');
      if (this.digits() === 0) this.peekErr('invalid number');
    }
    const raw = this.s.slice(start, this.i);
    if (!isInt && !Number.isFinite(Number(raw))) this.err('number out of range');
    return { t: 'num', raw, isInt, before, end: this.pos() };
  }

  /** After the opening quote; consumes the closing quote. */
  private string(): string {
    let out = '';
    for (;;) {
      const c = this.eat();
      if (c === undefined) this.err('EOF while parsing a string');
      if (c === '"') return out;
      if (c === '\\') {
        const e = this.eat();
        if (e === undefined) this.err('EOF while parsing a string');
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hi = this.hex4();
            if (hi >= 0xdc00 && hi <= 0xdfff) this.err('lone leading surrogate in hex escape');
            if (hi >= 0xd800 && hi <= 0xdbff) {
              if (this.eat() !== '\\' || this.eat() !== 'u') this.err('unexpected end of hex escape');
              const lo = this.hex4();
              if (lo < 0xdc00 || lo > 0xdfff) this.err('lone leading surrogate in hex escape');
              out += String.fromCharCode(hi, lo);
            } else {
              out += String.fromCharCode(hi);
            }
            break;
          }
          default:
            this.err('invalid escape');
        }
        continue;
      }
      if (c.charCodeAt(0) < 0x20) this.err('control character (\\u0000-\\u001F) found while parsing a string');
      out += c;
    }
  }

  private hex4(): number {
    let n = 0;
    for (let k = 0; k < 4; k += 1) {
      const c = this.eat();
      if (c === undefined) this.err('EOF while parsing a string');
      const d = Number.parseInt(c, 16);
      if (Number.isNaN(d) || !/[0-9a-fA-F]/.test(c)) this.err('invalid escape');
      n = n * 16 + d;
    }
    return n;
  }
}

/** Parses a whole document; throws JsonSyntaxError with serde_json's text. */
export function parseJson(text: string): JVal {
  return new Parser(text).document();
}

// ---------------------------------------------------------------- decoding

/** serde_path_to_error path, rendered as `[0].entry.cidr`. */
export type PathSeg = string | number;

export function formatPath(path: readonly PathSeg[]): string {
  let out = '';
  let sep = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += sep + seg;
    sep = '.';
  }
  return out;
}

export function dataError(path: readonly PathSeg[], msg: string, pos: Pos): JsonDataError {
  const prefix = path.length === 0 ? '' : `${formatPath(path)}: `;
  return new JsonDataError(prefix + msg + at(pos));
}

/** Rust's f64 Display with serde's "always a decimal point". */
function floatText(raw: string): string {
  const n = Number(raw);
  // Shortest round-trip digits, like Rust's Display (JS switches to
  // exponent notation at 1e21 / 1e-7; expanded below).
  let s = String(n);
  if (/e/.test(s)) {
    // Rust never uses exponent notation in Display; expand.
    const [m = '0', ex = '0'] = s.split('e');
    const exp = Number(ex);
    const neg = m.startsWith('-');
    const digits = m.replace('-', '').replace('.', '');
    const intLen = (m.replace('-', '').split('.')[0] ?? '').length + exp;
    if (intLen <= 0) s = `${neg ? '-' : ''}0.${'0'.repeat(-intLen)}${digits}`;
    else if (intLen >= digits.length) s = `${neg ? '-' : ''}${digits}${'0'.repeat(intLen - digits.length)}`;
    else s = `${neg ? '-' : ''}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
  }
  return s.includes('.') || s.includes('inf') || s.includes('NaN') ? s : `${s}.0`;
}

/** Rust's `{:?}` of a str (close enough: escapes quotes, backslashes, controls). */
function rustDebugStr(s: string): string {
  let out = '"';
  for (const ch of s) {
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) out += `\\u{${ch.charCodeAt(0).toString(16)}}`;
    else out += ch;
  }
  return `${out}"`;
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** serde's `Unexpected` for a value. */
export function unexpected(v: JVal): string {
  switch (v.t) {
    case 'null':
      return 'null';
    case 'bool':
      return `boolean \`${v.v}\``;
    case 'str':
      return `string ${rustDebugStr(v.v)}`;
    case 'arr':
      return 'sequence';
    case 'obj':
      return 'map';
    case 'num': {
      if (v.isInt) {
        const b = BigInt(v.raw);
        if ((b >= 0n && b <= U64_MAX) || (b < 0n && b >= I64_MIN)) return `integer \`${b}\``;
      }
      return `floating point \`${floatText(v.raw)}\``;
    }
  }
}

/** Position serde_json attaches to an invalid-type error for this value. */
export function typeErrorPos(v: JVal): Pos {
  return v.t === 'arr' || v.t === 'obj' ? v.before : v.end;
}

export interface Ctx {
  readonly path: PathSeg[];
}

export type Decoder<T> = (v: JVal, ctx: Ctx) => T;

export function invalidType(v: JVal, ctx: Ctx, expected: string): JsonDataError {
  return dataError(ctx.path, `invalid type: ${unexpected(v)}, expected ${expected}`, typeErrorPos(v));
}

export const str: Decoder<string> = (v, ctx) => {
  if (v.t !== 'str') throw invalidType(v, ctx, 'a string');
  return v.v;
};

/**
 * u64, exact: a number up to 2^53-1, a bigint above (JSON.parse would
 * round it). The caller refuses or keeps the bigint; nothing is rounded.
 */
export const u64Exact: Decoder<number | bigint> = (v, ctx) => {
  if (v.t === 'num' && v.isInt) {
    const b = BigInt(v.raw);
    if (b >= 0n && b <= U64_MAX) return b <= SAFE_MAX ? Number(b) : b;
    if (b < 0n && b >= I64_MIN) throw dataError(ctx.path, `invalid value: integer \`${b}\`, expected u64`, v.end);
  }
  throw invalidType(v, ctx, 'u64');
};

/** A u64 that fits a JS number exactly (up to 2^53-1); a larger one is a data error with `rangeMessage`. */
export function safeU64(rangeMessage: string): Decoder<number> {
  return (v, ctx) => {
    const n = u64Exact(v, ctx);
    if (typeof n === 'bigint') throw dataError(ctx.path, rangeMessage, v.end);
    return n;
  };
}

/** A u64 kept as a JS number: refused (data error) above 2^53-1 rather than rounded. */
export const u64: Decoder<number> = safeU64('invalid value: integer above 2^53-1 (cannot be represented exactly), expected u64');

export function nullable<T>(d: Decoder<T>): Decoder<T | null> {
  return (v, ctx) => (v.t === 'null' ? null : d(v, ctx));
}

/** Any JSON object (serde_json::Map), returned as plain JS. */
export const anyMap: Decoder<Record<string, unknown>> = (v, ctx) => {
  if (v.t !== 'obj') throw invalidType(v, ctx, 'a map');
  return toPlain(v) as Record<string, unknown>;
};

export function toPlain(v: JVal): unknown {
  switch (v.t) {
    case 'null':
      return null;
    case 'bool':
      return v.v;
    case 'str':
      return v.v;
    case 'num':
      return Number(v.raw);
    case 'arr':
      return v.items.map(toPlain);
    case 'obj': {
      const o: Record<string, unknown> = {};
      for (const [k, val] of v.entries) o[k] = toPlain(val);
      return o;
    }
  }
}

export function seqOf<T>(d: Decoder<T>): Decoder<T[]> {
  return (v, ctx) => {
    if (v.t !== 'arr') throw invalidType(v, ctx, 'a sequence');
    return v.items.map((item, i) => {
      ctx.path.push(i);
      const out = d(item, ctx);
      ctx.path.pop();
      return out;
    });
  };
}

export function enumOf<const V extends string>(variants: readonly V[]): Decoder<V> {
  const expected =
    variants.length === 1
      ? `\`${variants[0]}\``
      : `${variants.slice(0, -1).map((x) => `\`${x}\``).join(', ')} or \`${variants[variants.length - 1]}\``;
  return (v, ctx) => {
    if (v.t === 'str') {
      if ((variants as readonly string[]).includes(v.v)) return v.v as V;
      throw dataError(ctx.path, `unknown variant \`${v.v}\`, expected ${expected}`, v.end);
    }
    if (v.t === 'obj') throw dataError(ctx.path, 'invalid type: map, expected unit variant', v.before);
    // serde_json's deserialize_enum only accepts a string or a map; anything
    // else is a *syntax* error ("expected value") at the value's first char.
    throw new JsonSyntaxError(`expected value${at({ line: v.before.line, col: v.before.col + 1 })}`);
  };
}

export interface FieldSpec {
  readonly name: string;
  readonly decode: Decoder<unknown>;
  /** Option<T> field: absent in a map means null. */
  readonly optional?: boolean;
  /** #[serde(default)]: may also be omitted at the end of a positional array. */
  readonly defaulted?: boolean;
}

/**
 * A serde-derived struct: accepts a map (unknown keys ignored, duplicates
 * rejected, required fields checked at the end in declaration order) or a
 * positional sequence.
 */
export function struct(name: string, fields: readonly FieldSpec[]): Decoder<Record<string, unknown>> {
  const expecting = `struct ${name}`;
  return (v, ctx) => {
    const out: Record<string, unknown> = {};
    if (v.t === 'obj') {
      const seen = new Set<string>();
      for (const [key, val, keyEnd] of v.entries) {
        const spec = fields.find((f) => f.name === key);
        if (spec === undefined) continue;
        if (seen.has(key)) throw dataError(ctx.path, `duplicate field \`${key}\``, keyEnd);
        seen.add(key);
        ctx.path.push(key);
        out[key] = spec.decode(val, ctx);
        ctx.path.pop();
      }
      for (const f of fields) {
        if (seen.has(f.name)) continue;
        if (f.optional === true || f.defaulted === true) out[f.name] = null;
        else throw dataError(ctx.path, `missing field \`${f.name}\``, v.end);
      }
      return out;
    }
    if (v.t === 'arr') {
      for (let i = 0; i < fields.length; i += 1) {
        const f = fields[i] as FieldSpec;
        const item = v.items[i];
        if (item === undefined) {
          if (f.defaulted === true) {
            out[f.name] = null;
            continue;
          }
          throw dataError(ctx.path, `invalid length ${i}, expected ${expecting} with ${fields.length} elements`, v.end);
        }
        ctx.path.push(i);
        out[f.name] = f.decode(item, ctx);
        ctx.path.pop();
      }
      if (v.items.length > fields.length) {
        // serde_json's end_seq: remaining elements are a syntax error
        const extra = v.items[fields.length] as JVal;
        throw new JsonSyntaxError(`trailing characters${at({ line: extra.before.line, col: extra.before.col + 1 })}`);
      }
      return out;
    }
    throw invalidType(v, ctx, expecting);
  };
}

/** Decodes `text` with `d`; throws JsonSyntaxError or JsonDataError. */
export function decodeJson<T>(text: string, d: Decoder<T>): T {
  return d(parseJson(text), { path: [] });
}
