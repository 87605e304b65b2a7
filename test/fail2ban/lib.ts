/**
 * fail2ban test kit: a private fail2ban-server (own config dir, socket,
 * pidfile, sqlite db, a jail on a plain log file, backend = polling), started
 * in the foreground as our own child, optionally inside a network namespace
 * (research §4), plus the couic action files of this tree, a `fb-` namespace
 * pair and a tiny HTTP stub for transport-level tests of couic-ban.
 * Never touches /etc/fail2ban, /var/run/fail2ban or /var/lib/fail2ban.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../lib/daemon.js';
import { run, type ExecResult } from '../lib/netns.js';
import { sleep } from '../lib/wait.js';

export const COUIC_BAN = path.join(REPO_ROOT, 'src', 'helper', '.output', 'couic-ban');
export const ACTION_DIR = path.join(REPO_ROOT, 'action.d');
export const JAIL_DIR = path.join(REPO_ROOT, 'jail.d');
export const CLI_MAIN = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
export const STOCK_ACTIONS = '/etc/fail2ban/action.d';

/** Builds couic-ban when missing or older than its source (libc only, fast). */
/** The native couicctl front (src/shim/couicctl.c), with couicctl-node beside it. */
export const COUICCTL = path.join(REPO_ROOT, 'src', 'helper', '.output', 'couicctl');

/**
 * The action of Couic's fail2ban page, as a Couic user has it: one couicctl
 * per ban and unban. The only change is `<couicctl>` (default `couicctl`,
 * from PATH) so a test or bench can name the binary and its `-c` config.
 */
export const SEED_ACTION = [
  '[Definition]',
  'actionstart =',
  'actionstop =',
  'actioncheck =',
  'actionban = <couicctl> drop add <ip>/<cidr> -t fail2ban-<name>',
  'actionunban = <couicctl> drop delete <ip>/<cidr>',
  '',
  '[Init]',
  'couicctl = couicctl',
  'cidr = 32',
  '',
  '[Init?family=inet6]',
  'cidr = 128',
  '',
].join('\n');

/** Builds the native couicctl front (and its couicctl-node wrapper). */
export function buildCouicctl(): void {
  const r = spawnSync('make', ['-s', '-C', path.join(REPO_ROOT, 'src', 'helper'), 'couicctl'], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(COUICCTL)) throw new Error(`make couicctl failed: ${r.stderr}${r.stdout}`);
}

export function buildCouicBan(): void {
  const src = path.join(REPO_ROOT, 'src', 'shim', 'couic-ban.c');
  const r = spawnSync('make', ['-s', '-C', path.join(REPO_ROOT, 'src', 'helper'), 'couic-ban'], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(COUIC_BAN)) throw new Error(`make couic-ban failed (${src}): ${r.stderr}${r.stdout}`);
}

export function fail2banMissing(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  if (spawnSync('fail2ban-server', ['--version']).status !== 0) return 'needs fail2ban-server';
  return false;
}

export interface JailSpec {
  /** The jail's action line, e.g. `couic[socket="…", client_file="…"]`. */
  readonly action: string;
  /** @default '1h' */
  readonly bantime?: string;
  /** Own log file name (in the run dir, created empty) instead of the shared auth.log. */
  readonly log?: string;
  /** Extra `key = value` lines for the jail. */
  readonly extra?: string;
}

export interface F2bOptions {
  readonly jails: Readonly<Record<string, JailSpec>>;
  /** Start the server inside this namespace. */
  readonly netns?: string;
  /** Stock action files to copy from /etc/fail2ban/action.d (with their includes). */
  readonly stock?: readonly string[];
  /** Action files of this tree to copy. @default ['couic.conf', 'couic.py'] */
  readonly ours?: readonly string[];
  /** Extra action files: name → content. */
  readonly actions?: Readonly<Record<string, string>>;
  /** @default 'INFO' */
  readonly loglevel?: string;
}

/** One private fail2ban-server. */
export class F2b {
  readonly dir: string;
  readonly conf: string;
  readonly runDir: string;
  readonly sock: string;
  readonly pidfile: string;
  readonly logfile: string;
  readonly authlog: string;
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(0);
  private alive = false;

