/**
 * Composition root: config -> working dir -> clients -> journal replay ->
 * helper (supervised, state pushed with REPLACE) -> expiry -> API.
 * stop() undoes it in reverse: stop accepting, drain the update queue,
 * close the journal, close the helper, remove the socket.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import { EventStream } from '../api/events.js';
import { setHandlers } from '../api/handlers/sets.js';
import { statsHandlers, type Health } from '../api/handlers/stats.js';
import type { HandlerTable } from '../api/routes.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { ClientRegistry, resolveOwner } from '../core/clients.js';
import { openCore, type Core } from '../core/core.js';
import type { EntryStore } from '../core/entries.js';
import type { BackoffOptions, HelperSupervisor } from '../core/kernel/supervisor.js';
import { SetFiles } from '../core/sets.js';
import { Fleet } from '../fleet/fleet.js';
import { Peering } from '../peering/peering.js';
import { Reporter } from '../reporting/reporter.js';
import { HelperClient, helperArgs, type Helper, type HelperClientOptions } from '../xdp/helper.js';
import type { Config } from './config.js';
import { resolvePinDir } from './pinning.js';
import type { PrivilegeSplit } from './privilege.js';

/** Working-dir layout (Couic's five directories plus our journal). */
export const WORKING_DIRS = ['rbac', 'rbac/clients', 'sets', 'sets/drop', 'sets/ignore', 'journal'] as const;

export interface StartOptions {
  /** Written into the fleet's hello. @default 'unknown' */
  readonly version?: string;
  /** Route handlers implemented outside src/api (sets, stats, metrics). */
  readonly handlers?: (entries: EntryStore) => HandlerTable;
  readonly backoff?: BackoffOptions;
  /** Under couic-launcher: drop to user/group after the working dir, start the helper through the launcher. */
  readonly split?: PrivilegeSplit;
}

export interface RunningDaemon {
  readonly config: Config;
  readonly entries: EntryStore;
  readonly supervisor: HelperSupervisor;
  readonly clients: ClientRegistry;
  readonly api: ApiServer;
  /** Static sets (files + reload; SIGHUP reloads them too). */
  readonly sets: SetFiles;
  /** The WebSocket event stream on the API socket. */
  readonly events: EventStream;
  /** The fleet ([fleet] enabled), else undefined. */
  readonly fleet: Fleet | undefined;
  /** Couic's peering ([peering] enabled), else undefined. */
  readonly peering: Peering | undefined;
  /** Couic's reporting ([reporting] enabled), else undefined. */
  readonly reporting: Reporter | undefined;
  /** Graceful stop; safe to call twice. */
  stop(): Promise<void>;
}

