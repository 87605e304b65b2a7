/**
 * Every key of couic.toml, in one table: the parser (config.ts) takes each
 * key's type, default and bounds from here, and couic(8) is generated from
 * it (src/man), so the manual cannot drift from what the daemon reads.
 *
 * `origin`: `couic` = a key of Couic 1.0.2's format (spec §8.1) that we
 * honour; `couic-ignored` = a Couic key accepted for compatibility and not
 * used; `ours` = a key Couic does not have.
 */
import { LOG_LEVELS } from '../log.js';
import { DEFAULTS } from '../xdp/abi.js';

export type KeyOrigin = 'couic' | 'couic-ignored' | 'ours';

interface KeyBase {
  /** Dotted name: `ifaces`, `dataplane.drop_exact`, `peering.peers`. */
  readonly key: string;
  readonly origin: KeyOrigin;
  readonly doc: string;
  /** The key must be given (Couic's keys of [[peering.peers]]); `default` is then never used. */
  readonly required?: boolean;
}

export type KeyDef = KeyBase &
  (
    | {
        readonly kind: 'string';
        /** undefined: computed at run time, described by `defaultDoc`. */
        readonly default: string | undefined;
        readonly defaultDoc?: string;
        readonly nonEmpty?: boolean;
      }
    | { readonly kind: 'strings'; readonly default: readonly string[] }
    | { readonly kind: 'bool'; readonly default: boolean }
    | { readonly kind: 'int'; readonly default: number; readonly min: number; readonly max: number }
    | { readonly kind: 'enum'; readonly default: string; readonly values: readonly string[] }
    /** A section, an array of tables, or a key the parser does not read (type and default given as text). */
    | { readonly kind: 'table' | 'tables' | 'other'; readonly typeDoc: string; readonly defaultDoc: string }
  );

export type KeyKind = KeyDef['kind'];

export const U32_MAX = 0xffff_ffff;

