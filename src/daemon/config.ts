/**
 * Daemon configuration: Couic's couic.toml keys plus ours ([dataplane],
 * [journal], [queue], [fleet]). Unknown keys are ignored (as Couic does),
 * except in [peering], [[peering.peers]] and [reporting], where a typo would
 * silently turn off what the section asks for; a key
 * with the wrong type or value is an error naming the key and what it
 * expects. Every key's type, default and bounds come from CONFIG_KEYS
 * (config-keys.ts), which couic(8) is generated from.
 */
import { accessSync, constants as fsc, readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { parse as parseToml } from 'smol-toml';
import { POLICIES, type Policy } from '../domain/types.js';
import { nodeError } from '../fleet/keys.js';
import type { FleetConfig } from '../fleet/types.js';
import type { Rotation } from '../log-files.js';
import { normalizeLevel, type LogLevel } from '../log.js';
import { helperPath } from '../xdp/helper.js';
import { isKey, keyDef } from './config-keys.js';
import { peerBaseUrl, type PeerConfig, type PeeringConfig } from '../peering/types.js';
import type { ReportingConfig } from '../reporting/types.js';

export type OperationMode = 'generic' | 'native' | 'auto';

export interface DataplaneConfig {
  /** couic-helper binary. */
  readonly helper: string;
  /** bpffs directory to pin maps and links in; "" = no pinning. */
  readonly pinDir: string;
  readonly dropExact: number;
  readonly dropCidr: number;
  readonly ignoreExact: number;
  readonly ignoreCidr: number;
  readonly maxTags: number;
  readonly lpmOnly: boolean;
  /** Coalesce map updates into batches (false = one helper call per entry, Couic's way). */
  readonly batching: boolean;
}

export interface Config {
  /** File the config came from; undefined = embedded default. */
  readonly source: string | undefined;
  readonly ifaces: readonly string[];
  readonly operationMode: OperationMode;
  readonly workingDir: string;
  readonly user: string;
  readonly group: string;
  readonly logging: {
    readonly level: LogLevel;
    /** The log files ([logging] dir, rotation, max_log_files, format). */
    readonly files: {
      readonly dir: string;
      /** `dir` was given: a dir that cannot be written is a startup error (otherwise files are skipped). */
      readonly explicit: boolean;
      readonly rotation: Rotation;
      readonly maxFiles: number;
      readonly format: 'text' | 'json';
    };
  };
  readonly server: { readonly socket: string };
  readonly dataplane: DataplaneConfig;
  readonly journal: { readonly fsync: boolean; readonly compactAfter: number };
  readonly queue: { readonly maxPending: number; readonly helperWaitMs: number };
  readonly fleet: FleetConfig;
  readonly peering: PeeringConfig;
  readonly reporting: ReportingConfig;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'date';
  if (v === null) return 'null';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'float';
  if (isTable(v)) return 'table';
  return typeof v;
}

class Reader {
  readonly #t: Table;
  readonly #prefix: string;
  constructor(t: Table, prefix: string) {
    this.#t = t;
    this.#prefix = prefix;
  }

  #name(key: string): string {
    return this.#prefix === '' ? key : `${this.#prefix}.${key}`;
  }

  /** A ConfigError naming `key`. */
  fail(key: string, message: string): never {
    throw new ConfigError(`invalid value for \`${this.#name(key)}\`: ${message}`);
  }

  #bad(key: string, expected: string, v: unknown): never {
    throw new ConfigError(`invalid value for \`${this.#name(key)}\`: expected ${expected}, got ${typeName(v)}${typeof v === 'string' ? ` "${v}"` : typeof v === 'number' || typeof v === 'boolean' ? ` ${String(v)}` : ''}`);
  }

  has(key: string): boolean {
    return this.#t[key] !== undefined;
  }

  /** Refuses a key of this table that CONFIG_KEYS lacks (sections where a typo would silently disable something). */
  rejectUnknown(): void {
    for (const k of Object.keys(this.#t)) {
      if (!isKey(this.#name(k))) this.fail(k, 'unknown key');
    }
  }

  /** A key the table marks `required` must be present. */
  require(key: string): void {
    if (this.#t[key] === undefined) this.fail(key, 'missing (required)');
  }

  /** An array of tables (`[[peering.peers]]`): one Reader per table, named like the array. */
  tables(key: string): Reader[] {
    keyDef(this.#name(key), 'tables');
    const v = this.#t[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every(isTable)) this.#bad(key, `an array of tables ([[${this.#name(key)}]])`, v);
    return (v as Table[]).map((t) => new Reader(t, this.#name(key)));
  }

  /** The raw value of `key` (for checks before the typed read). */
  peek(key: string): unknown {
    return this.#t[key];
  }

  table(key: string): Reader {
    keyDef(this.#name(key), 'table');
    const v = this.#t[key];
    if (v === undefined) return new Reader({}, this.#name(key));
    if (!isTable(v)) this.#bad(key, 'a table', v);
    return new Reader(v, this.#name(key));
  }

  /** `fallback`: the default of a key whose default is computed at run time. */
  string(key: string, opts: { fallback?: string } = {}): string {
    const d = keyDef(this.#name(key), 'string');
    const v = this.#t[key];
    if (v === undefined) return d.default ?? opts.fallback ?? '';
    if (typeof v !== 'string') this.#bad(key, 'a string', v);
    if (d.nonEmpty === true && v === '') this.#bad(key, 'a non-empty string', v);
    return v;
  }

  bool(key: string): boolean {
    const d = keyDef(this.#name(key), 'bool');
    const v = this.#t[key];
    if (v === undefined) return d.default;
    if (typeof v !== 'boolean') this.#bad(key, 'a boolean (true or false)', v);
    return v;
  }

  int(key: string): number {
    const d = keyDef(this.#name(key), 'int');
    const v = this.#t[key];
    if (v === undefined) return d.default;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < d.min || n > d.max) {
      this.#bad(key, `an integer in ${d.min}..${d.max}`, v);
    }
    return n;
  }

  stringArray(key: string): string[] {
    const d = keyDef(this.#name(key), 'strings');
    const v = this.#t[key];
    if (v === undefined) return [...d.default];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.#bad(key, 'an array of strings', v);
    return v as string[];
  }

  oneOf<T extends string>(key: string): T {
    const d = keyDef(this.#name(key), 'enum');
    const v = this.#t[key] ?? d.default;
    if (typeof v !== 'string') this.#bad(key, 'a string', v);
    if (!d.values.includes(v)) {
      throw new ConfigError(`invalid value for \`${this.#name(key)}\`: expected one of ${d.values.join(', ')}, got "${v}"`);
    }
    return v as T;
  }
}

/** Name of the group with `gid` (/etc/group), or the number as text. */
export function groupName(gid: number): string {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && Number(f[2]) === gid && f[0] !== undefined) return f[0];
    }
  } catch {
    /* no /etc/group */
  }
  return String(gid);
}

/** This host's default fleet node: its host name up to the first dot. */
export function defaultNode(): string {
  return hostname().split('.')[0] ?? '';
}

/** A server URL of `[fleet] servers`: nats://, tls:// (or ws(s)://) host:port, or a bare host:port. */
function serverError(url: string): string | undefined {
  const withScheme = /^[a-z]+:\/\//i.test(url) ? url : `nats://${url}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return `"${url.replace(/\/\/[^@/]*@/, '//***@')}" is not a URL`;
  }
  if (!['nats:', 'tls:'].includes(u.protocol)) return `"${u.protocol}" is not a NATS scheme (nats:// or tls://)`;
  if (u.hostname === '') return 'a server URL needs a host';
  return undefined;
}

function readableFile(r: Reader, key: string, path: string): void {
  if (path === '') return;
  try {
    accessSync(path, fsc.R_OK);
  } catch (err) {
    r.fail(key, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The `[fleet]` section (docs/fleet.md); checked even when disabled, so a typo shows before it is turned on. */
function fleetConfig(f: Reader): FleetConfig {
  const enabled = f.bool('enabled');
  const servers = f.stringArray('servers');
  if (servers.length === 0) f.fail('servers', 'expected at least one server URL');
  for (const s of servers) {
    const e = serverError(s);
    if (e !== undefined) f.fail('servers', e);
  }
  const node = f.string('node') || defaultNode();
  const ne = nodeError(node);
  if (ne !== undefined && (enabled || f.has('node'))) f.fail('node', `${ne}, got "${node}"${f.has('node') ? '' : ' (the host name): set `fleet.node`'}`);
  const bucket = f.string('bucket');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(bucket)) f.fail('bucket', `expected 1 to 64 characters among A-Z a-z 0-9 _ -, got "${bucket}"`);
  const policies = f.stringArray('policies');
  if (policies.length === 0) f.fail('policies', 'expected at least one of drop, ignore');
  for (const p of policies) {
    if (!(POLICIES as readonly string[]).includes(p)) f.fail('policies', `expected drop or ignore, got "${p}"`);
  }
  if (new Set(policies).size !== policies.length) f.fail('policies', 'a policy is listed twice');
  const replicas = f.int('replicas');
  const user = f.string('user');
  const password = f.string('password');
  if ((user === '') !== (password === '')) f.fail(user === '' ? 'user' : 'password', 'user and password go together');
  const token = f.string('token');
  const creds = f.string('creds');
  const auths = [token !== '', user !== '', creds !== ''].filter(Boolean).length;
  if (auths > 1) f.fail(creds !== '' ? 'creds' : 'token', 'set one of token, user + password, creds');
  const tlsCa = f.string('tls_ca');
  const tlsCert = f.string('tls_cert');
  const tlsKey = f.string('tls_key');
  if ((tlsCert === '') !== (tlsKey === '')) f.fail(tlsCert === '' ? 'tls_cert' : 'tls_key', 'tls_cert and tls_key go together');
  if (enabled) {
    readableFile(f, 'creds', creds);
    readableFile(f, 'tls_ca', tlsCa);
    readableFile(f, 'tls_cert', tlsCert);
    readableFile(f, 'tls_key', tlsKey);
  }
  return {
    enabled, servers, node, bucket, policies: policies as Policy[], replicas,
    token, user, password, creds, tlsCa, tlsCert, tlsKey,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One `[[peering.peers]]` table (all of Couic's keys required); errors say which peer. */
function peerConfig(p: Reader, index: number, enabled: boolean): PeerConfig {
  try {
    p.rejectUnknown();
    const host = p.string('host');
    const port = p.int('port');
    const tls = p.bool('tls');
    const token = p.string('token');
    const ca = p.string('ca');
    for (const k of ['host', 'port', 'tls', 'token']) p.require(k);
    // The value is a secret: the message never shows it.
    if (!UUID.test(token)) p.fail('token', `expected a UUID (the token of a client of the peer), got a string of ${token.length} characters`);
    let url: URL | undefined;
    try {
      url = new URL(`${peerBaseUrl({ host, port, tls })}/`);
    } catch {
      url = undefined;
    }
    if (host === '' || url === undefined || url.pathname !== '/' || url.username !== '' || url.search !== '' || /[/@?#\s]/.test(host)) {
      p.fail('host', `expected a host name or address without scheme, port or path, got "${host}"`);
    }
    if (ca !== '' && !tls) p.fail('ca', 'a CA file needs tls = true');
    if (enabled) readableFile(p, 'ca', ca);
    return { host, port, tls, token, ca };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${err.message} (peer #${index + 1} of [[peering.peers]])`);
    throw err;
  }
}

/** `[peering]`: checked even when disabled, so a typo shows before it is turned on. */
function peeringConfig(r: Reader): PeeringConfig {
  r.rejectUnknown();
  const enabled = r.bool('enabled');
  const peers = r.tables('peers').map((p, i) => peerConfig(p, i, enabled));
  if (enabled && peers.length === 0) r.fail('peers', 'peering is enabled and no [[peering.peers]] is given');
  const names = peers.map((p) => `${p.host}:${p.port}`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) r.fail('peers', `the peer ${dup} is listed twice`);
  return { enabled, peers, maxBacklog: r.int('max_backlog'), maxBacklogBytes: r.int('max_backlog_bytes') };
}

/** `[reporting]`: checked even when disabled. */
function reportingConfig(r: Reader): ReportingConfig {
  r.rejectUnknown();
  const enabled = r.bool('enabled');
  const webhook = r.string('webhook');
  if (enabled && webhook === '') r.fail('webhook', 'reporting is enabled and no webhook URL is given');
  if (webhook !== '') {
    let u: URL | undefined;
    try {
      u = new URL(webhook);
    } catch {
      u = undefined;
    }
    // The URL may carry a secret (couic-report's path): the message shows none of it.
    if (u === undefined) r.fail('webhook', 'expected an http:// or https:// URL, got text that is not a URL');
    if (u.protocol !== 'http:' && u.protocol !== 'https:') r.fail('webhook', `expected an http:// or https:// URL, got scheme "${u.protocol}"`);
    if (u.hostname === '') r.fail('webhook', 'the URL needs a host');
  }
  return { enabled, webhook, maxBuffer: r.int('max_buffer') };
}

/** Builds the config from parsed TOML (`doc`); throws ConfigError. */
export function configFromToml(doc: Table, source: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const r = new Reader(doc, '');
  const me = userInfo();
  if (r.peek('operation_mode') === 'offloaded') {
    throw new ConfigError('invalid value for `operation_mode`: "offloaded" (hardware offload) is not supported by couic; use generic, native or auto');
  }
  const operationMode = r.oneOf<OperationMode>('operation_mode');

  const logging = r.table('logging');
  const levelText = logging.string('level');
  let level = normalizeLevel(levelText);
  if (level === undefined) {
    throw new ConfigError(`invalid value for \`logging.level\`: expected one of trace, debug, info, warn, error, fatal, silent, got "${levelText}"`);
  }
  // Couic's RUST_LOG, when it names one plain level (`debug`, not `couic=debug,hyper=info`)
  const rustLevel = normalizeLevel(env['RUST_LOG'] ?? '');
  if (rustLevel !== undefined) level = rustLevel;
  const envLevel = env['COUIC_LOG_LEVEL'];
  if (envLevel !== undefined && envLevel !== '') {
    const l = normalizeLevel(envLevel);
    if (l === undefined) throw new ConfigError(`invalid COUIC_LOG_LEVEL "${envLevel}": expected one of trace, debug, info, warn, error, fatal, silent`);
    level = l;
  }
  const logDir = logging.string('dir');
  if (logDir === '') throw new ConfigError('invalid value for `logging.dir`: expected a directory, got ""');
  const files = {
    dir: logDir,
    explicit: logging.has('dir'),
    rotation: logging.oneOf<Rotation>('rotation'),
    maxFiles: logging.int('max_log_files'),
    format: logging.oneOf<'text' | 'json'>('format'),
  };

  const server = r.table('server');
  const dp = r.table('dataplane');
  const journal = r.table('journal');
  const queue = r.table('queue');
  const fleet = fleetConfig(r.table('fleet'));
  const peering = peeringConfig(r.table('peering'));
  const reporting = reportingConfig(r.table('reporting'));

  return {
    source,
    ifaces: r.stringArray('ifaces'),
    operationMode,
    workingDir: r.string('working_dir'),
    user: r.string('user', { fallback: me.username }),
    group: r.string('group', { fallback: groupName(me.gid) }),
    logging: { level, files },
    server: { socket: server.string('socket') },
    dataplane: {
      helper: dp.string('helper') || helperPath(),
      pinDir: dp.string('pin_dir'),
      dropExact: dp.int('drop_exact'),
      dropCidr: dp.int('drop_cidr'),
      ignoreExact: dp.int('ignore_exact'),
      ignoreCidr: dp.int('ignore_cidr'),
      maxTags: dp.int('max_tags'),
      lpmOnly: dp.bool('lpm_only'),
      batching: dp.bool('batching'),
    },
    journal: {
      fsync: journal.bool('fsync'),
      compactAfter: journal.int('compact_after'),
    },
    queue: {
      maxPending: queue.int('max_pending'),
      helperWaitMs: queue.int('helper_wait_ms'),
    },
    fleet,
    peering,
    reporting,
  };
}

/** Reads `path` (TOML); no path = the embedded default. Throws ConfigError. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (path === undefined) return configFromToml({}, undefined, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    throw new ConfigError(`${path}: invalid TOML: ${(err as Error).message}`);
  }
  return configFromToml(doc, path, env);
}
