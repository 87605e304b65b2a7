/**
 * Reading the daemon's kernel maps from their pins (bpftool), and a real
 * daemon started with `pin_dir` (test/lib/daemon.ts harness).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatCidr } from '../../src/net/cidr.js';
import { MAP_SLOTS } from '../../src/xdp/abi.js';
import { helperPath } from '../../src/xdp/helper.js';
import { daemonBuilt, startDaemon, type Daemon, type DaemonOptions } from './daemon.js';

export const HELPER = helperPath();
export const hasBpftool = spawnSync('bpftool', ['version']).status === 0;
export const kernelSkip: string | false = !daemonBuilt() || !existsSync(HELPER) || process.getuid?.() !== 0 || !hasBpftool
  ? 'needs root, bpftool, the built daemon and helper'
  : false;

/** Each pinned map (named as MAP_SLOTS) with what it holds: slot = policy * 4 + (lpm ? 2 : 0) + (family == 6 ? 1 : 0). */
const MAPS = MAP_SLOTS.map((name, slot) => [name, slot < 4 ? 'drop' : 'ignore', (slot & 1) === 1 ? 6 : 4, (slot & 2) === 2] as const);

/** Kernel content from the pinned maps: `policy|cidr` -> tag id. */
export function kernelMaps(pinDir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, policy, family, lpm] of MAPS) {
    const raw = execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', join(pinDir, 'maps', name)], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const rows = JSON.parse(raw) as { key: string[]; value: string[] }[];
    for (const r of rows) {
      const k = r.key.map((x) => Number.parseInt(x, 16));
      const v = r.value.map((x) => Number.parseInt(x, 16));
      const size = family === 4 ? 4 : 16;
      const prefixLen = lpm ? (k[0]! | (k[1]! << 8) | (k[2]! << 16) | (k[3]! << 24)) : size * 8;
      const addr = Uint8Array.from(lpm ? k.slice(4, 4 + size) : k.slice(0, size));
      const tag = (v[0]! | (v[1]! << 8) | (v[2]! << 16) | (v[3]! << 24)) >>> 0;
      out.set(`${policy}|${formatCidr({ family, addr, prefixLen })}`, tag);
    }
  }
  return out;
}

export interface ApiEntry { cidr: string; tag: string | null; expiration: number; creation: number }

/** Every entry the API lists: `policy|cidr` -> Entry. */
export async function apiEntries(d: Daemon): Promise<Map<string, ApiEntry>> {
  const out = new Map<string, ApiEntry>();
  for (const policy of ['drop', 'ignore']) {
    const r = await d.request('GET', `/v1/${policy}`);
    assert.equal(r.status, 200);
    for (const e of r.json() as ApiEntry[]) out.set(`${policy}|${e.cidr}`, e);
  }
  return out;
}

/**
 * API list == kernel maps (same keys), and tag strings <-> kernel tag ids
 * is a bijection. Returns the API entries and the kernel ids.
 */
export async function assertKernelMatchesApi(d: Daemon, pinDir: string): Promise<{ api: Map<string, ApiEntry>; kernel: Map<string, number> }> {
  const api = await apiEntries(d);
  const kernel = kernelMaps(pinDir);
  assert.deepEqual([...kernel.keys()].sort(), [...api.keys()].sort(), 'kernel maps hold exactly what the API lists');
  const idOfTag = new Map<string, number>();
  const tagOfId = new Map<number, string>();
  for (const [k, e] of api) {
    const id = kernel.get(k)!;
    const tag = e.tag ?? '';
    if (idOfTag.has(tag)) assert.equal(idOfTag.get(tag), id, `tag ${tag} has one id`);
    if (tagOfId.has(id)) assert.equal(tagOfId.get(id), tag, `id ${id} has one tag`);
    idOfTag.set(tag, id);
    tagOfId.set(id, tag);
    assert.ok(id >= 1, 'tag ids start at 1');
  }
  return { api, kernel };
}

let pinSeq = 0;

/** A real daemon with its maps pinned under /sys/fs/bpf/st-…; `stop()` also unpins. */
export async function startPinnedDaemon(opts: DaemonOptions & { extra?: string } = {}): Promise<{ d: Daemon; pinDir: string; stop(): Promise<void> }> {
  const pinDir = `/sys/fs/bpf/st-${process.pid}-${(pinSeq += 1)}`;
  mkdirSync(pinDir, { recursive: true });
  let d: Daemon;
  try {
    // The harness appends extraToml right after its [dataplane] keys.
    d = await startDaemon({ ...opts, pinDir, ...(opts.extra === undefined ? {} : { extraToml: opts.extra }) });
  } catch (err) {
    spawnSync(HELPER, ['--unpin', pinDir]);
    rmSync(pinDir, { recursive: true, force: true });
    throw err;
  }
  return {
    d,
    pinDir,
    async stop() {
      await d.stop();
      spawnSync(HELPER, ['--unpin', pinDir]);
      rmSync(pinDir, { recursive: true, force: true });
    },
  };
}
