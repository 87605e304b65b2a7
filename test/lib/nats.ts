/**
 * Test harness: a REAL nats-server (Debian's package) with JetStream, on
 * loopback ports picked at random, each server with its own store dir in a
 * temp dir; one server or a cluster of three (R3 buckets). Stopping and
 * starting a server keeps its store (an outage, not a wipe).
 *
 *   const s = await startNats();
 *   ... `[fleet] servers = ["${s.url}"]` ...
 *   await s.stop(); await s.start();   // the engine down, then back
 *   await s.destroy();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './wait.js';

export const NATS_SERVER = 'nats-server';

/** True when `nats-server` is installed (scripts/setup.sh installs it). */
export function natsAvailable(): boolean {
  return spawnSync(NATS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A free TCP port on 127.0.0.1 (bound and released: a race only with another picker). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface NatsServer {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly storeDir: string;
  readonly running: boolean;
  /** Everything the current process printed. */
  output(): string;
  /** Starts it again (same port, same store). */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s; the store stays. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); the store stays. */
  kill(): Promise<void>;
  /** Stops it and removes its temp dir. */
  destroy(): Promise<void>;
}

interface ServerSpec {
  readonly name: string;
  readonly port: number;
  readonly clusterPort?: number;
  readonly routes?: readonly number[];
  /** More configuration, verbatim (e.g. an authorization block). */
  readonly extra?: string;
}

function launch(spec: ServerSpec, root: string): NatsServer {
  const storeDir = path.join(root, spec.name, 'store');
  const conf = path.join(root, `${spec.name}.conf`);
  const lines = [
    `server_name: ${spec.name}`,
    `listen: 127.0.0.1:${spec.port}`,
    `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
  ];
  if (spec.clusterPort !== undefined) {
    lines.push(
      'cluster {',
      '  name: couic-test',
      `  listen: 127.0.0.1:${spec.clusterPort}`,
      `  routes: [${(spec.routes ?? []).map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]`,
      '}',
    );
  }
  if (spec.extra !== undefined) lines.push(spec.extra);
  writeFileSync(conf, `${lines.join('\n')}\n`);
  let child: ChildProcess | undefined;
  let out = '';
  let exited: Promise<void> = Promise.resolve();
  const srv: NatsServer = {
    name: spec.name,
    port: spec.port,
    url: `nats://127.0.0.1:${spec.port}`,
    storeDir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    output: () => out,
    async start() {
      out = '';
      const c = spawn(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      exited = new Promise((r) => c.once('exit', () => r()));
      const deadline = Date.now() + 15_000;
      while (!(await portOpen(spec.port))) {
        if (c.exitCode !== null) throw new Error(`nats-server ${spec.name} exited:\n${out}`);
        if (Date.now() > deadline) throw new Error(`nats-server ${spec.name} did not listen:\n${out}`);
        await sleep(25);
      }
    },
    async stop() {
      if (!srv.running) return;
      child?.kill('SIGTERM');
      const t = setTimeout(() => child?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      if (!srv.running) return;
      child?.kill('SIGKILL');
      await exited;
    },
    async destroy() {
      await srv.stop();
    },
  };
  return srv;
}

/** One JetStream server on a random loopback port, its store in a temp dir; `extra`: more configuration. */
export async function startNats(extra?: string): Promise<NatsServer> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'couic-nats-'));
  const s = launch({ name: 'n1', port: await freePort(), ...(extra === undefined ? {} : { extra }) }, root);
  try {
    await s.start();
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const destroy = s.destroy;
  return Object.assign(s, {
    async destroy() {
      await destroy();
      rmSync(root, { recursive: true, force: true });
    },
  });
}

/** A cluster of `n` JetStream servers (routes between all), on random loopback ports. */
export async function startNatsCluster(n = 3): Promise<{ servers: NatsServer[]; urls: string[]; destroy(): Promise<void> }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'couic-natsc-'));
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const cports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const servers = ports.map((port, i) => launch({
    name: `n${i + 1}`, port, clusterPort: cports[i]!, routes: cports.filter((_, j) => j !== i),
  }, root));
  const destroy = async (): Promise<void> => {
    for (const s of servers) await s.stop();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await Promise.all(servers.map((s) => s.start()));
  } catch (err) {
    await destroy();
    throw err;
  }
  return { servers, urls: servers.map((s) => s.url), destroy };
}
