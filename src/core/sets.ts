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
import { promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { isCidrText, tryParseCidr } from '../net/cidr.js';
import { keyToBytes } from './addr.js';
import { nameError } from './clients.js';
import type { EntryStore, SetTarget } from './entries.js';
import type { SetsCounts } from './events.js';
import type { Actor, Cidr, Family, Policy } from './types.js';

export const SET_EXTENSION = '.couic';
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
 * A set entry as EntryStore wants it (the target is its own Cidr: one
 * object per entry), and the loader's record of which files hold it.
 */
class SetEntry implements SetTarget, Cidr {
  readonly family: Family;
  readonly text: string;
  /** The winning file name. */
  tag: string;
  /**
   * Holders: a file id (held once), or [id, count, id, count, …] (several
   * files, or a file holding it several times).
   */
  own: number | number[];
  constructor(text: string, tag: string, own: number) {
    this.text = text;
    this.tag = tag;
    this.own = own;
    this.family = text.includes(':') ? 6 : 4;
  }

  get cidr(): Cidr {
    return this;
  }

  get prefixLen(): number {
    return Number(this.text.slice(this.text.lastIndexOf('/') + 1));
  }

  get addr(): Uint8Array {
    const out = new Uint8Array(this.family === 4 ? 4 : 16);
    keyToBytes(this.text, this.family, out);
    return out;
  }
}

/** Buffer#latin1Slice (a fresh flat string, no bounds re-checks); not in @types/node. */
const latin1 = (buf: Buffer, start: number, end: number): string =>
  (buf as Buffer & { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);

const isSpace = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/**
 * Canonical key of an ASCII line holding an IPv4 CIDR (grammar (1): octets
 * of 1-3 digits, leading zeros allowed; prefix of 1-2 digits <= 32), host
 * bits zeroed; undefined when it is not one. Reuses the line's text when it
 * is already canonical.
 */
function v4Key(buf: Buffer, start: number, end: number): string | undefined {
  let addr = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let canonical = true;
  let i = start;
  for (; i < end; i += 1) {
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && octet === 0) canonical = false;
      octet = octet * 10 + (c - 0x30);
      digits += 1;
      if (digits > 3 || octet > 255) return undefined;
    } else if (c === 0x2e && digits > 0 && dots < 3) {
      addr = addr * 256 + octet;
      octet = 0;
      digits = 0;
      dots += 1;
    } else if (c === 0x2f && digits > 0 && dots === 3) {
      addr = addr * 256 + octet;
      break;
    } else {
      return undefined;
    }
  }
  if (i >= end) return undefined;
  const ps = i + 1;
  const pl = end - ps;
  if (pl < 1 || pl > 2) return undefined;
  const d0 = buf[ps]! - 0x30;
  if (d0 < 0 || d0 > 9) return undefined;
  let len = d0;
  if (pl === 2) {
    const d1 = buf[ps + 1]! - 0x30;
    if (d1 < 0 || d1 > 9) return undefined;
    if (d0 === 0) canonical = false;
    len = d0 * 10 + d1;
  }
  if (len > 32) return undefined;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (addr & mask) >>> 0;
  if (canonical && net === addr) return latin1(buf, start, end);
  return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
}

/**
 * Parses a set file for a reload: trimmed lines, blank and `#` lines
 * skipped, every other line a CIDR (grammar (1)), normalized, in file order
 * (duplicates kept: the loader counts holders). Throws 422 on the first bad
 * line.
 */
