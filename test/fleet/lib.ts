/**
 * Fleet test harness: couic daemons (test/lib/daemon.ts, the real thing)
 * joined into a fleet on real nats-servers (test/lib/nats.ts), optionally
 * with their helper inside a network namespace (attached to a veth there)
 * while the daemon itself stays on the host's loopback, where the NATS
 * servers listen.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { helperPath } from '../../src/xdp/helper.js';
import { startDaemon, type Daemon } from '../lib/daemon.js';
import { waitFor } from '../lib/wait.js';

export interface FleetDaemonOptions {
  readonly servers: readonly string[];
  readonly node: string;
  readonly policies?: readonly string[];
  readonly replicas?: number;
  readonly bucket?: string;
  /** Runs the helper in this namespace, attached to `iface` there. */
  readonly netns?: { readonly ns: string; readonly iface: string };
  readonly workingDir?: string;
  readonly extraToml?: string;
  /** `[dataplane]` capacities (startDaemon's defaults otherwise). */
  readonly dataplane?: Readonly<Partial<Record<'drop_exact' | 'drop_cidr' | 'ignore_exact' | 'ignore_cidr', number>>>;
}

export interface FleetDaemon extends Daemon {
  readonly node: string;
  /** GET /v1/fleet. */
  fleet(): Promise<any>;
  /** The drop (or ignore) entries by CIDR. */
  list(policy?: 'drop' | 'ignore'): Promise<Map<string, { tag: string; expiration: number; creation: number }>>;
}

export async function fleetDaemon(o: FleetDaemonOptions): Promise<FleetDaemon> {
  const q = (s: string): string => JSON.stringify(s);
  const toml = [
    '[fleet]',
    'enabled = true',
    `servers = [${o.servers.map(q).join(', ')}]`,
    `node = ${q(o.node)}`,
    `bucket = ${q(o.bucket ?? 'couic')}`,
    `policies = [${(o.policies ?? ['drop']).map(q).join(', ')}]`,
    `replicas = ${o.replicas ?? 1}`,
    o.extraToml ?? '',
  ].join('\n');
  let scriptDir: string | undefined;
  let helper: string | undefined;
  if (o.netns !== undefined) {
    scriptDir = mkdtempSync(path.join(os.tmpdir(), 'couic-fleet-helper-'));
    helper = path.join(scriptDir, 'helper.sh');
    writeFileSync(helper, `#!/bin/sh\nexec ip netns exec ${o.netns.ns} ${helperPath()} "$@"\n`);
    chmodSync(helper, 0o755);
  }
  const d = await startDaemon({
    extraToml: toml,
    ifaces: o.netns === undefined ? [] : [o.netns.iface],
    ...(helper === undefined ? {} : { helper }),
    ...(o.workingDir === undefined ? {} : { workingDir: o.workingDir }),
    ...(o.dataplane === undefined ? {} : { dataplane: o.dataplane }),
    env: { COUIC_LOG_LEVEL: 'info' },
  });
  const stop = d.stop;
  return Object.assign(d, {
    node: o.node,
    async fleet() {
      const r = await d.request('GET', '/v1/fleet');
      if (r.status !== 200) throw new Error(`GET /v1/fleet: ${r.status} ${r.text}`);
      return r.json();
    },
    async list(policy: 'drop' | 'ignore' = 'drop') {
      const r = await d.request('GET', `/v1/${policy}`);
      if (r.status !== 200) throw new Error(`GET /v1/${policy}: ${r.status} ${r.text}`);
      const m = new Map<string, { tag: string; expiration: number; creation: number }>();
      for (const e of r.json() as { cidr: string; tag: string; expiration: number; creation: number }[]) m.set(e.cidr, e);
      return m;
    },
    async stop() {
      await stop();
      if (scriptDir !== undefined) rmSync(scriptDir, { recursive: true, force: true });
    },
  });
}

/** Waits until `d` lists (or, with `present` false, no longer lists) `cidr`; returns whether it did. */
export async function waitListed(d: FleetDaemon, cidr: string, present = true, timeoutMs = 15_000, policy: 'drop' | 'ignore' = 'drop'): Promise<boolean> {
  return waitFor(async () => (await d.list(policy)).has(cidr) === present, timeoutMs, 25);
}

/** Waits until the fleet of `d` is connected and caught up. */
export async function waitCaughtUp(d: FleetDaemon, timeoutMs = 20_000): Promise<any> {
  return waitFor(async () => {
    const s = await d.fleet();
    return s.connected === true && s.last_catch_up !== null && s.catching_up === null && s.lag.messages === 0 ? s : undefined;
  }, timeoutMs, 50);
}

export interface EventLog {
  readonly events: any[];
  close(): void;
}

/** The /v1/events stream of `d` (admin token), collected. */
export async function events(d: Daemon): Promise<EventLog> {
  const ws = new WebSocket(`ws+unix://${d.socketPath}:/v1/events`, { headers: { authorization: `Bearer ${d.token}` } });
  const log: any[] = [];
  ws.on('message', (m) => log.push(JSON.parse(String(m))));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await waitFor(() => log.some((e) => e.type === 'hello'), 5000, 10);
  return { events: log, close: () => ws.close() };
}
