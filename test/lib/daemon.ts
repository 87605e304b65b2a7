/**
 * Test harness: runs the REAL daemon (`node dist/src/daemon/main.js -c
 * <file>`) on a temporary config and talks to it over its Unix socket with
 * plain node:http. Independent of the API internals on purpose.
 *
 *   const d = await startDaemon();
 *   const r = await d.request('POST', '/v1/drop', { body: { cidr: '1.2.3.0/24', expiration: 0 } });
 *   assert.equal(r.status, 201);
 *   await d.stop();
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './wait.js';

/** Repository root (this file is dist/test/lib/daemon.js once built). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DAEMON_MAIN = path.join(REPO_ROOT, 'dist', 'src', 'daemon', 'main.js');
/** The privileged launcher (src/helper/launcher.c). */
export const LAUNCHER = path.join(REPO_ROOT, 'src', 'helper', '.output', 'couic-launcher');

export function daemonBuilt(): boolean {
  return existsSync(DAEMON_MAIN);
}

export interface DaemonOptions {
  /** Interfaces to attach to. @default [] */
  readonly ifaces?: readonly string[];
  /** Command prefix, e.g. ['ip', 'netns', 'exec', ns]. */
  readonly wrapper?: readonly string[];
  /** Appended verbatim to the generated TOML (tables such as [peering]). */
  readonly extraToml?: string;
  /** Use this (existing) working dir instead of a fresh one; it is not deleted. */
  readonly workingDir?: string;
  /** `[dataplane]` capacities; defaults are small. */
  readonly dataplane?: Readonly<Partial<Record<'drop_exact' | 'drop_cidr' | 'ignore_exact' | 'ignore_cidr', number>>>;
  /**
   * `[dataplane] pin_dir`. @default "" (no pinning): daemons of parallel tests
   * must never share pins, so a test pins only in a directory of its own
   * (test/lib/kernel.ts startPinnedDaemon) or, with `null`, leaves the key out
   * to run the default config — only inside a mount namespace with a bpffs of
   * its own (test/lib/bpffs.ts).
   */
  readonly pinDir?: string | null;
  /** `[dataplane] helper`: another helper binary (e.g. a script running it in a namespace). */
  readonly helper?: string;
  /** `[logging]` keys besides `dir` (e.g. rotation, format). */
  readonly logging?: Readonly<Record<string, string | number>>;
  /** `[logging] dir`: this (existing or not) directory instead of a fresh one; it is not deleted. */
  readonly logDir?: string;
  /** Extra environment for the daemon (e.g. LOG level). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for the socket to answer. @default 20000 */
  readonly startTimeoutMs?: number;
  /** Start `couic-launcher -- node main.js` (after `wrapper`); `pid` is then the launcher's. */
  readonly launcher?: boolean;
  /**
   * couic.toml's user and group (default: the current user's). The temp dir
   * is then traversable (0755) and the socket goes in `<tmp>/run/`, which
   * the daemon creates (or, with `ownDirs`, the harness, owned by them).
   */
  readonly owner?: { readonly user: string; readonly group: string };
  /** With `owner`: create `<tmp>/work` and `<tmp>/run` owned by them (a daemon that never was root). */
  readonly ownDirs?: boolean;
}

export interface RequestOptions {
  /** A string is sent as-is; anything else is JSON-encoded. */
  readonly body?: unknown;
  /** undefined = the admin token; null = no Authorization header; a string = `Bearer <token>`. */
  readonly token?: string | null;
  /**
   * Extra headers (lower-case names). A JSON body gets
   * `content-type: application/json` unless overridden; an empty string
   * value removes the header.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  json(): any;
}

export interface Daemon {
  request(method: string, urlPath: string, opts?: RequestOptions): Promise<Response>;
  /** Admin (couicctl) token. */
  readonly token: string;
  readonly workingDir: string;
  readonly socketPath: string;
  readonly configPath: string;
  /** `[logging] dir`. */
  readonly logDir: string;
  readonly pid: number;
  /** Everything the current process printed on stdout and stderr so far. */
  output(): string;
  /**
   * Resolves with the output once it matches `re`; rejects with the output
   * after `timeoutMs`. The daemon's log is buffered (up to 200 ms, see
   * src/log.ts): a line is awaited, never read right after what caused it.
   */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal; resolves with the exit status once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (SIGKILL after 10 s), then removes the temp dir. */
  stop(): Promise<void>;
  /** Stops the process (keeping the working dir) and starts it again. */
  restart(): Promise<void>;
}

/** Plain HTTP over a Unix socket. */
export function unixRequest(
  socketPath: string,
  method: string,
  urlPath: string,
  opts: RequestOptions & { readonly defaultToken?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) {
      payload = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    } else {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers['content-type'] = 'application/json';
    }
  }
  const token = opts.token === undefined ? opts.defaultToken : opts.token;
  if (token !== undefined && token !== null) headers['authorization'] = `Bearer ${token}`;
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (v === '') delete headers[k.toLowerCase()];
    else headers[k.toLowerCase()] = v;
  }
  if (payload !== undefined) headers['content-length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json(): any {
            return JSON.parse(text);
          },
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function nameById(file: string, id: number): string | undefined {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[2] === String(id) && f[0] !== undefined) return f[0];
    }
  } catch {
    /* fall through */
  }
  return undefined;
}

