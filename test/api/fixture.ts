/**
 * The target of the API conformance tests: the REAL daemon through
 * test/lib/daemon.ts whenever dist/src/daemon/main.js exists; otherwise
 * (early development only) an in-process startApiServer over a small
 * in-memory EntryService. Set COUIC_TEST_INPROC=1 to force the latter.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startApiServer } from '../../src/api/server.js';
import { ClientRegistry } from '../../src/core/clients.js';
import type { EntryService } from '../../src/core/model/types.js';
import type { Actor, Cidr, CreateRequest, Entry, PeerJob, Policy } from '../../src/domain/types.js';
import { AppError } from '../../src/errors.js';
import {
  currentOwner,
  daemonBuilt,
  readClientToken,
  startDaemon,
  unixRequest,
  type RequestOptions,
  type Response,
} from '../lib/daemon.js';

export interface Target {
  readonly real: boolean;
  readonly token: string;
  readonly workingDir: string;
  request(method: string, urlPath: string, opts?: RequestOptions): Promise<Response>;
  stop(): Promise<void>;
}

export interface TargetOptions {
  readonly dataplane?: Readonly<Partial<Record<'drop_exact' | 'drop_cidr' | 'ignore_exact' | 'ignore_cidr', number>>>;
}

export async function startTarget(opts: TargetOptions = {}): Promise<Target> {
  if (daemonBuilt() && process.env['COUIC_TEST_INPROC'] !== '1') {
    const d = await startDaemon(opts.dataplane === undefined ? {} : { dataplane: opts.dataplane });
    return {
      real: true,
      get token() {
        return d.token;
      },
      workingDir: d.workingDir,
      request: d.request,
      stop: d.stop,
    };
  }
  return startInProcess(opts);
}

/** Minimal EntryService with Couic's observable semantics (development stand-in). */
export class MemoryEntries implements EntryService {
  private readonly stores = { drop: new Map<string, Entry>(), ignore: new Map<string, Entry>() };
  private readonly caps: Required<NonNullable<TargetOptions['dataplane']>>;

  constructor(caps: TargetOptions['dataplane'] = {}) {
    this.caps = { drop_exact: 65536, drop_cidr: 16384, ignore_exact: 16384, ignore_cidr: 16384, ...caps };
  }

  list(policy: Policy): Entry[] {
    const all = [...this.stores[policy].values()];
    return [...all.filter((e) => e.cidr.family === 4), ...all.filter((e) => e.cidr.family === 6)];
  }

  get(policy: Policy, cidr: Cidr): Entry | undefined {
    return this.stores[policy].get(cidr.text);
  }

  count(policy: Policy): number {
    return this.stores[policy].size;
  }

  private capFor(policy: Policy, cidr: Cidr): number {
    const exact = cidr.prefixLen === (cidr.family === 4 ? 32 : 128);
    return this.caps[`${policy}_${exact ? 'exact' : 'cidr'}`];
  }

  private used(policy: Policy, cidr: Cidr): number {
    const exact = (c: Cidr): boolean => c.prefixLen === (c.family === 4 ? 32 : 128);
    let n = 0;
    for (const e of this.stores[policy].values()) {
      if (e.cidr.family === cidr.family && exact(e.cidr) === exact(cidr)) n += 1;
    }
    return n;
  }

  async create(policy: Policy, req: CreateRequest, _actor: Actor): Promise<Entry> {
    const store = this.stores[policy];
    if (store.has(req.cidr.text)) {
      throw new AppError('conflict', 'submitted entry is not valid', {
        cidr: { code: 'conflict', message: `${req.cidr.text} already exists` },
      });
    }
    const cap = this.capFor(policy, req.cidr);
    if (this.used(policy, req.cidr) >= cap) {
      throw new AppError('conflict', `couic underlying ebpf map is full: max ${cap} entries`);
    }
    const e: Entry = { policy, cidr: req.cidr, tag: req.tag, expiration: req.expiration, creation: Math.floor(Date.now() / 1000) };
    store.set(req.cidr.text, e);
    return e;
  }

  async remove(policy: Policy, cidr: Cidr, _actor: Actor): Promise<void> {
    if (!this.stores[policy].delete(cidr.text)) {
      throw new AppError('not_found', 'submitted entry not found', {
        cidr: { code: 'not_found', message: `cidr \`${cidr.text}\` not found` },
      });
    }
  }

  async applyPeer(policy: Policy, jobs: readonly PeerJob[], actor: Actor): Promise<void> {
    for (const j of jobs) {
      if (j.action === 'add') await this.create(policy, j.entry, actor);
      else await this.remove(policy, j.entry.cidr, actor);
    }
  }
}

async function startInProcess(opts: TargetOptions): Promise<Target> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'couic-api-'));
  const workingDir = path.join(tmp, 'work');
  mkdirSync(workingDir);
  const socketPath = path.join(tmp, 'couic.sock');
  const logger = pino({ level: process.env['COUIC_TEST_LOG'] ?? 'silent' });
  const { user, group } = currentOwner();
  const clients = await ClientRegistry.load({ workingDir, user, group, logger });
  const api = await startApiServer({ socketPath, entries: new MemoryEntries(opts.dataplane), clients, logger });
  const token = readClientToken(workingDir);
  return {
    real: false,
    token,
    workingDir,
    request: (method, urlPath, ro = {}) => unixRequest(socketPath, method, urlPath, { ...ro, defaultToken: token }),
    async stop(): Promise<void> {
      await api.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** Creates a client of `group` through the API and returns its token. */
export async function makeClient(t: Target, name: string, group: string): Promise<string> {
  const r = await t.request('POST', '/v1/client', { body: { name, group } });
  if (r.status !== 201) throw new Error(`cannot create client ${name}: ${r.status} ${r.text}`);
  return r.json().token as string;
}

export const UNAUTHORIZED = { code: 'unauthorized', message: 'Unauthorized', errors: {} } as const;

/** Unix seconds an hour from now. */
export const future = (secs = 3600): number => Math.floor(Date.now() / 1000) + secs;
