/**
 * API clients (spec §4, §1.9): `<working_dir>/rbac/clients/<name>.toml`
 * files holding `token = "<uuid>"` and `group = "<group>"`, loaded once at
 * startup, then changed only through the API (memory + disk together).
 */
import { randomUUID } from 'node:crypto';
import { constants as fsc, promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { parse as parseToml } from 'smol-toml';
import { nameError } from '../domain/rules.js';
import { GROUPS, type Group } from '../domain/types.js';
import { AppError } from '../errors.js';

export interface Client {
  readonly name: string;
  /** Canonical lower-case hyphenated UUID. */
  readonly token: string;
  readonly group: Group;
}

export const DEFAULT_CLIENT = 'couicctl';
const HEX32 = /^[0-9a-fA-F]{32}$/;
/** Bound of ClientRegistry's header cache. */
const HEADER_CACHE_MAX = 256;
const HYPHENATED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * Parses a UUID in the forms the Rust `uuid` crate accepts: hyphenated,
 * simple (32 hex), `{hyphenated}`, `urn:uuid:hyphenated`; hex is
 * case-insensitive. Returns the canonical lower-case hyphenated text.
 */
export function parseUuid(text: string): string | undefined {
  let t = text;
  if (t.length === 38 && t.startsWith('{') && t.endsWith('}')) t = t.slice(1, -1);
  else if (t.length === 45 && t.startsWith('urn:uuid:')) t = t.slice(9);
  let hex: string;
  if (HYPHENATED.test(t)) hex = t.replaceAll('-', '');
  else if (t === text && HEX32.test(t)) hex = t;
  else return undefined;
  hex = hex.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Looks up a user (uid) and a group (gid) by name in /etc/passwd and /etc/group. */
export function resolveOwner(user: string, group: string): { uid: number; gid: number } {
  const find = (file: string, name: string, kind: string): number => {
    const text = readFileSync(file, 'utf8');
    for (const line of text.split('\n')) {
      const fields = line.split(':');
      if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
    }
    throw new Error(`${kind} not found: ${name}`);
  };
  return { uid: find('/etc/passwd', user, 'User'), gid: find('/etc/group', group, 'Group') };
}

function clientFileText(token: string, group: Group): string {
  return `token = "${token}"\ngroup = "${group}"\n`;
}

export interface ClientRegistryOptions {
  readonly workingDir: string;
  /** Owner of client files (name in /etc/passwd). */
  readonly user: string;
  /** Group of client files (name in /etc/group). */
  readonly group: string;
  readonly logger: Logger;
}

export class ClientRegistry {
  readonly dir: string;
  private readonly uid: number;
  private readonly gid: number;
  private readonly logger: Logger;
  private readonly byName = new Map<string, Client>();
  private readonly byToken = new Map<string, Client>();
  /** `Authorization` header values already authenticated (parsing a UUID per request shows in profiles). */
  private readonly byHeader = new Map<string, Client>();
  /** Serializes create/delete so concurrent requests see each other. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, uid: number, gid: number, logger: Logger) {
    this.dir = dir;
    this.uid = uid;
    this.gid = gid;
    this.logger = logger;
  }

  /**
   * Creates `couicctl.toml` (admin, random token) when missing, then loads
   * every `*.toml` regular file. Throws Error with Couic's message on a
   * file with wrong owner/mode, a parse error, an invalid name or a
   * duplicate token (the daemon aborts startup).
   */
  static async load(opts: ClientRegistryOptions): Promise<ClientRegistry> {
    const { uid, gid } = resolveOwner(opts.user, opts.group);
    const dir = path.join(opts.workingDir, 'rbac', 'clients');
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    const reg = new ClientRegistry(dir, uid, gid, opts.logger);
    const defaultPath = path.join(dir, `${DEFAULT_CLIENT}.toml`);
    let hasDefault = true;
    try {
      await fsp.lstat(defaultPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      hasDefault = false;
    }
    if (!hasDefault) {
      await reg.writeFile(DEFAULT_CLIENT, randomUUID(), 'admin');
      opts.logger.info({ path: defaultPath }, 'created default client file');
    }
    const names = (await fsp.readdir(dir)).filter((n) => n.endsWith('.toml')).sort();
    for (const file of names) {
      const p = path.join(dir, file);
      const st = await fsp.lstat(p);
      if (!st.isFile()) continue;
      const mode = st.mode & 0o7777;
      if (st.uid !== uid || st.gid !== gid || mode !== 0o600) {
        throw new Error(
          `RBAC client file ${p} has wrong permissions: expected owner ${opts.user}:${opts.group} (${uid}:${gid}) and mode 0600, ` +
            `found ${st.uid}:${st.gid} and mode 0${mode.toString(8)}`,
        );
      }
      const name = file.slice(0, -'.toml'.length);
      const bad = nameError('Client name', name);
      if (bad !== undefined) throw new Error(`Invalid RBAC client file name ${p}: ${bad}`);
      let doc: Record<string, unknown>;
      try {
        doc = parseToml(await fsp.readFile(p, 'utf8')) as Record<string, unknown>;
      } catch (err) {
        throw new Error(`Failed to parse RBAC client file ${p}: ${(err as Error).message}`, { cause: err });
      }
      const token = typeof doc['token'] === 'string' ? parseUuid(doc['token']) : undefined;
      if (token === undefined) throw new Error(`Failed to parse RBAC client file ${p}: missing or invalid token`);
      const group = doc['group'];
      if (typeof group !== 'string' || !(GROUPS as readonly string[]).includes(group)) {
        throw new Error(`Failed to parse RBAC client file ${p}: missing or invalid group`);
      }
      if (reg.byToken.has(token)) throw new Error(`Duplicate client token found: ${p}`);
      reg.add({ name, token, group: group as Group });
    }
    opts.logger.info({ clients: reg.byName.size }, 'RBAC clients loaded');
    return reg;
  }

  private add(c: Client): void {
    this.byName.set(c.name, c);
    this.byToken.set(c.token, c);
    this.byHeader.clear();
  }

  private forget(c: Client): void {
    this.byName.delete(c.name);
    this.byToken.delete(c.token);
    this.byHeader.clear();
  }

  filePath(name: string): string {
    return path.join(this.dir, `${name}.toml`);
  }

  /** Atomic write: `<name>.toml.tmp`, chown, chmod 0600, rename. */
  private async writeFile(name: string, token: string, group: Group): Promise<void> {
    const final = this.filePath(name);
    const tmp = `${final}.tmp`;
    const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600);
    try {
      await fh.writeFile(clientFileText(token, group));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.chown(tmp, this.uid, this.gid);
    await fsp.chmod(tmp, 0o600);
    await fsp.rename(tmp, final);
  }

  /**
   * `Authorization` header → client. Requires the literal `Bearer ` prefix
   * and a parsable UUID; compares by UUID value.
   */
  authenticate(header: string | undefined): Client | undefined {
    if (header === undefined) return undefined;
    const known = this.byHeader.get(header);
    if (known !== undefined) return known;
    if (!header.startsWith('Bearer ')) return undefined;
    const token = parseUuid(header.slice('Bearer '.length));
    const c = token === undefined ? undefined : this.byToken.get(token);
    if (c !== undefined) {
      // A token has many spellings (case, braces, urn:): the cache stays bounded.
      if (this.byHeader.size >= HEADER_CACHE_MAX) this.byHeader.clear();
      this.byHeader.set(header, c);
    }
    return c;
  }

  list(): Client[] {
    return [...this.byName.values()];
  }

  get(name: string): Client | undefined {
    return this.byName.get(name);
  }

  /**
   * Creates a client with a new random token. `name` and `group` must be
   * validated by the caller. AppError invalid "Client name already exists".
   */
  create(name: string, group: Group): Promise<Client> {
    return this.serial(async () => {
      if (this.byName.has(name)) throw new AppError('invalid', `Client name already exists: ${name}`);
      let token = randomUUID();
      while (this.byToken.has(token)) token = randomUUID();
      await this.writeFile(name, token, group);
      const c: Client = { name, token, group };
      this.add(c);
      return c;
    });
  }

  /**
   * Deletes a client (memory + file). AppError invalid for the default
   * client, not_found when unknown or when the file vanished (the client is
   * then forgotten anyway).
   */
  delete(name: string): Promise<void> {
    return this.serial(async () => {
      if (name === DEFAULT_CLIENT) throw new AppError('invalid', 'Cannot delete default client');
      const c = this.byName.get(name);
      if (c === undefined) throw new AppError('not_found', `Client not found: ${name}`);
      const p = this.filePath(name);
      try {
        await fsp.unlink(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.forget(c);
          throw new AppError('not_found', `Client file not found: ${p}`);
        }
        throw err;
      }
      this.forget(c);
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** For logs. */
  get size(): number {
    return this.byName.size;
  }

  /** Logger used by the registry (exposed for the API's child loggers). */
  get log(): Logger {
    return this.logger;
  }
}
