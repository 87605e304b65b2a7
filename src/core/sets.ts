/**
 * Static sets (spec §3, §1.8): `<working_dir>/sets/{drop,ignore}/*.couic`.
 *
 * SetFiles does the file side of the set routes (list, read, atomic write,
 * delete) and the reload: every set file of a policy is checked (owner,
 * group, mode 0600, size <= 5 MiB, name, every line), the files are merged
 * into the target (normalized CIDR -> tag = file name; a CIDR in several
 * files belongs to the file whose name sorts last) and the difference with
 * the state is applied by EntryStore in one batch (ignore first, then drop).
 *
 * A reload is incremental: a file whose (dev, inode, size, mtime, ctime) did
 * not change is not read again, and when nothing but set reloads touched the
 * set entries since the last reload (EntryStore.setMutations) only the keys
 * of the files that changed are handed to EntryStore (applySetsDelta), so a
 * one-line change to a million-entry set costs one file parse and a one-op
 * batch. Otherwise (first reload, a peer removed a set entry, a failed
 * reload) the full target is diffed against the state (applySets).
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { nameError, SET_SUFFIX } from '../domain/rules.js';
import type { Actor, Cidr, Policy } from '../domain/types.js';
import { AppError } from '../errors.js';
import { isCidrText, tryParseCidr } from '../net/cidr.js';
import { StoredCidr } from '../net/keys.js';
import { GRAMMAR1_NET, scanV4, v4KeyNum, v4KeyText } from '../net/v4-key.js';
import type { EntryStore } from './entries.js';
import type { SetTarget, SetTargets } from './model/types.js';
import type { SetsCounts } from './state/events.js';
import { NumberIndex } from './state/num-index.js';

export const SET_MAX_BYTES = 5 * 1024 * 1024;
/** Application order of a reload (spec §3: "to avoid lock-out"). */
export const RELOAD_ORDER: readonly Policy[] = ['ignore', 'drop'];

export interface SetSummary {
  readonly name: string;
  readonly entry_count: number;
  readonly file_size: number;
}

export interface SetContent {
  readonly name: string;
  readonly entries: string[];
}

export type ReloadResult = Partial<Record<Policy, SetsCounts>>;

/* ------------------------------------------------------------------ */
/* Parsing                                                              */
/* ------------------------------------------------------------------ */

/**
 * A set entry as EntryStore wants it (the target is its own Cidr). Built
 * on the fly when the target is handed over: the loader itself keeps no
 * object (nor string) per entry, see PolicyState.
 */
class SetEntry extends StoredCidr implements SetTarget {
  readonly tag: string;
  constructor(text: string, tag: string) {
    super(text.includes(':') ? 6 : 4, text);
    this.tag = tag;
  }

  get cidr(): Cidr {
    return this;
  }
}

/**
 * Compact key of a set entry: an IPv4 CIDR as its number (addr.ts
 * v4KeyNum: addr * 64 + len), anything else (IPv6) as its canonical text.
 */
type LKey = number | string;

const lkeyOf = (text: string): LKey => {
  const n = v4KeyNum(text);
  return n >= 0 ? n : text;
};
const lkeyText = (k: LKey): string => (typeof k === 'number' ? v4KeyText(k) : k);

