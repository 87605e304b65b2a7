/**
 * Daemons joined by Couic's peering for the benches: the first daemon (A)
 * peers with each of the others, each reached through its own nginx
 * running docs/nginx/couic.conf with TLS (a CA made here), as in
 * test/peering/peering.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, type Daemon } from '../../test/lib/daemon.js';
import { waitFor } from '../../test/lib/wait.js';
import { makePki, startNginx, type Nginx, type Pki } from '../../test/peering/lib.js';

export interface PeeredDaemon extends Daemon {
  readonly node: string;
  /** GET /v1/peering. */
  fleet(): Promise<any>;
  list(policy?: 'drop' | 'ignore'): Promise<Map<string, { tag: string; expiration: number; creation: number }>>;
}

function adapt(d: Daemon, node: string): PeeredDaemon {
  return Object.assign(d, {
    node,
    async fleet() {
      return (await d.request('GET', '/v1/peering')).json();
    },
    async list(policy: 'drop' | 'ignore' = 'drop') {
      const r = await d.request('GET', `/v1/${policy}`);
      if (r.status !== 200) throw new Error(`GET /v1/${policy}: ${r.status} ${r.text}`);
      const m = new Map<string, { tag: string; expiration: number; creation: number }>();
      for (const e of r.json() as { cidr: string; tag: string; expiration: number; creation: number }[]) m.set(e.cidr, e);
      return m;
    },
  });
}

export class PeeredSet {
  #dir = '';
  #pki: Pki | undefined;
  #nginx: Nginx[] = [];
  #daemons: Daemon[] = [];

  /** n daemons: [A, B, ...], A peering with every other one. */
  async start(n: number, dataplane: Readonly<Record<string, number>> = {}): Promise<PeeredDaemon[]> {
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'couic-bench-peering-'));
    this.#pki = makePki(this.#dir);
    const receivers: PeeredDaemon[] = [];
    const peers: string[] = [];
    for (let i = 1; i < n; i += 1) {
      const d = adapt(await startDaemon({ dataplane, env: { COUIC_LOG_LEVEL: 'warn' } }), `n${i + 1}`);
      this.#daemons.push(d);
      const c = await d.request('POST', '/v1/client', { body: { name: 'bench-a', group: 'peering' } });
      if (c.status !== 201) throw new Error(`client: ${c.status} ${c.text}`);
      const ndir = path.join(this.#dir, `nginx${i}`);
      const nginx = await startNginx(ndir, this.#pki, d.socketPath);
      this.#nginx.push(nginx);
      const up = await waitFor(() => spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', this.#pki!.ca,
        `https://127.0.0.1:${nginx.port}/v1/drop`], { encoding: 'utf8' }).stdout === '401', 15_000, 50);
      if (!up) throw new Error(`nginx in front of n${i + 1} is not up:\n${nginx.output()}`);
      peers.push(`[[peering.peers]]\nhost = "127.0.0.1"\nport = ${nginx.port}\ntls = true\ntoken = "${(c.json() as { token: string }).token}"\nca = "${this.#pki.ca}"\n`);
      receivers.push(d);
    }
    const a = adapt(await startDaemon({ dataplane, env: { COUIC_LOG_LEVEL: 'warn' }, extraToml: `[peering]\nenabled = true\nmax_backlog = 1048576\nmax_backlog_bytes = 1073741824\n${peers.join('')}` }), 'n1');
    this.#daemons.push(a);
    return [a, ...receivers];
  }

  async stop(): Promise<void> {
    for (const d of this.#daemons.reverse()) await d.stop().catch(() => {});
    for (const x of this.#nginx) await x.stop();
    this.#daemons = [];
    this.#nginx = [];
    if (this.#dir !== '') rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = '';
  }
}
