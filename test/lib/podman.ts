/**
 * What the podman tests (test/packaging/podman*.test.ts) share: running
 * commands with podman's settings, the local Debian 12 base image, and
 * waiting for a systemd container to boot.
 *
 * podman settings come from test/packaging/containers.conf via CONTAINERS_CONF
 * (runc, cgroupfs, no default ulimits); the host's /etc/containers is untouched.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './daemon.js';
import { waitFor } from './wait.js';

export const BASE_IMAGE = 'localhost/couic-base:bookworm';
export const CACHE_DIR = '/var/tmp/couic-podman';
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export const podmanEnv: NodeJS.ProcessEnv = {
  ...process.env,
  CONTAINERS_CONF: process.env['CONTAINERS_CONF'] ?? join(REPO_ROOT, 'test', 'packaging', 'containers.conf'),
};

export interface Res {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  /** Also stream the output to stderr (prefixed `#   `). */
  readonly stream?: boolean;
  readonly input?: Buffer | string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Runs argv; output is collected (and also streamed to stderr when `stream`). */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<Res> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(file!, args, { env: { ...podmanEnv, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }) });
    let stdout = '';
    let stderr = '';
    const echo = (d: string): void => {
      if (opts.stream === true) process.stderr.write(d.replace(/^/gm, '#   '));
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      echo(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      echo(d);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs argv, asserts exit 0, returns stdout. */
export async function ok(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  assert.equal(r.code, 0, `${argv.join(' ')} → ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

export const has = (cmd: string, arg = '--version'): boolean => spawnSync(cmd, [arg], { env: podmanEnv, stdio: 'ignore' }).status === 0;

export async function imageExists(ref: string): Promise<boolean> {
  return (await run(['podman', 'image', 'exists', ref])).code === 0;
}

/** `--secret` for builds that reach the npm registry through a TLS-intercepting proxy. */
export function caSecret(): string[] {
  return existsSync(CA_BUNDLE) ? ['--secret', `id=ca_bundle,src=${CA_BUNDLE}`] : [];
}

/** Why the podman tests cannot run here, or false. */
export function podmanSkipReason(): string | false {
  if (!has('podman')) return 'podman not installed (apt-get install podman runc debootstrap)';
  if (process.getuid?.() !== 0) return 'needs root (XDP, rootful podman)';
  if (!has('bpftool', 'version')) return 'bpftool not installed';
  return false;
}

/** localhost/couic-base:bookworm from a cached debootstrap rootfs. */
export async function ensureBase(): Promise<void> {
  if (await imageExists(BASE_IMAGE)) return;
  const rootfs = join(CACHE_DIR, 'rootfs');
  if (!existsSync(join(rootfs, 'etc', 'debian_version'))) {
    assert.ok(has('debootstrap', '--version'), 'debootstrap not installed (apt-get install debootstrap)');
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${rootfs}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    const t0 = Date.now();
    await ok(['debootstrap', '--variant=minbase', 'bookworm', tmp, 'http://deb.debian.org/debian'], { timeoutMs: 600_000 });
    rmSync(rootfs, { recursive: true, force: true });
    renameSync(tmp, rootfs);
    console.log(`# debootstrap: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  await ok(['sh', '-c', `tar -C '${rootfs}' -c . | podman import - ${BASE_IMAGE}`], { timeoutMs: 300_000 });
}

/** Runs `cmd` with sh inside container `name`. */
export function inContainer(name: string, cmd: string, opts: RunOptions = {}): Promise<Res> {
  return run(['podman', 'exec', ...(opts.input === undefined ? [] : ['-i']), name, 'sh', '-c', cmd], { timeoutMs: 60_000, ...opts });
}

/** Waits for systemd in container `name` to finish booting (running, or degraded by units a container cannot run). */
export async function waitBooted(name: string, ms = 60_000): Promise<void> {
  const booted = await waitFor(async () => /^(running|degraded)/.test((await inContainer(name, 'systemctl is-system-running 2>/dev/null')).stdout), ms, 300);
  assert.ok(booted, `systemd in ${name} did not boot: ${(await inContainer(name, 'systemctl is-system-running; systemctl --failed --no-pager')).stdout}`);
}

/** XDP programs attached to interface `dev` (of the host, or of netns `ns`), by id. */
export async function xdpProgs(dev: string, ns?: string): Promise<number[]> {
  const cmd = ['bpftool', '-j', 'net', 'show', 'dev', dev];
  const net = JSON.parse(await ok(ns === undefined ? cmd : ['ip', 'netns', 'exec', ns, ...cmd])) as Array<{ xdp?: Array<{ id: number }> }>;
  return net.flatMap((n) => n.xdp ?? []).map((x) => x.id);
}

/** The id of the map `name` (e.g. drop4_exact) of the XDP program on host interface `dev`. */
export async function xdpMap(dev: string, name: string): Promise<number> {
  const [progId] = await xdpProgs(dev);
  assert.ok(progId !== undefined, `no XDP program on ${dev}`);
  const prog = JSON.parse(await ok(['bpftool', '-j', 'prog', 'show', 'id', String(progId)])) as { map_ids?: number[] };
  for (const m of prog.map_ids ?? []) {
    const info = JSON.parse(await ok(['bpftool', '-j', 'map', 'show', 'id', String(m)])) as { name: string };
    if (info.name === name) return m;
  }
  assert.fail(`program ${progId} on ${dev} has no map ${name}`);
}

/** Whether IPv4 address `ip` is a key of hash map `mapId` (drop4_exact, ignore4_exact). */
export async function mapHasV4(mapId: number, ip: string): Promise<boolean> {
  return (await run(['bpftool', 'map', 'lookup', 'id', String(mapId), 'key', ...ip.split('.')])).code === 0;
}

/**
 * A couic.toml for the image (as root in the container, the state and socket
 * directories as volumes), attached to `iface`, with small maps.
 */
export function containerCouicToml(iface: string): string {
  return [
    `ifaces = ["${iface}"]`,
    'operation_mode = "generic"',
    'working_dir = "/var/lib/couic"',
    'user = "couic"',
    'group = "couic"',
    '[logging]',
    'level = "info"',
    '[server]',
    'socket = "/run/couic/couic.sock"',
    '[dataplane]',
    // Containers of parallel tests must never share pins, whatever bpffs the engine exposes.
    'pin_dir = ""',
    'drop_exact = 4096',
    'drop_cidr = 4096',
    'ignore_exact = 1024',
    'ignore_cidr = 1024',
    '',
  ].join('\n');
}