/** Names of the current user and primary group. */
export function currentOwner(): { user: string; group: string } {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return {
    user: nameById('/etc/passwd', uid) ?? os.userInfo().username,
    group: nameById('/etc/group', gid) ?? 'root',
  };
}

/** Reads the token line of a client file (`token = "…"`). */
export function readClientToken(workingDir: string, name = 'couicctl'): string {
  const text = readFileSync(path.join(workingDir, 'rbac', 'clients', `${name}.toml`), 'utf8');
  const m = /^token = "([^"]+)"$/m.exec(text);
  if (m === null || m[1] === undefined) throw new Error(`no token line in ${name}.toml:\n${text}`);
  return m[1];
}


export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'couic-test-'));
  const workingDir = opts.workingDir ?? path.join(tmp, 'work');
  mkdirSync(workingDir, { recursive: true });
  const logDir = opts.logDir ?? path.join(tmp, 'log');
  if (opts.logDir === undefined) mkdirSync(logDir, { recursive: true });
  const socketPath = opts.owner === undefined ? path.join(tmp, 'couic.sock') : path.join(tmp, 'run', 'couic.sock');
  const configPath = path.join(tmp, 'couic.toml');
  const { user, group } = opts.owner ?? currentOwner();
  if (opts.owner !== undefined) {
    chmodSync(tmp, 0o755);
    if (opts.ownDirs === true) {
      const uid = Number(execFileSync('id', ['-u', opts.owner.user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('getent', ['group', opts.owner.group], { encoding: 'utf8' }).split(':')[2]);
      for (const dir of [workingDir, path.dirname(socketPath), logDir]) {
        mkdirSync(dir, { recursive: true });
        chownSync(dir, uid, gid);
      }
    }
  }
  const cap = { drop_exact: 65536, drop_cidr: 16384, ignore_exact: 16384, ignore_cidr: 16384, ...opts.dataplane };
  const q = (s: string): string => JSON.stringify(s);
  const toml = [
    `ifaces = [${(opts.ifaces ?? []).map(q).join(', ')}]`,
    `operation_mode = "auto"`,
    `working_dir = ${q(workingDir)}`,
    `user = ${q(user)}`,
    `group = ${q(group)}`,
    '',
    '[logging]',
    `dir = ${q(logDir)}`,
    ...Object.entries(opts.logging ?? {}).map(([k, v]) => `${k} = ${typeof v === 'string' ? q(v) : v}`),
    '',
    '[server]',
    `socket = ${q(socketPath)}`,
    '',
    '[dataplane]',
    ...Object.entries(cap).map(([k, v]) => `${k} = ${v}`),
    ...(opts.helper === undefined ? [] : [`helper = ${q(opts.helper)}`]),
    ...(opts.pinDir === null ? [] : [`pin_dir = ${q(opts.pinDir ?? '')}`]),
    '',
    opts.extraToml ?? '',
    '',
  ].join('\n');
  writeFileSync(configPath, toml);

  let child: ChildProcess | undefined;
  let out = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: 0, signal: null });
  let alive = false;
  let token = '';

  const spawnOnce = async (): Promise<void> => {
    out = '';
    const cmd = [...(opts.wrapper ?? []), ...(opts.launcher === true ? [LAUNCHER, '--'] : []), process.execPath, DAEMON_MAIN, '-c', configPath];
    const c = spawn(cmd[0] as string, cmd.slice(1), {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    alive = true;
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise((resolve) =>
      c.once('exit', (code, signal) => {
        alive = false;
        resolve({ code, signal });
      }),
    );
    const deadline = Date.now() + (opts.startTimeoutMs ?? 20000);
    for (;;) {
      if (!alive) throw new Error(`daemon exited during startup:\n${out}`);
      if (existsSync(socketPath)) {
        try {
          const r = await unixRequest(socketPath, 'GET', '/v1/drop', { token: null });
          if (r.status > 0) break;
        } catch {
          /* not ready */
        }
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`daemon did not answer on ${socketPath} within the timeout:\n${out}`);
      }
      await sleep(50);
    }
    token = readClientToken(workingDir);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (alive) child?.kill(signal);
    return exited;
  };

  const terminate = async (): Promise<void> => {
    if (!alive) return;
    child?.kill('SIGTERM');
    const t = setTimeout(() => child?.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(t);
  };

  try {
    await spawnOnce();
  } catch (err) {
    await terminate();
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }

  return {
    request: (method, urlPath, ro = {}) => unixRequest(socketPath, method, urlPath, { ...ro, defaultToken: token }),
    get token() {
      return token;
    },
    workingDir,
    socketPath,
    configPath,
    logDir,
    get pid() {
      return child?.pid ?? -1;
    },
    output: () => out,
    async waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`no output matching ${String(re)} within ${timeoutMs} ms:\n${out}`);
        await sleep(25);
      }
      return out;
    },
    kill,
    async stop(): Promise<void> {
      await terminate();
      rmSync(tmp, { recursive: true, force: true });
    },
    async restart(): Promise<void> {
      await terminate();
      await spawnOnce();
    },
  };
}