export const CONFIG_KEYS: readonly KeyDef[] = [
  {
    key: 'ifaces', kind: 'strings', default: [], origin: 'couic',
    doc: 'Interfaces the XDP program is attached to, e.g. ["eth0"]. Empty: nothing is filtered (the API, the journal and the fail2ban path still work).',
  },
  {
    key: 'operation_mode', kind: 'enum', default: 'generic', values: ['generic', 'native', 'auto'], origin: 'couic',
    doc: 'XDP attach mode: generic (SKB mode, works on every driver), native (driver mode), or auto (native, falling back to generic). Couic\'s "offloaded" (hardware offload) is refused.',
  },
  {
    key: 'working_dir', kind: 'string', default: '/var/lib/couic', nonEmpty: true, origin: 'couic',
    doc: 'State directory: journal/, rbac/clients/*.toml, sets/{drop,ignore}/. Its subdirectories are created 0755 user:group.',
  },
  {
    key: 'user', kind: 'string', default: undefined, defaultDoc: 'the user running couic', nonEmpty: true, origin: 'couic',
    doc: 'Owner of the files the daemon creates and of the socket, and the user the daemon runs as. Started by couic-launcher as root, the daemon drops to this user (and `group`) after setting up its working dir, with no capability left; started by the launcher as another user, it must be this one (User= of the unit). Without the launcher the daemon never changes its uid.',
  },
  {
    key: 'group', kind: 'string', default: undefined, defaultDoc: 'the group running couic', nonEmpty: true, origin: 'couic',
    doc: 'Group of the files the daemon creates and of the socket (mode 0770): members may use couicctl.',
  },
  { key: 'logging', kind: 'table', typeDoc: 'table', defaultDoc: '{}', origin: 'couic', doc: 'How and where the daemon logs.' },
  {
    key: 'logging.level', kind: 'string', default: 'info', origin: 'ours',
    doc: `Log level: ${LOG_LEVELS.join(', ')} (also warning, critical, off, none; any case). RUST_LOG (Couic's) overrides it when it names one plain level, and COUIC_LOG_LEVEL overrides both.`,
  },
  {
    key: 'logging.dir', kind: 'string', default: '/var/log/couic', origin: 'couic',
    doc: 'Directory of the log files, created if missing: couic.<yyyy-MM-dd>.<n>.log (couic.<n>.log with rotation never), written by pino-roll. When the key is absent and the default directory cannot be written, the daemon logs to stdout only; a dir given that cannot be written is a startup error. Stdout gets the same lines: text on a terminal, the journal\'s form under systemd, JSON lines otherwise.',
  },
  {
    key: 'logging.rotation', kind: 'enum', default: 'daily', values: ['daily', 'weekly', 'never'], origin: 'couic',
    doc: 'A new log file at local midnight (daily), every 7 days counted from the Unix epoch and at each start (weekly), or one file (never).',
  },
  {
    key: 'logging.max_log_files', kind: 'int', default: 7, min: 0, max: U32_MAX, origin: 'couic',
    doc: 'How many log files are kept, the current one included: the oldest are removed at each rotation. 0 keeps them all.',
  },
  {
    key: 'logging.format', kind: 'enum', default: 'text', values: ['text', 'json'], origin: 'couic',
    doc: 'Log file lines: text (`<time> <LEVEL> couic::<module>: <message> key=value…`, like Couic\'s) or json (pino\'s JSON lines: level, time, pid, name, module, msg, fields).',
  },
  { key: 'server', kind: 'table', typeDoc: 'table', defaultDoc: '{}', origin: 'couic', doc: 'The Couic v1 API server.' },
  {
    key: 'server.socket', kind: 'string', default: '/run/couic/couic.sock', nonEmpty: true, origin: 'couic',
    doc: 'The Unix socket of the Couic v1 API (mode 0770 user:group). A stale socket file is replaced.',
  },
  {
    key: 'reporting', kind: 'table', typeDoc: 'table', defaultDoc: 'absent', origin: 'couic',
    doc: 'Couic\'s webhook reporting (docs/peering.md): each change made through the API or /v1/bans is POSTed to `webhook` as Couic\'s report JSON, batched. Unknown keys in this section are refused.',
  },
  { key: 'reporting.enabled', kind: 'bool', default: false, origin: 'couic', doc: 'Send reports to `webhook`.' },
  {
    key: 'reporting.webhook', kind: 'string', default: '', origin: 'couic',
    doc: 'The http:// or https:// URL reports are POSTed to (required when enabled; e.g. couic-report\'s http://127.0.0.1:8000/v1/reports/<secret>). Only its scheme, host and port are ever logged.',
  },
  {
    key: 'reporting.max_buffer', kind: 'int', default: 4096, min: 1, max: 1_048_576, origin: 'ours',
    doc: 'Reports kept while the webhook is unreachable; beyond, the oldest are dropped, counted and logged (Couic\'s bound, 4096).',
  },
  {
    key: 'peering', kind: 'table', typeDoc: 'table', defaultDoc: 'absent', origin: 'couic',
    doc: 'Couic\'s multi-node synchronisation (docs/peering.md): each change made through the API or /v1/bans is pushed to every peer as Couic PeerJobs (POST /v1/{policy}/peer). Unknown keys in this section and in its peers are refused.',
  },
  { key: 'peering.enabled', kind: 'bool', default: false, origin: 'couic', doc: 'Push this host\'s changes to `peers` (at least one is then required).' },
  {
    key: 'peering.peers', kind: 'tables', typeDoc: 'array of tables [[peering.peers]]', defaultDoc: '[]', origin: 'couic',
    doc: 'The peers, one [[peering.peers]] table each, with `host`, `port`, `tls` and `token` (all required, as in Couic).',
  },
  {
    key: 'peering.peers.host', kind: 'string', default: '', required: true, origin: 'couic',
    doc: 'Host name or address of the peer\'s reverse proxy (docs/nginx/couic.conf), without scheme or port.',
  },
  { key: 'peering.peers.port', kind: 'int', default: 0, min: 1, max: 65535, required: true, origin: 'couic', doc: 'TCP port of the peer\'s reverse proxy.' },
  {
    key: 'peering.peers.tls', kind: 'bool', default: false, required: true, origin: 'couic',
    doc: 'https (the peer\'s certificate is verified, against the system CAs or `ca`) or plain http.',
  },
  {
    key: 'peering.peers.token', kind: 'string', default: '', required: true, origin: 'couic',
    doc: 'The UUID token of a client of group peering (or admin, clientrw) on the peer; sent as `Authorization: Bearer`, never logged.',
  },
  {
    key: 'peering.peers.ca', kind: 'string', default: '', origin: 'ours',
    doc: 'A PEM file of the CA that signed the peer\'s certificate (self-signed setups); "" = the system CAs. Needs tls = true.',
  },
  {
    key: 'peering.max_backlog', kind: 'int', default: 16_384, min: 1, max: 1_048_576, origin: 'ours',
    doc: 'Changes kept per peer while it is unreachable; beyond, the oldest are dropped with a warning and a counter, and the peer is marked as needing a resync.',
  },
  {
    key: 'peering.max_backlog_bytes', kind: 'int', default: 8_388_608, min: 1024, max: 1 << 30, origin: 'ours',
    doc: 'The same bound in bytes of JSON per peer.',
  },
  { key: 'fleet', kind: 'table', typeDoc: 'table', defaultDoc: '{}', origin: 'ours', doc: 'Ban sharing across hosts over NATS JetStream (docs/fleet.md). Checked even when disabled.' },
  { key: 'fleet.enabled', kind: 'bool', default: false, origin: 'ours', doc: 'Share this host\'s bans with the fleet and enforce the other nodes\' bans.' },
  {
    key: 'fleet.servers', kind: 'strings', default: ['nats://127.0.0.1:4222'], origin: 'ours',
    doc: 'NATS server URLs (nats:// or tls://, or host:port); list the servers of a cluster.',
  },
  {
    key: 'fleet.node', kind: 'string', default: undefined, defaultDoc: 'the host name up to its first dot', origin: 'ours',
    doc: 'This host\'s id in the fleet: the prefix of the keys it writes (letters, digits, - and _).',
  },
  { key: 'fleet.bucket', kind: 'string', default: 'couic', origin: 'ours', doc: 'The JetStream key-value bucket (1 to 64 of A-Z a-z 0-9 _ -).' },
  { key: 'fleet.policies', kind: 'strings', default: ['drop'], origin: 'ours', doc: 'What is shared: drop, ignore (opt-in).' },
  { key: 'fleet.replicas', kind: 'int', default: 1, min: 1, max: 5, origin: 'ours', doc: 'Replicas of the bucket when couic creates it (3 on a 3-server cluster).' },
  { key: 'fleet.token', kind: 'string', default: '', origin: 'ours', doc: 'NATS token authentication (never logged).' },
  { key: 'fleet.user', kind: 'string', default: '', origin: 'ours', doc: 'NATS user (with `password`).' },
  { key: 'fleet.password', kind: 'string', default: '', origin: 'ours', doc: 'NATS password (with `user`; never logged).' },
  { key: 'fleet.creds', kind: 'string', default: '', origin: 'ours', doc: 'A NATS credentials file (JWT + NKey).' },
  { key: 'fleet.tls_ca', kind: 'string', default: '', origin: 'ours', doc: 'CA file that verifies the servers\' certificates.' },
  { key: 'fleet.tls_cert', kind: 'string', default: '', origin: 'ours', doc: 'Client certificate (with `tls_key`).' },
  { key: 'fleet.tls_key', kind: 'string', default: '', origin: 'ours', doc: 'Client key (with `tls_cert`).' },
  { key: 'dataplane', kind: 'table', typeDoc: 'table', defaultDoc: '{}', origin: 'ours', doc: 'The XDP data plane: the helper, map sizes, pinning.' },
  {
    key: 'dataplane.helper', kind: 'string', default: undefined, defaultDoc: 'the couic-helper of the install tree', origin: 'ours',
    doc: 'The couic-helper binary (loads the program, owns the maps). "" = the default.',
  },
  {
    key: 'dataplane.pin_dir', kind: 'string', default: '/sys/fs/bpf/couic', origin: 'ours',
    doc: 'bpffs directory to pin the maps and links in, so the program keeps dropping what is banned while the daemon is down or restarting (fail closed); "" = no pinning. Needs a bpffs the daemon\'s user may write (and ReadWritePaths= under systemd). Where the default cannot be used (no bpffs, not writable), couic says why at start and runs without pinning; another directory that cannot be used is a startup error.',
  },
  {
    key: 'dataplane.drop_exact', kind: 'int', default: DEFAULTS.DROP_EXACT, min: 1, max: U32_MAX, origin: 'ours',
    doc: 'Capacity of the hash maps of drop entries that are single addresses (/32, /128), per family.',
  },
  {
    key: 'dataplane.drop_cidr', kind: 'int', default: DEFAULTS.DROP_CIDR, min: 1, max: U32_MAX, origin: 'ours',
    doc: 'Capacity of the LPM tries of drop entries that are wider prefixes, per family.',
  },
  {
    key: 'dataplane.ignore_exact', kind: 'int', default: DEFAULTS.IGNORE_EXACT, min: 1, max: U32_MAX, origin: 'ours',
    doc: 'Capacity of the hash maps of ignore entries that are single addresses, per family.',
  },
  {
    key: 'dataplane.ignore_cidr', kind: 'int', default: DEFAULTS.IGNORE_CIDR, min: 1, max: U32_MAX, origin: 'ours',
    doc: 'Capacity of the LPM tries of ignore entries that are wider prefixes, per family.',
  },
  {
    key: 'dataplane.max_tags', kind: 'int', default: DEFAULTS.MAX_TAGS, min: 2, max: 1 << 20, origin: 'ours',
    doc: 'Per-tag counter slots per policy; tags beyond share the (overflow) slot.',
  },
  {
    key: 'dataplane.lpm_only', kind: 'bool', default: false, origin: 'ours',
    doc: 'true: every entry in the LPM tries (Couic\'s layout), no hash maps.',
  },
  {
    key: 'dataplane.batching', kind: 'bool', default: true, origin: 'ours',
    doc: 'Coalesce map updates of concurrent requests into batches (false: one helper call per entry, Couic\'s way).',
  },
  { key: 'journal', kind: 'table', typeDoc: 'table', defaultDoc: '{}', origin: 'ours', doc: 'The journal of working_dir/journal.' },
  {
    key: 'journal.fsync', kind: 'bool', default: true, origin: 'ours',
    doc: 'fdatasync every acknowledged mutation before answering (false: faster, the last changes may be lost on a crash of the machine).',
  },
  {
    key: 'journal.compact_after', kind: 'int', default: 1_000_000, min: 1, max: Number.MAX_SAFE_INTEGER, origin: 'ours',
    doc: 'Records written before the journal is compacted into a snapshot.',
  },
  { key: 'queue', kind: 'table', typeDoc: 'table', defaultDoc: '{}', origin: 'ours', doc: 'The queue of mutations on their way to the kernel.' },
  {
    key: 'queue.max_pending', kind: 'int', default: 262_144, min: 1, max: Number.MAX_SAFE_INTEGER, origin: 'ours',
    doc: 'Mutations queued or in flight beyond which new requests are refused with 503 busy.',
  },
  {
    key: 'queue.helper_wait_ms', kind: 'int', default: 5_000, min: 0, max: 3_600_000, origin: 'ours',
    doc: 'How long a mutation waits for a restarting helper before it fails with 503 unavailable.',
  },
];