  private readonly opts: F2bOptions;

  constructor(opts: F2bOptions) {
    this.opts = opts;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'fb-f2b-'));
    this.conf = path.join(this.dir, 'conf');
    this.runDir = path.join(this.dir, 'run');
    this.sock = path.join(this.runDir, 'f2b.sock');
    this.pidfile = path.join(this.runDir, 'f2b.pid');
    this.logfile = path.join(this.runDir, 'server.log');
    this.authlog = path.join(this.runDir, 'auth.log');
    for (const d of ['action.d', 'filter.d']) mkdirSync(path.join(this.conf, d), { recursive: true });
    mkdirSync(this.runDir, { recursive: true });
    writeFileSync(this.authlog, '');
    this.writeConfig();
  }

  private writeConfig(): void {
    const o = this.opts;
    writeFileSync(
      path.join(this.conf, 'fail2ban.conf'),
      [
        '[Definition]',
        `loglevel = ${o.loglevel ?? 'INFO'}`,
        `logtarget = ${this.logfile}`,
        'syslogsocket = auto',
        'allowipv6 = auto',
        `socket = ${this.sock}`,
        `pidfile = ${this.pidfile}`,
        `dbfile = ${path.join(this.runDir, 'f2b.sqlite3')}`,
        'dbpurgeage = 1d',
        'dbmaxmatches = 10',
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(this.conf, 'filter.d', 'fbtest.conf'),
      '[Definition]\nfailregex = ^Failed password for (?:invalid user )?<F-USER>\\S+</F-USER> from <HOST>(?: port \\d+)?\nignoreregex =\ndatepattern = {NONE}\n',
    );
    for (const f of o.ours ?? ['couic.conf', 'couic.py']) copyFileSync(path.join(ACTION_DIR, f), path.join(this.conf, 'action.d', f));
    const stock = new Set<string>();
    for (const f of o.stock ?? []) {
      stock.add(f);
      if (f.startsWith('iptables')) stock.add('iptables.conf');
    }
    if (stock.size > 0) {
      for (const f of ['iptables.conf', 'iptables-common.conf']) if (existsSync(path.join(STOCK_ACTIONS, f))) stock.add(f);
    }
    for (const [name, text] of Object.entries(o.actions ?? {})) writeFileSync(path.join(this.conf, 'action.d', name), text);
    for (const f of stock) copyFileSync(path.join(STOCK_ACTIONS, f), path.join(this.conf, 'action.d', f));
    const lines = [
      '[DEFAULT]',
      'findtime = 10m',
      'maxretry = 1',
      'backend = polling',
      'usedns = no',
      'ignoreself = false',
      'ignoreip =',
      'filter = fbtest',
      `logpath = ${this.authlog}`,
      '',
    ];
    for (const [name, j] of Object.entries(o.jails)) {
      lines.push(`[${name}]`, 'enabled = true', `bantime = ${j.bantime ?? '1h'}`, `action = ${j.action}`);
      if (j.log) {
        writeFileSync(path.join(this.runDir, j.log), '');
        lines.push(`logpath = ${path.join(this.runDir, j.log)}`);
      }
      if (j.extra) lines.push(j.extra);
      lines.push('');
    }
    writeFileSync(path.join(this.conf, 'jail.conf'), lines.join('\n'));
  }

  /** Starts fail2ban-server -f -x (in the namespace if any) and waits for `ping`. */
  async start(timeoutMs = 60000): Promise<void> {
    const argv = ['fail2ban-server', '-c', this.conf, '-s', this.sock, '-p', this.pidfile, '-f', '-x'];
    const full = this.opts.netns ? ['ip', 'netns', 'exec', this.opts.netns, ...argv] : argv;
    const c = spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = c;
    this.alive = true;
    let out = '';
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    this.exited = new Promise((res) =>
      c.once('exit', (code) => {
        this.alive = false;
        res(code);
      }),
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.alive) throw new Error(`fail2ban-server exited during start:\n${out}\n${this.log()}`);
      const r = await this.client(['ping'], { allowFail: true, timeoutMs: 5000 });
      if (r.code === 0 && r.stdout.includes('pong')) break;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`fail2ban-server did not answer:\n${out}\n${this.log()}`);
      }
      await sleep(100);
    }
  }

  /** `fail2ban-client -s SOCK …` (runtime commands need no -c). */
  client(args: readonly string[], o: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
    return run(['fail2ban-client', '-s', this.sock, ...args], { allowFail: o.allowFail ?? false, timeoutMs: o.timeoutMs ?? 60000 });
  }

  /** `fail2ban-client -c CONF -d`: the command stream the client would send. */
  dump(): Promise<ExecResult> {
    return run(['fail2ban-client', '-c', this.conf, '-s', this.sock, '-d']);
  }

  async banned(jail: string): Promise<string[]> {
    const r = await this.client(['get', jail, 'banip']);
    return r.stdout.trim().split(/\s+/).filter((s) => s.length > 0);
  }

  appendAuth(lines: readonly string[]): void {
    appendFileSync(this.authlog, lines.map((l) => `${l}\n`).join(''));
  }

  log(): string {
    try {
      return readFileSync(this.logfile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Log lines at ERROR or CRITICAL. */
  errors(): string[] {
    return this.log()
      .split('\n')
      .filter((l) => /\s(ERROR|CRITICAL)\s/.test(l));
  }

  /** `fail2ban-client stop`, then waits for the process (SIGKILL of our child after the timeout). */
  async stop(timeoutMs = 60000): Promise<void> {
    if (!this.alive) return;
    await this.client(['stop'], { allowFail: true, timeoutMs });
    const t = setTimeout(() => void this.kill(), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }

  async kill(): Promise<void> {
    if (this.alive && this.child?.pid) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        this.child.kill('SIGKILL');
      }
    }
    await this.exited;
  }

  get running(): boolean {
    return this.alive;
  }

  async dispose(): Promise<void> {
    await this.stop(30000).catch(() => this.kill());
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// --- couic-ban -------------------------------------------------------------------

export interface CouicBanResult extends ExecResult {
  readonly ms: number;
}

export async function couicBan(args: readonly string[], timeoutMs = 15000): Promise<CouicBanResult> {
  const t0 = performance.now();
  const r = await run([COUIC_BAN, ...args], { allowFail: true, timeoutMs });
  return { ...r, ms: performance.now() - t0 };
}

/** Writes a client file with `token = "…"` and returns its path. */
export function writeClientFile(dir: string, token: string): string {
  const p = path.join(dir, 'client.toml');
  writeFileSync(p, `token = "${token}"\ngroup = "admin"\n`);
  chmodSync(p, 0o600);
  return p;
}

export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface Stub {
  readonly socketPath: string;
  readonly requests: StubRequest[];
  connections: number;
  close(): Promise<void>;
}

/**
 * A transport stub for couic-ban's own tests (never a stand-in for the
 * daemon in a test about bans): counts connections, records requests, and
 * answers with `reply(req)` (`null` = never answer: a stuck daemon).
 */
export async function startStub(
  socketPath: string,
  reply: (req: StubRequest) => { status: number; body?: string } | null,
): Promise<Stub> {
  const stub: Stub = {
    socketPath,
    requests: [],
    connections: 0,
    close: () => new Promise((res) => server.close(() => res())),
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    stub.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      const [first = '', ...hl] = buf.slice(0, he).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of hl) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? '0');
      if (buf.length < he + 4 + len) return;
      const [method = '', p = ''] = first.split(' ');
      const req = { method, path: p, headers, body: buf.slice(he + 4, he + 4 + len) };
      buf = buf.slice(he + 4 + len);
      stub.requests.push(req);
      const rep = reply(req);
      if (rep === null) return;
      const body = rep.body ?? '';
      s.end(`HTTP/1.1 ${rep.status} X\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(socketPath, () => res());
  });
  const close = stub.close;
  stub.close = async () => {
    for (const s of sockets) s.destroy();
    await close();
  };
  return stub;
}

/** A fresh temp dir (removed by the caller). */
export function tmpDir(prefix = 'fb-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}