/** Creates the working dir layout (0755, owned by user:group when created). */
export async function initWorkingDir(config: Config, uid: number, gid: number, log: Logger): Promise<void> {
  const root = config.workingDir;
  const ensure = async (dir: string): Promise<void> => {
    try {
      const st = await fsp.stat(dir);
      if (!st.isDirectory()) throw new Error(`${dir} exists and is not a directory`);
      if ((st.mode & 0o777) !== 0o755 || st.uid !== uid || st.gid !== gid) {
        log.warn({ dir, mode: `0${(st.mode & 0o777).toString(8)}`, uid: st.uid, gid: st.gid }, `directory is not 0755 ${config.user}:${config.group}`);
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    await fsp.chmod(dir, 0o755);
    await fsp.chown(dir, uid, gid);
  };
  await ensure(root);
  for (const d of WORKING_DIRS) await ensure(join(root, d));
}

/** The figures of the Prometheus output beyond Couic's (src/api/handlers/stats.ts). */
function health(config: Config, core: Core): Health {
  const { batcher } = core.entries;
  return {
    queueOutstanding: batcher.outstanding,
    queueMaxPending: config.queue.maxPending,
    queueWaiting: batcher.waiting,
    requests: batcher.requests,
    batches: batcher.batches,
    journalRecordsSinceSnapshot: core.journal.recordsSinceSnapshot,
    journalCompactAfter: config.journal.compactAfter,
    journalCompacting: core.journal.compacting,
    helperUp: core.supervisor.ready,
    helperRestarts: core.supervisor.restarts,
  };
}

export async function startDaemon(config: Config, logger: Logger, opts: StartOptions = {}): Promise<RunningDaemon> {
  const log = logger.child({ module: 'daemon' });
  const { uid, gid } = resolveOwner(config.user, config.group);
  // Decided before the privilege drop: the pin dir is the helper's, and the helper
  // runs as the launcher's uid (root, or the unit's couic user), not the daemon's.
  const pinDir = await resolvePinDir(config.dataplane.pinDir, log);
  // Privilege split: nothing after the working dir runs with privilege (docs/deploy.md).
  const setupWorkingDir = (): Promise<void> => initWorkingDir(config, uid, gid, log);
  const launcher = opts.split?.launcher;
  if (opts.split === undefined) await setupWorkingDir();
  else await opts.split.enter({ uid, gid }, setupWorkingDir);

  const clients = await ClientRegistry.load({
    workingDir: config.workingDir, user: config.user, group: config.group, logger: logger.child({ module: 'clients' }),
  });

  const dp = config.dataplane;
  const helperLog = logger.child({ module: 'helper' });
  const helperOpts: HelperClientOptions = {
    helperPath: dp.helper,
    ifaces: config.ifaces,
    mode: config.operationMode,
    ...(pinDir === undefined ? {} : { pinDir }),
    capacities: { dropExact: dp.dropExact, dropCidr: dp.dropCidr, ignoreExact: dp.ignoreExact, ignoreCidr: dp.ignoreCidr },
    maxTags: dp.maxTags,
    lpmOnly: dp.lpmOnly,
    onLog: (line) => helperLog.info({ helper: line }, 'helper'),
    ...(launcher === undefined ? {} : { spawner: () => launcher.spawnHelper() }),
  };
  if (launcher !== undefined) {
    await launcher.configure({ helperPath: resolvePath(dp.helper), args: helperArgs(helperOpts), socketParent: dirname(config.server.socket) });
  }
  const t0 = performance.now();
  const core = await openCore({
    journalDir: join(config.workingDir, 'journal'),
    fsync: config.journal.fsync,
    compactAfter: config.journal.compactAfter,
    lpmOnly: dp.lpmOnly,
    batching: dp.batching,
    maxPending: config.queue.maxPending,
    helperWaitMs: config.queue.helperWaitMs,
    ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
    logger,
    startHelper: (): Promise<Helper> => HelperClient.start(helperOpts),
  });
  const { entries, supervisor } = core;
  const helper = supervisor.helper;
  if (helper !== undefined) {
    const hello = helper.hello;
    if (hello.features.lpmOnly !== dp.lpmOnly) {
      log.warn({ helper: hello.features.lpmOnly, config: dp.lpmOnly }, 'helper and config disagree on lpm_only');
    }
    log.info({
      pid: helper.pid, ifaces: hello.ifaces, features: hello.features, capacity: hello.capacity, maxTags: hello.maxTags,
      entries: entries.table.size, ms: Math.round(performance.now() - t0),
    }, 'data plane ready');
  }

  // Sets on disk are authoritative at start: reloaded over the replayed journal.
  const sets = new SetFiles({
    workingDir: config.workingDir, user: config.user, group: config.group, uid, gid, entries, logger: logger.child({ module: 'sets' }),
  });
  try {
    await sets.reload();
  } catch (err) {
    await core.close();
    throw new Error(`cannot load the sets: ${(err as Error).message}`, { cause: err });
  }

  // The fleet follows the core from before the first API request; it connects in the background.
  let fleet: Fleet | undefined;
  if (config.fleet.enabled) {
    try {
      fleet = Fleet.start({
        config: config.fleet, entries, dir: join(config.workingDir, 'fleet'), logger: logger.child({ module: 'fleet' }),
        version: opts.version ?? 'unknown',
      });
    } catch (err) {
      await core.close();
      throw new Error(`cannot start the fleet: ${(err as Error).message}`, { cause: err });
    }
  }

  // Peering and reporting follow the committed changes from here on (not the replayed ones).
  const version = opts.version ?? 'unknown';
  const peering = config.peering.enabled
    ? Peering.start({ config: config.peering, events: entries.events, logger: logger.child({ module: 'peering' }), version })
    : undefined;
  const reporting = config.reporting.enabled
    ? Reporter.start({ config: config.reporting, events: entries.events, logger: logger.child({ module: 'reporting' }), version })
    : undefined;
  const outbound = async (): Promise<void> => {
    await peering?.stop();
    await reporting?.stop();
  };

  let api: ApiServer;
  let events: EventStream;
  try {
    await fsp.mkdir(dirname(config.server.socket), { recursive: true, mode: 0o755 });
    api = await startApiServer({
      socketPath: config.server.socket,
      entries,
      clients,
      logger,
      uid,
      gid,
      handlers: {
        ...setHandlers(sets),
        ...statsHandlers(entries, {
          health: () => health(config, core),
          families: () => [...(fleet?.metricLines() ?? []), ...(peering?.metricLines() ?? []), ...(reporting?.metricLines() ?? [])],
        }),
        ...opts.handlers?.(entries),
      },
      ...(fleet === undefined ? {} : { fleet }),
      peering: { ...(peering === undefined ? {} : { peering }), ...(reporting === undefined ? {} : { reporting }) },
    });
    events = new EventStream({ server: api.server, clients, events: entries.events, stats: entries, logger });
  } catch (err) {
    await fleet?.stop();
    await outbound();
    await core.close();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const t1 = performance.now();
      supervisor.quiesce();
      log.info('shutting down: closing the API');
      await events.close();
      await api.close();
      await fleet?.stop();
      await outbound();
      log.info({ outstanding: entries.batcher.outstanding }, 'draining the update queue');
      await core.close();
      await launcher?.close();
      await fsp.rm(config.server.socket, { force: true });
      log.info({ ms: Math.round(performance.now() - t1) }, 'stopped');
    })();
    return stopping;
  };

  return { config, entries, supervisor, clients, api, sets, events, fleet, peering, reporting, stop };
}
