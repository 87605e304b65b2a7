/**
 * couicctl's configuration (spec §9.1): `/etc/couic/couicctl.toml` or
 * `-c FILE`, in Couic's format:
 *
 *   mode = "local" | "remote"     # required
 *   client_file = "<path>.toml"   # required in every mode
 *   socket = "<path>"             # local
 *   host = "<name>"; port = 2900; tls = false; token = "<uuid>"   # remote
 *
 * When the default file does not exist (and no -c was given) the daemon's
 * embedded defaults apply, so `couicctl drop list` works right after
 * `couic` starts without any config.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { GROUPS } from '../domain/types.js';
import { clientSetupError, configError } from './errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/couic/couicctl.toml';
export const DEFAULT_SOCKET = '/run/couic/couic.sock';
export const DEFAULT_CLIENT_FILE = '/var/lib/couic/rbac/clients/couicctl.toml';
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export interface RawConfig {
  readonly mode: 'local' | 'remote';
  readonly clientFile: string;
  readonly socket: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly tls: boolean;
  readonly token: string;
}

/** Where requests go and with which token. */
export type Endpoint =
  | { readonly kind: 'unix'; readonly socketPath: string; readonly token: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly tls: boolean; readonly token: string };

const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

function isUuid(text: string): boolean {
  let t = text;
  if (t.startsWith('{') && t.endsWith('}')) t = t.slice(1, -1);
  else if (t.startsWith('urn:uuid:')) t = t.slice(9);
  return UUID_RE.test(t) && (t.length === 32 || t.length === 36);
}

const SIMPLE_LINE = /^([A-Za-z0-9_-]+)[ \t]*=[ \t]*(?:"([^"\\]*)"|(true|false)|([+-]?[0-9]+))[ \t]*(?:#.*)?$/;

/**
 * Flat `key = "string" | true | false | integer` documents (what couicctl
 * configs and client files are) are read without loading the TOML parser;
 * anything else (tables, escapes, arrays, duplicates...) goes to smol-toml.
 */
export function parseSimpleToml(text: string): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SIMPLE_LINE.exec(line);
    if (m === null) return undefined;
    const key = m[1] as string;
    if (Object.hasOwn(out, key)) return undefined;
    if (m[2] !== undefined) out[key] = m[2];
    else if (m[3] !== undefined) out[key] = m[3] === 'true';
    else {
      const n = BigInt(m[4] as string);
      out[key] = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
  }
  return out;
}

async function parseToml(text: string): Promise<Record<string, unknown>> {
  const simple = parseSimpleToml(text);
  if (simple !== undefined) return simple;
  const { parse } = await import('smol-toml');
  return parse(text) as Record<string, unknown>;
}

function field<T>(obj: Record<string, unknown>, key: string, type: 'string' | 'boolean' | 'integer', required: boolean): T | undefined {
  const v = obj[key];
  if (v === undefined) {
    if (required) throw configError('Parse', `missing field \`${key}\``);
    return undefined;
  }
  const ok =
    type === 'integer' ? typeof v === 'number' || typeof v === 'bigint' : typeof v === type;
  if (!ok) throw configError('Parse', `invalid type for \`${key}\`: expected ${type === 'integer' ? 'u16' : `a ${type}`}`);
  return v as T;
}

/** Validates a parsed TOML document into a RawConfig (throws SetupError). */
export function validateConfig(doc: Record<string, unknown>): RawConfig {
  const mode = field<string>(doc, 'mode', 'string', true) as string;
  if (mode !== 'local' && mode !== 'remote') {
    throw configError('Parse', `unknown variant \`${mode}\`, expected \`local\` or \`remote\` for key \`mode\``);
  }
  const clientFile = field<string>(doc, 'client_file', 'string', true) as string;
  const socket = field<string>(doc, 'socket', 'string', false);
  const host = field<string>(doc, 'host', 'string', false);
  const portRaw = field<number | bigint>(doc, 'port', 'integer', false);
  let port: number | undefined;
  if (portRaw !== undefined) {
    port = Number(portRaw);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw configError('Parse', `invalid value: integer \`${String(portRaw)}\`, expected u16 for key \`port\``);
    }
  }
  const tls = field<boolean>(doc, 'tls', 'boolean', false) ?? false;
  const token = field<string>(doc, 'token', 'string', false) ?? NIL_UUID;
  if (!isUuid(token)) throw configError('Parse', `invalid UUID for key \`token\`: ${token}`);
  if (mode === 'local' && socket === undefined) throw configError('Validation', 'socket is required for local mode');
  if (mode === 'remote') {
    if (host === undefined) throw configError('Validation', 'host is required for remote mode');
    if (port === undefined) throw configError('Validation', 'port is required for remote mode');
  }
  return { mode, clientFile, socket, host, port, tls, token };
}

/** Reads the config: `-c FILE`, else the default file, else the embedded defaults. */
export async function loadConfig(explicitPath: string | undefined): Promise<RawConfig> {
  const path = explicitPath ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (explicitPath === undefined && e.code === 'ENOENT') {
      return { mode: 'local', clientFile: DEFAULT_CLIENT_FILE, socket: DEFAULT_SOCKET, host: undefined, port: undefined, tls: false, token: NIL_UUID };
    }
    throw configError('Io', `${path}: ${e.message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = await parseToml(text);
  } catch (err) {
    throw configError('Parse', `${path}: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  return validateConfig(doc);
}

/** Reads `token` and `group` from a client file (`token = "…"`, `group = "…"`). */
export async function readClientFile(file: string): Promise<{ token: string; group: string }> {
  if (!file.endsWith('.toml')) throw clientSetupError('Invalid client file');
  let text: string;
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
    text = readFileSync(file, 'utf8');
  } catch {
    throw clientSetupError('Invalid client file');
  }
  let token: unknown;
  let group: unknown;
  try {
    const doc = await parseToml(text);
    token = doc['token'];
    group = doc['group'];
  } catch {
    throw clientSetupError('Invalid client file');
  }
  if (typeof token !== 'string' || !isUuid(token) || typeof group !== 'string' || !(GROUPS as readonly string[]).includes(group)) throw clientSetupError('Invalid client file');
  return { token, group };
}

/** Builds the endpoint (spec §9.1 checks: socket exists, client file valid). */
export async function resolveEndpoint(config: RawConfig): Promise<Endpoint> {
  if (config.mode === 'remote') {
    return { kind: 'tcp', host: config.host as string, port: config.port as number, tls: config.tls, token: config.token };
  }
  const socketPath = config.socket as string;
  if (!existsSync(socketPath)) throw clientSetupError(`Unix socket does not exist: ${socketPath}`);
  const { token } = await readClientFile(config.clientFile);
  return { kind: 'unix', socketPath, token };
}