const BY_KEY: ReadonlyMap<string, KeyDef> = new Map(CONFIG_KEYS.map((d) => [d.key, d]));

/** The definition of `key` with kind `kind`; throws when the parser reads a key the table lacks. */
export function keyDef<K extends KeyKind>(key: string, kind: K): Extract<KeyDef, { kind: K }> {
  const d = BY_KEY.get(key);
  if (d === undefined || d.kind !== kind) {
    throw new Error(`config key \`${key}\` (${kind}) is not in CONFIG_KEYS: add it to src/daemon/config-keys.ts`);
  }
  return d as Extract<KeyDef, { kind: K }>;
}

/** Whether `key` (dotted) is in the table. */
export function isKey(key: string): boolean {
  return BY_KEY.has(key);
}

/** The type of a key, as the manual states it. */
export function typeText(d: KeyDef): string {
  switch (d.kind) {
    case 'string':
      return 'string';
    case 'strings':
      return 'array of strings';
    case 'bool':
      return 'boolean';
    case 'int':
      return `integer ${d.min}..${d.max}`;
    case 'enum':
      return d.values.join(' | ');
    case 'table':
    case 'tables':
    case 'other':
      return d.typeDoc;
  }
}

/** The default of a key, as TOML (or the description of a computed default). */
export function defaultText(d: KeyDef): string {
  if (d.required === true) return 'required';
  switch (d.kind) {
    case 'string':
      return d.default === undefined ? (d.defaultDoc ?? '') : JSON.stringify(d.default);
    case 'strings':
      return JSON.stringify(d.default);
    case 'bool':
    case 'int':
      return String(d.default);
    case 'enum':
      return JSON.stringify(d.default);
    case 'table':
    case 'tables':
    case 'other':
      return d.defaultDoc;
  }
}