export function parseSetBuffer(buf: Buffer, filePath: string): string[] {
  const keys: string[] = [];
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
    let key = v4Key(buf, s, e);
    if (key === undefined) {
      for (let i = s; i < e; i += 1) {
        if (buf[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      const line = ascii ? latin1(buf, s, e) : buf.toString('utf8', s, e).trim();
      if (!ascii && (line === '' || line.startsWith('#'))) continue;
      key = tryParseCidr(line)?.text;
      if (key === undefined) {
        throw new AppError('invalid', `error parsing set: ${filePath}. Offending line: ${line}`);
      }
    }
    keys.push(key);
  }
  return keys;
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
  /** Normalized keys in file order (duplicates kept). */
  readonly keys: readonly string[];
}

interface PolicyState {
  files: Map<string, FileState>;
  byId: Map<number, FileState>;
  /** The target: key -> entry (with its holders). */
  entries: Map<string, SetEntry>;
  /** False: the next reload diffs the full target against the state. */
  valid: boolean;
  setMutations: number;
}

const newPolicyState = (): PolicyState => ({ files: new Map(), byId: new Map(), entries: new Map(), valid: false, setMutations: -1 });

/** One more holding of `key` by file `f`. */
function hold(st: PolicyState, key: string, f: FileState): void {
  const e = st.entries.get(key);
  if (e === undefined) {
    st.entries.set(key, new SetEntry(key, f.name, f.id));
    return;
  }
  const o = e.own;
  if (typeof o === 'number') e.own = o === f.id ? [o, 2] : [o, 1, f.id, 1];
  else {
    let i = 0;
    while (i < o.length && o[i] !== f.id) i += 2;
    if (i < o.length) o[i + 1]! += 1;
    else o.push(f.id, 1);
  }
  if (f.name > e.tag) e.tag = f.name;
}

/** One holding of `key` by file `f` less. */
function release(st: PolicyState, key: string, f: FileState): void {
  const e = st.entries.get(key);
  if (e === undefined) return;
  const o = e.own;
  if (typeof o === 'number') {
    if (o === f.id) st.entries.delete(key);
    return;
  }
  let i = 0;
  while (i < o.length && o[i] !== f.id) i += 2;
  if (i >= o.length) return;
  o[i + 1]! -= 1;
  if (o[i + 1] === 0) o.splice(i, 2);
  if (o.length === 0) {
    st.entries.delete(key);
    return;
  }
  if (o.length === 2 && o[1] === 1) e.own = o[0]!;
  let best = '';
  for (let j = 0; j < o.length; j += 2) {
    const name = st.byId.get(o[j]!)?.name ?? '';
    if (name > best) best = name;
  }
  e.tag = best;
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
    return path.join(this.dir(policy), `${name}${SET_EXTENSION}`);
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
      .filter((d) => d.isFile() && d.name.endsWith(SET_EXTENSION) && d.name.length > SET_EXTENSION.length)
      .map((d) => d.name)
      .sort();
  }

  /* ---------------- routes ---------------- */

  async list(policy: Policy): Promise<SetSummary[]> {
    const out: SetSummary[] = [];
    for (const file of await this.#dirNames(policy)) {
      const name = file.slice(0, -SET_EXTENSION.length);
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
      const stem = file.slice(0, -SET_EXTENSION.length);
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
      next.set(file, { name: file, id: old?.id ?? this.#nextId++, sig, keys: parseSetBuffer(buf, p) });
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
      for (const [name, f] of st.files) if (!next.has(name)) candidates += f.keys.length;
      for (const [name, f] of next) {
        const old = st.files.get(name);
        if (old === undefined) candidates += f.keys.length;
        else if (old !== f) candidates += Math.abs(old.keys.length - f.keys.length) + 1;
      }
      if (candidates > Math.max(50_000, st.entries.size / 4)) full = true;
    }
    st.valid = false;
    let res: SetsCounts;
    let changes = 0;
    try {
      if (full) {
        st.entries = new Map();
        st.byId = new Map();
        for (const f of next.values()) st.byId.set(f.id, f);
        const m = st.entries;
        for (const f of next.values()) {
          for (const k of f.keys) {
            if (m.has(k)) hold(st, k, f);
            else m.set(k, new SetEntry(k, f.name, f.id));
          }
        }
        res = await entries.applySets(policy, st.entries, actor);
        changes = st.entries.size;
      } else {
        const changed = new Set<string>();
        const gone: FileState[] = [];
        for (const [name, f] of st.files) if (!next.has(name)) gone.push(f);
        for (const f of next.values()) st.byId.set(f.id, f);
        for (const f of gone) {
          for (const k of f.keys) {
            release(st, k, f);
            changed.add(k);
          }
        }
        for (const f of gone) st.byId.delete(f.id);
        for (const [name, f] of next) {
          const old = st.files.get(name);
          if (old === f) continue;
          if (old === undefined) {
            for (const k of f.keys) {
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
          let lo = 0;
          const min = Math.min(a.length, b.length);
          while (lo < min && a[lo] === b[lo]) lo += 1;
          let ea = a.length;
          let eb = b.length;
          while (ea > lo && eb > lo && a[ea - 1] === b[eb - 1]) {
            ea -= 1;
            eb -= 1;
          }
          for (let i = lo; i < ea; i += 1) {
            release(st, a[i]!, f);
            changed.add(a[i]!);
          }
          for (let i = lo; i < eb; i += 1) {
            hold(st, b[i]!, f);
            changed.add(b[i]!);
          }
        }
        const upserts = new Map<string, SetTarget>();
        const removals: SetTarget[] = [];
        for (const k of changed) {
          const e = st.entries.get(k);
          if (e === undefined) removals.push(new SetEntry(k, '', 0));
          else upserts.set(k, e);
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
