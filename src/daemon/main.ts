#!/usr/bin/env node
/**
 * `couic [-c FILE]`: the daemon. Without -c it runs the embedded default
 * config (working dir /var/lib/couic, socket /run/couic/couic.sock, no
 * interface). Exit 1 on any startup failure; SIGTERM/SIGINT stop it
 * gracefully (exit 0).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openLogFiles, type LogFileStream } from '../log-files.js';
import { createRootLogger, stdoutStyle } from '../log.js';
import { startDaemon, type RunningDaemon } from './app.js';
import { missingCaps, effectiveCaps } from './caps.js';
import { ConfigError, loadConfig } from './config.js';
import { privilegeSplit, type PrivilegeSplit } from './privilege.js';
import { LauncherChannel } from '../xdp/launcher.js';
import { DAEMON_OPTIONS, USAGE } from './usage.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

let flushLogs = (): void => {};

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: DAEMON_OPTIONS,
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.values.version === true) {
    process.stdout.write(`couic ${version()}\n`);
    return 0;
  }
  process.stdout.write(`Starting couic ${version()} (Couic v1 API)\n`);

  let config;
  try {
    config = loadConfig(args.values.config);
  } catch (err) {
    process.stderr.write(`Error loading configuration: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    return 1;
  }

  // Couic's step 3: the log files, before anything is logged
  const lf = config.logging.files;
  let files: { stream: LogFileStream; format: 'text' | 'json' } | undefined;
  let noFiles: string | undefined;
  try {
    files = { stream: await openLogFiles({ dir: lf.dir, rotation: lf.rotation, maxFiles: lf.maxFiles }), format: lf.format };
  } catch (err) {
    if (lf.explicit) {
      process.stderr.write(`Error initializing logging: \`logging.dir\` ${lf.dir}: ${(err as Error).message}\n`);
      return 1;
    }
    noFiles = (err as Error).message;
  }
  files?.stream.on('error', (err: Error) => process.stderr.write(`couic: log file ${files?.stream.file ?? lf.dir}: ${err.message}\n`));
  const root = createRootLogger({ level: config.logging.level, style: stdoutStyle(), ...(files === undefined ? {} : { files }) });
  flushLogs = () => root.flush();
  const log = root.logger.child({ module: 'main' });
  const fail = (msg: string, err?: unknown): number => {
    log.fatal({ err }, msg);
    root.flush();
    process.stderr.write(`${msg}${err === undefined ? '' : `: ${(err as Error).message ?? String(err)}`}\n`);
    return 1;
  };

  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    root.flush();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection');
    root.flush();
    process.exit(1);
  });

  // Started by couic-launcher (COUIC_LAUNCHER_FD): the helper gets the
  // capabilities from the launcher, the daemon runs without any.
  let split: PrivilegeSplit | undefined;
  try {
    const launcher = LauncherChannel.fromEnv();
    if (launcher !== undefined) split = privilegeSplit({ config, launcher, logger: root.logger });
  } catch (err) {
    return fail('cannot use the launcher', err);
  }
  let missing: string[];
  try {
    missing = split === undefined ? missingCaps(effectiveCaps()) : [];
  } catch (err) {
    return fail('cannot read capabilities', err);
  }
  if (missing.length > 0) {
    return fail(`couic needs ${missing.join(' and ')} in its effective capability set (missing: ${missing.join(', ')}); run it as root or grant them (e.g. systemd AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN)`);
  }

  if (noFiles !== undefined) log.warn({ dir: lf.dir, reason: noFiles }, 'no log files: the default [logging] dir cannot be written; logging to stdout only');
  log.info({ config: config.source ?? '(embedded default)', workingDir: config.workingDir, socket: config.server.socket, ifaces: config.ifaces, mode: config.operationMode }, 'starting');
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(config, root.logger, { version: version(), ...(split === undefined ? {} : { split }) });
  } catch (err) {
    return fail('couic failed to start', err);
  }
  log.info({ socket: config.server.socket }, 'couic is running');

  return await new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        log.warn({ signal: sig }, 'second signal: exiting now');
        root.flush();
        resolve(1);
        return;
      }
      log.info({ signal: sig }, 'signal received, stopping');
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // SIGHUP: reload the sets (as POST /v1/sets/reload); the outcome is logged.
    process.on('SIGHUP', () => {
      log.info('SIGHUP: reloading the sets');
      daemon.sets.reload({ name: 'SIGHUP', group: 'admin' }).then(
        (result) => log.info({ result }, 'SIGHUP: sets reloaded'),
        (err: unknown) => log.error({ err: (err as Error).message }, 'SIGHUP: sets reload failed'),
      );
    });
  });
}

const code = await main();
flushLogs();
// Exit explicitly so no stray handle keeps the process alive.
process.exit(code);