/** Buffer#latin1Slice (a fresh flat string, no bounds re-checks); not in @types/node. */
const latin1 = (buf: Buffer, start: number, end: number): string =>
  (buf as Buffer & { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);

const isSpace = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/** Keys of a set file in file order (duplicates kept): v4 key numbers, NaN where `other` holds the key. */
interface FileKeys {
  readonly nums: Float64Array;
  readonly other: ReadonlyMap<number, string>;
}

const keyAt = (f: FileKeys, i: number): LKey => {
  const n = f.nums[i]!;
  return n === n ? n : f.other.get(i)!;
};

/** parseSetBuffer, compact: the same keys (and errors) as FileKeys. */
export function parseSetKeys(buf: Buffer, filePath: string): FileKeys {
  let nums = new Float64Array(1024);
  let count = 0;
  const other = new Map<number, string>();
  const n = buf.length;
  let pos = 0;
  while (pos < n) {
    let eol = buf.indexOf(0x0a, pos);
    if (eol < 0) eol = n;
    let s = pos;
    let e = eol;
    pos = eol + 1;
    let ascii = true;
    while (s < e && isSpace(buf[s]!)) s += 1;
    while (e > s && isSpace(buf[e - 1]!)) e -= 1;
    if (s === e || buf[s] === 0x23 /* # */) continue;
    let num = scanV4(buf, s, e, GRAMMAR1_NET);
    let text: string | undefined;
    if (num < 0) {
      for (let i = s; i < e; i += 1) {
        if (buf[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      const line = ascii ? latin1(buf, s, e) : buf.toString('utf8', s, e).trim();
      if (!ascii && (line === '' || line.startsWith('#'))) continue;
      text = tryParseCidr(line)?.text;
      if (text === undefined) {
        throw new AppError('invalid', `error parsing set: ${filePath}. Offending line: ${line}`);
      }
      num = v4KeyNum(text);
    }
    if (count === nums.length) {
      const bigger = new Float64Array(nums.length * 2);
      bigger.set(nums);
      nums = bigger;
    }
    if (num >= 0) nums[count] = num;
    else {
      nums[count] = NaN;
      other.set(count, text!);
    }
    count += 1;
  }
  return { nums: nums.slice(0, count), other };
}

/** Lines of a set file as `GET /v1/sets/...` shows them: trimmed, not normalized; bad lines by 1-based physical number. */
export function readSetLines(text: string): { entries: string[]; bad: number[] } {
  const entries: string[] = [];
  const bad: number[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (isCidrText(line)) entries.push(line);
    else bad.push(i + 1);
  }
  return { entries, bad };
}

/** `entry_count` of the set list: non-blank lines not starting with `#` after trimming. */
export function countSetLines(text: string): number {
  let n = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line !== '' && !line.startsWith('#')) n += 1;
  }
  return n;
}

/* ------------------------------------------------------------------ */
/* Reload state                                                         */
/* ------------------------------------------------------------------ */

interface FileState {
  /** File name = tag. */
  readonly name: string;
  /** Stable per file name while the file exists. */
  readonly id: number;
  /** dev:ino:size:mtime:ctime (ns). */
  readonly sig: string;
  /** Normalized keys in file order (duplicates kept), compact. */
  readonly keys: FileKeys;
}

/**
 * Holders of a key: a file id (held once), or [id, count, id, count, …]
 * (several files, or a file holding it several times).
 */
type Own = number | number[];

/**
 * key -> holders. IPv4 keys (numbers) live in a NumberIndex (no object per
 * entry); a value >= 0 is the only holder's file id, a value < 0 indexes
 * `#multi`. Other keys: a Map.
 */
class OwnTable {
  readonly #v4: NumberIndex;
  readonly #multi: (number[] | undefined)[] = [];
  readonly #freeMulti: number[] = [];
  readonly #other = new Map<string, Own>();

  /** `expected`: IPv4 keys about to be added (NumberIndex). */
  constructor(expected = 0) {
    this.#v4 = new NumberIndex(expected);
  }

  get size(): number {
    return this.#v4.size + this.#other.size;
  }

  #decode(v: number): Own {
    return v >= 0 ? v : this.#multi[-1 - v]!;
  }

  has(k: LKey): boolean {
    return typeof k === 'number' ? this.#v4.has(k) : this.#other.has(k);
  }

  get(k: LKey): Own | undefined {
    if (typeof k !== 'number') return this.#other.get(k);
    const v = this.#v4.get(k);
    return v === undefined ? undefined : this.#decode(v);
  }

  set(k: LKey, own: Own): void {
    if (typeof k !== 'number') {
      this.#other.set(k, own);
      return;
    }
    const cur = this.#v4.get(k);
    if (cur !== undefined) {
      // the same holder array mutated in place keeps its slot
      if (typeof own !== 'number' && cur < 0 && this.#multi[-1 - cur] === own) return;
      this.#freeVal(cur);
    }
    if (typeof own === 'number') {
      this.#v4.set(k, own);
    } else {
      const m = this.#freeMulti.pop() ?? this.#multi.length;
      this.#multi[m] = own;
      this.#v4.set(k, -1 - m);
    }
  }

  /** Frees the multi-holder slot of `v`, if it has one. */
  #freeVal(v: number): void {
    if (v >= 0) return;
    const m = -1 - v;
    this.#multi[m] = undefined;
    this.#freeMulti.push(m);
  }

  delete(k: LKey): void {
    if (typeof k !== 'number') {
      this.#other.delete(k);
      return;
    }
    const v = this.#v4.delete(k);
    if (v !== undefined) this.#freeVal(v);
  }

  *entries(): IterableIterator<[LKey, Own]> {
    for (const [k, v] of this.#v4.entries()) yield [k, this.#decode(v)];
    yield* this.#other;
  }
}

interface PolicyState {
  files: Map<string, FileState>;
  byId: Map<number, FileState>;
  /** The target: key -> its holders (the tag is the holder whose name sorts last). */
  entries: OwnTable;
  /** False: the next reload diffs the full target against the state. */
  valid: boolean;
  setMutations: number;
}

const newPolicyState = (): PolicyState => ({ files: new Map(), byId: new Map(), entries: new OwnTable(), valid: false, setMutations: -1 });

/** The tag of a key held by `own`: the holding file whose name sorts last. */
function tagOf(st: PolicyState, own: Own): string {
  if (typeof own === 'number') return st.byId.get(own)?.name ?? '';
  let best = '';
  for (let j = 0; j < own.length; j += 2) {
    const name = st.byId.get(own[j]!)?.name ?? '';
    if (name > best) best = name;
  }
  return best;
}

/** One more holding of `key` by file `f`. */
function hold(st: PolicyState, key: LKey, f: FileState): void {
  const o = st.entries.get(key);
  if (o === undefined) st.entries.set(key, f.id);
  else if (typeof o === 'number') st.entries.set(key, o === f.id ? [o, 2] : [o, 1, f.id, 1]);
  else {
    let i = 0;
    while (i < o.length && o[i] !== f.id) i += 2;
    if (i < o.length) o[i + 1]! += 1;
    else o.push(f.id, 1);
  }
}

/** One holding of `key` by file `f` less. */
function release(st: PolicyState, key: LKey, f: FileState): void {
  const o = st.entries.get(key);
  if (o === undefined) return;
  if (typeof o === 'number') {
    if (o === f.id) st.entries.delete(key);
    return;
  }
  let i = 0;
  while (i < o.length && o[i] !== f.id) i += 2;
  if (i >= o.length) return;
  o[i + 1]! -= 1;
  if (o[i + 1] === 0) o.splice(i, 2);
  if (o.length === 0) st.entries.delete(key);
  else if (o.length === 2 && o[1] === 1) st.entries.set(key, o[0]!);
}

/** The whole target of a policy as EntryStore reads it (entries built on the fly). */
class TargetView implements SetTargets {
  readonly #st: PolicyState;
  constructor(st: PolicyState) {
    this.#st = st;
  }

  get size(): number {
    return this.#st.entries.size;
  }

  has(key: string): boolean {
    return this.#st.entries.has(lkeyOf(key));
  }

  /** has() of an IPv4 key number (table.ts v4KeyNum). */
  hasKeyNum(n: number): boolean {
    return this.#st.entries.has(n);
  }

  *[Symbol.iterator](): Iterator<[string, SetTarget]> {
    const st = this.#st;
    for (const [k, own] of st.entries.entries()) {
      const text = lkeyText(k);
      yield [text, new SetEntry(text, tagOf(st, own))];
    }
  }
}

/* ------------------------------------------------------------------ */
/* SetFiles                                                             */
/* ------------------------------------------------------------------ */

export interface SetFilesOptions {
  readonly workingDir: string;
  readonly user: string;
  readonly group: string;
  readonly uid: number;
  readonly gid: number;
  readonly entries: EntryStore;
  readonly logger: Logger;
}

const isEnoent = (err: unknown): boolean => (err as NodeJS.ErrnoException)?.code === 'ENOENT';

export class SetFiles {
  readonly #o: SetFilesOptions;
  readonly #log: Logger;
  readonly #state: Record<Policy, PolicyState> = { drop: newPolicyState(), ignore: newPolicyState() };
  #nextId = 1;
  /** Reloads and file writes run one at a time. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(opts: SetFilesOptions) {
    this.#o = opts;
    this.#log = opts.logger;
  }

  dir(policy: Policy): string {
    return path.join(this.#o.workingDir, 'sets', policy);
  }

  filePath(policy: Policy, name: string): string {
    return path.join(this.dir(policy), `${name}${SET_SUFFIX}`);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => {});
    return run;
  }

  #permError(st: { uid: number | bigint; gid: number | bigint; mode: number | bigint }): string | undefined {
    const mode = Number(st.mode) & 0o7777;
    const { uid, gid, user, group } = this.#o;
    if (Number(st.uid) === uid && Number(st.gid) === gid && mode === 0o600) return undefined;
    return `expected owner ${user}:${group} (${uid}:${gid}) and mode 0600, found ${st.uid}:${st.gid} and mode 0${mode.toString(8)}`;
  }

  async #dirNames(policy: Policy): Promise<string[]> {
    const dir = this.dir(policy);
    let dirents;
    try {
      dirents = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isEnoent(err)) throw new AppError('internal', `Sets directory does not exist: ${dir}`);
      throw new AppError('internal', `Failed to read sets directory ${dir}: ${(err as Error).message}`, {}, { cause: err });
    }
    return dirents
      .filter((d) => d.isFile() && d.name.endsWith(SET_SUFFIX) && d.name.length > SET_SUFFIX.length)
      .map((d) => d.name)
      .sort();
  }

  /* ---------------- routes ---------------- */

  async list(policy: Policy): Promise<SetSummary[]> {
    const out: SetSummary[] = [];
    for (const file of await this.#dirNames(policy)) {
      const name = file.slice(0, -SET_SUFFIX.length);
      if (nameError('Set name', name) !== undefined) continue;
      let text: Buffer;
      try {
        text = await fsp.readFile(path.join(this.dir(policy), file));
      } catch (err) {
        if (isEnoent(err)) continue;
        throw new AppError('internal', `Failed to read set file: ${(err as Error).message}`, {}, { cause: err });
      }
      out.push({ name, entry_count: countSetLines(text.toString('utf8')), file_size: text.length });
    }
    return out;
  }

  notFound(policy: Policy, name: string): AppError {
    return new AppError('not_found', `Set '${name}' not found for policy '${policy}'`);
  }

  async read(policy: Policy, name: string): Promise<SetContent> {
    const p = this.filePath(policy, name);
    let st;
    try {
      st = await fsp.stat(p);
    } catch (err) {
      if (isEnoent(err)) throw this.notFound(policy, name);
      throw new AppError('internal', `Failed to read set file: ${(err as Error).message}`, {}, { cause: err });
    }
    if (!st.isFile()) throw this.notFound(policy, name);
    const perm = this.#permError(st);
    if (perm !== undefined) throw new AppError('invalid', `Set file has wrong permissions: ${perm}`);
    let text: string;
    try {
      text = await fsp.readFile(p, 'utf8');
    } catch (err) {
      if (isEnoent(err)) throw this.notFound(policy, name);
      throw new AppError('internal', `Failed to read set file: ${(err as Error).message}`, {}, { cause: err });
    }
    const { entries, bad } = readSetLines(text);
    if (bad.length > 0) {
      const errors: Record<string, { code: string; message: string }> = {};
      for (const n of bad) errors[`line ${n}`] = { code: 'invalid', message: 'invalid IP address syntax' };
      throw new AppError('invalid', 'Invalid set file', errors);
    }
    return { name, entries };
  }

  async #exists(p: string): Promise<boolean> {
    try {
      await fsp.access(p);
      return true;
    } catch (err) {
      if (isEnoent(err)) return false;
      throw new AppError('internal', `Failed to access set file: ${(err as Error).message}`, {}, { cause: err });
    }
  }

  /** Atomic write: `<name>.couic.tmp`, chown user:group, chmod 0600, rename. Entries joined by `\n`, no trailing newline. */
  async #write(p: string, entries: readonly string[]): Promise<void> {
    const tmp = `${p}.tmp`;
    try {
      const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600);
      try {
        await fh.writeFile(entries.join('\n'));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.chown(tmp, this.#o.uid, this.#o.gid);
      await fsp.chmod(tmp, 0o600);
      await fsp.rename(tmp, p);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw new AppError('internal', `Failed to write set file ${p}: ${(err as Error).message}`, {}, { cause: err });
    }
  }

  create(policy: Policy, name: string, entries: readonly string[]): Promise<void> {
    return this.#serial(async () => {
      const p = this.filePath(policy, name);
      if (await this.#exists(p)) throw new AppError('conflict', `Set '${name}' already exists for policy '${policy}'`);
      await this.#write(p, entries);
    });
  }

  update(policy: Policy, name: string, entries: readonly string[]): Promise<void> {
    return this.#serial(async () => {
      const p = this.filePath(policy, name);
      if (!(await this.#exists(p))) throw this.notFound(policy, name);
      await this.#write(p, entries);
    });
  }

  delete(policy: Policy, name: string): Promise<void> {
    return this.#serial(async () => {
      const p = this.filePath(policy, name);
      try {
        await fsp.unlink(p);
      } catch (err) {
        if (isEnoent(err)) throw this.notFound(policy, name);
        throw new AppError('internal', `Failed to delete set file ${p}: ${(err as Error).message}`, {}, { cause: err });
      }
    });
  }

  /* ---------------- reload ---------------- */

  /**
   * Reloads every set (ignore, then drop). Errors: 422 (permissions, size,
   * name, a bad line), 409 (map full), 500 (I/O, missing directory). A
   * failure in the drop sets leaves the ignore sets applied (as Couic).
   */
  reload(actor?: Actor): Promise<ReloadResult> {
    return this.#serial(async () => {
      const t0 = performance.now();
      const result: ReloadResult = {};
      try {
        for (const policy of RELOAD_ORDER) result[policy] = await this.#reloadPolicy(policy, actor);
      } catch (err) {
        this.#o.entries.events.emit({
          type: 'sets_reloaded', ...result, status: 'failed', error: (err as Error).message,
          ...(actor === undefined ? {} : { actor: actor.name }),
        });
        throw err;
      }
      this.#o.entries.events.emit({ type: 'sets_reloaded', ...result, status: 'ok', ...(actor === undefined ? {} : { actor: actor.name }) });
      this.#log.info({ ...result, ms: Math.round(performance.now() - t0), client: actor?.name }, 'sets reloaded');
      return result;
    });
  }

  async #scan(policy: Policy, prev: PolicyState): Promise<Map<string, FileState>> {
    const dir = this.dir(policy);
    const next = new Map<string, FileState>();
    for (const file of await this.#dirNames(policy)) {
      const p = path.join(dir, file);
      let st;
      try {
        st = await fsp.stat(p, { bigint: true });
      } catch (err) {
        if (isEnoent(err)) continue; // removed meanwhile
        throw new AppError('internal', `Failed to read set file ${p}: ${(err as Error).message}`, {}, { cause: err });
      }
      const perm = this.#permError(st);
      if (perm !== undefined) throw new AppError('invalid', `Set file ${p} has wrong permissions: ${perm}`);
      if (st.size > BigInt(SET_MAX_BYTES)) throw new AppError('invalid', `File ${p} exceeds the maximum allowed size of 5 MB`);
      const stem = file.slice(0, -SET_SUFFIX.length);
      if (nameError('Set name', stem) !== undefined) {
        throw new AppError('invalid', `Invalid set name: ${stem}. Set name must contain only valid characters (a-zA-Z0-9-_) and be <= 48 characters long`);
      }
      const sig = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      const old = prev.files.get(file);
      if (old !== undefined && old.sig === sig) {
        next.set(file, old);
        continue;
      }
      let buf: Buffer;
      try {
        buf = await fsp.readFile(p);
      } catch (err) {
        throw new AppError('internal', `Failed to read set file ${p}: ${(err as Error).message}`, {}, { cause: err });
      }
      if (buf.length > SET_MAX_BYTES) throw new AppError('invalid', `File ${p} exceeds the maximum allowed size of 5 MB`);
      next.set(file, { name: file, id: old?.id ?? this.#nextId++, sig, keys: parseSetKeys(buf, p) });
    }
    return next;
  }

  async #reloadPolicy(policy: Policy, actor: Actor | undefined): Promise<SetsCounts> {
    const entries = this.#o.entries;
    const st = this.#state[policy];
    const t0 = performance.now();
    const next = await this.#scan(policy, st);
    const t1 = performance.now();
    const mutations = entries.setMutations;
    let full = !st.valid || st.setMutations !== mutations;
    if (!full) {
      // Many candidates (new or removed big files, rewritten files): a full
      // diff is cheaper than tracking each key.
      let candidates = 0;
      for (const [name, f] of st.files) if (!next.has(name)) candidates += f.keys.nums.length;
      for (const [name, f] of next) {
        const old = st.files.get(name);
        if (old === undefined) candidates += f.keys.nums.length;
        else if (old !== f) candidates += Math.abs(old.keys.nums.length - f.keys.nums.length) + 1;
      }
      if (candidates > Math.max(50_000, st.entries.size / 4)) full = true;
    }
    st.valid = false;
    let res: SetsCounts;
    let changes = 0;
    try {
      if (full) {
        let lines = 0;
        for (const f of next.values()) lines += f.keys.nums.length;
        st.entries = new OwnTable(lines);
        st.byId = new Map();
        for (const f of next.values()) st.byId.set(f.id, f);
        const m = st.entries;
        for (const f of next.values()) {
          const { nums, other } = f.keys;
          for (let i = 0; i < nums.length; i += 1) {
            const n = nums[i]!;
            const k = n === n ? n : other.get(i)!;
            if (m.has(k)) hold(st, k, f);
            else m.set(k, f.id);
          }
        }
        res = await entries.applySets(policy, new TargetView(st), actor);
        changes = st.entries.size;
      } else {
        const changed = new Set<LKey>();
        const gone: FileState[] = [];
        for (const [name, f] of st.files) if (!next.has(name)) gone.push(f);
        for (const f of next.values()) st.byId.set(f.id, f);
        for (const f of gone) {
          for (let i = 0; i < f.keys.nums.length; i += 1) {
            const k = keyAt(f.keys, i);
            release(st, k, f);
            changed.add(k);
          }
        }
        for (const f of gone) st.byId.delete(f.id);
        for (const [name, f] of next) {
          const old = st.files.get(name);
          if (old === f) continue;
          if (old === undefined) {
            for (let i = 0; i < f.keys.nums.length; i += 1) {
              const k = keyAt(f.keys, i);
              hold(st, k, f);
              changed.add(k);
            }
            continue;
          }
          // Same file name (same id, same tag): only the lines between the
          // common head and the common tail changed (holders are counted,
          // so duplicates need no care).
          const a = old.keys;
          const b = f.keys;
          const an = a.nums;
          const bn = b.nums;
          const same = (i: number, j: number): boolean => {
            const x = an[i]!;
            const y = bn[j]!;
            if (x === x) return x === y;
            return y !== y && a.other.get(i) === b.other.get(j);
          };
          let lo = 0;
          const min = Math.min(an.length, bn.length);
          while (lo < min && same(lo, lo)) lo += 1;
          let ea = an.length;
          let eb = bn.length;
          while (ea > lo && eb > lo && same(ea - 1, eb - 1)) {
            ea -= 1;
            eb -= 1;
          }
          for (let i = lo; i < ea; i += 1) {
            const k = keyAt(a, i);
            release(st, k, f);
            changed.add(k);
          }
          for (let i = lo; i < eb; i += 1) {
            const k = keyAt(b, i);
            hold(st, k, f);
            changed.add(k);
          }
        }
        const upserts = new Map<string, SetTarget>();
        const removals: SetTarget[] = [];
        for (const k of changed) {
          const own = st.entries.get(k);
          const text = lkeyText(k);
          if (own === undefined) removals.push(new SetEntry(text, ''));
          else upserts.set(text, new SetEntry(text, tagOf(st, own)));
        }
        changes = changed.size;
        res = await entries.applySetsDelta(policy, upserts, removals, actor);
      }
    } catch (err) {
      st.files = new Map();
      throw err;
    }
    st.files = next;
    st.valid = true;
    st.setMutations = mutations;
    this.#log.info({
      policy, mode: full ? 'full' : 'delta', files: next.size, entries: st.entries.size, candidates: changes, ...res,
      scanMs: Math.round(t1 - t0), applyMs: Math.round(performance.now() - t1),
    }, 'sets applied');
    return res;
  }
}
