/**
 * couicctl's native front (src/shim/couicctl.c) against the Node CLI: one
 * table of requests, each run through both against one real daemon, the
 * stdout, stderr and exit code compared exactly.
 *
 * Time shows in the output (creation, the Expiration cell), so a pair counts
 * only when both runs fell within one wall-clock second; a pair crossing a
 * second boundary is run again.
 *
 * Which requests the front runs itself is shown by a copy of it with no
 * `couicctl-node` beside it: the requests it runs give the same answer as
 * the Node CLI, the ones it hands over fail with "cannot run the Node CLI".
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, daemonBuilt, startDaemon, type Daemon } from '../lib/daemon.js';

const NODE_CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const NATIVE = path.join(REPO_ROOT, 'src', 'helper', '.output', 'couicctl');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, [...args], { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface Case {
  readonly name: string;
  /** Arguments after `-c <config>` (unless `noConfig`). */
  readonly args: readonly string[];
  /** Run by the front itself (true) or handed over to the Node CLI (false). */
  readonly native: boolean;
  /** Before each run (e.g. create the entry a delete removes). */
  readonly setup?: (d: Daemon) => Promise<void>;
  /** After each run (e.g. remove what an add created). */
  readonly cleanup?: (d: Daemon) => Promise<void>;
  /** The config file to pass with -c: 'good' (default), 'badToken', 'down', 'remote', 'missing', 'none' (no -c). */
  readonly config?: 'good' | 'badToken' | 'down' | 'remote' | 'missing' | 'none';
  /** What the Node CLI's answer must look like (guards against a case testing nothing). */
  readonly expect?: { readonly code: number; readonly stdout?: RegExp; readonly stderr?: RegExp };
}

const add = (policy: string, cidr: string, tag: string | null, expiration = 0) => async (d: Daemon): Promise<void> => {
  const r = await d.request('POST', `/v1/${policy}`, { body: { cidr, tag, expiration } });
  assert.equal(r.status, 201, r.text);
};
const del = (policy: string, cidr: string) => async (d: Daemon): Promise<void> => {
  await d.request('DELETE', `/v1/${policy}/${cidr}`);
};

const CASES: readonly Case[] = [
  { name: 'empty list (table)', args: ['drop', 'list'], native: true, expect: { code: 0, stdout: /Policy/ } },
  { name: 'empty list --json', args: ['drop', 'list', '--json'], native: true, expect: { code: 0, stdout: /^\[\]\n$/ } },
  { name: 'empty list -q', args: ['ignore', 'list', '-q'], native: true, expect: { code: 0, stdout: /^$/ } },
  { name: 'add, default tag, normalized', args: ['drop', 'add', '192.0.2.77/24'], native: true, cleanup: del('drop', '192.0.2.0/24'), expect: { code: 0, stdout: /192\.0\.2\.0\/24 ┆ couicctl ┆ never/ } },
  { name: 'add the seed action way', args: ['drop', 'add', '198.51.100.7/32', '-t', 'fail2ban-sshd'], native: true, cleanup: del('drop', '198.51.100.7/32'), expect: { code: 0, stdout: /fail2ban-sshd/ } },
  { name: 'add IPv6 -e --json', args: ['drop', 'add', '2001:DB8::1/32', '-t', 'fail2ban-sshd', '-e', '1day 2h', '--json'], native: true, cleanup: del('drop', '2001:db8::/32'), expect: { code: 0, stdout: /"cidr": "2001:db8::\/32"/ } },
  { name: 'add IPv4-mapped, long options', args: ['drop', 'add', '::ffff:192.0.2.1/128', '--tag', 'x_y', '--expiration', '1h 30m'], native: true, cleanup: del('drop', '::ffff:192.0.2.1/128'), expect: { code: 0, stdout: /::ffff:192\.0\.2\.1\/128/ } },
  { name: 'add IPv6 with an IPv4 tail and zeros', args: ['drop', 'add', '0:0:0:0:0:0:10.0.0.1/120', '-e', '30s'], native: true, cleanup: del('drop', '::a00:0/120'), expect: { code: 0, stdout: /::a00:0\/120/ } },
  { name: 'ignore add: no tag', args: ['ignore', 'add', '10.0.0.0/8'], native: true, cleanup: del('ignore', '10.0.0.0/8'), expect: { code: 0, stdout: /┆ - +┆ never/ } },
  { name: 'ignore add -t ""', args: ['ignore', 'add', '10.1.0.0/16', '-t', ''], native: true, cleanup: del('ignore', '10.1.0.0/16'), expect: { code: 0 } },
  { name: 'conflict', args: ['drop', 'add', '203.0.113.0/24'], native: true, setup: add('drop', '203.0.113.0/24', 'other'), cleanup: del('drop', '203.0.113.0/24'), expect: { code: 1, stderr: /Code: conflict/ } },
  { name: 'delete: not found', args: ['drop', 'delete', '203.0.113.9/32'], native: true, expect: { code: 1, stderr: /Code: not_found/ } },
  { name: 'inspect: not found', args: ['ignore', 'inspect', '203.0.113.9/32'], native: true, expect: { code: 1, stderr: /Code: not_found/ } },
  { name: 'delete', args: ['drop', 'delete', '203.0.113.10/32'], native: true, setup: add('drop', '203.0.113.10/32', 't'), expect: { code: 0, stdout: /^$/ } },
  { name: 'inspect (table)', args: ['drop', 'inspect', '203.0.113.77/24'], native: true, setup: add('drop', '203.0.113.0/24', 'web', nowSeconds() + 7200), cleanup: del('drop', '203.0.113.0/24'), expect: { code: 0, stdout: /┆ web ┆ 1h59m/ } },
  { name: 'inspect --json', args: ['drop', 'inspect', '203.0.113.0/24', '--json'], native: true, setup: add('drop', '203.0.113.0/24', null), cleanup: del('drop', '203.0.113.0/24'), expect: { code: 0, stdout: /"tag": ""/ } },
  { name: 'invalid expiration', args: ['drop', 'add', '192.0.2.1/32', '-e', '10'], native: true, expect: { code: 1, stderr: /Invalid expiration format/ } },
  { name: 'empty expiration', args: ['drop', 'add', '192.0.2.1/32', '-e', ''], native: true, expect: { code: 1, stderr: /Invalid expiration format/ } },
  { name: 'expiration in the past is the daemon\'s 422', args: ['drop', 'add', '192.0.2.1/32', '-e', '0s'], native: true, expect: { code: 1, stderr: /Status: 422/ } },
  { name: 'invalid CIDR (no prefix)', args: ['drop', 'add', '1.2.3.4'], native: false, expect: { code: 2, stderr: /invalid IP address syntax/ } },
  { name: 'invalid CIDR (prefix)', args: ['drop', 'delete', '1.2.3.4/33'], native: false, expect: { code: 2 } },
  { name: 'invalid CIDR (zone)', args: ['drop', 'inspect', 'fe80::1%eth0/64'], native: false, expect: { code: 2 } },
  { name: 'invalid tag', args: ['drop', 'add', '1.2.3.4/32', '-t', 'a b'], native: false, expect: { code: 2, stderr: /--tag <TAG>/ } },
  { name: 'reserved tag', args: ['drop', 'add', '1.2.3.4/32', '-t', 'Untagged'], native: false, expect: { code: 2 } },
  { name: 'tag too long', args: ['drop', 'add', '1.2.3.4/32', '-t', 'x'.repeat(65)], native: false, expect: { code: 2 } },
  { name: 'repeated flag', args: ['drop', 'add', '1.2.3.4/32', '-t', 'a', '-t', 'b'], native: false, expect: { code: 2, stderr: /multiple times/ } },
  { name: '--json with -q', args: ['drop', 'list', '-q', '--json'], native: false, expect: { code: 2 } },
  { name: 'unknown command handed over', args: ['stats', 'global'], native: false, expect: { code: 0, stdout: /Drop CIDR Count/ } },
  { name: 'help handed over', args: ['drop', 'list', '--help'], native: false, expect: { code: 0, stdout: /--quiet/ } },
  { name: 'clients handed over', args: ['clients', 'list', '--json'], native: false, expect: { code: 0, stdout: /"couicctl"/ } },
  { name: 'bad token', args: ['drop', 'list'], native: true, config: 'badToken', expect: { code: 1, stderr: /Status: 401/ } },
  { name: 'daemon down (socket left, nobody listening)', args: ['drop', 'list'], native: false, config: 'down', expect: { code: 1, stderr: /HTTP error: error sending request/ } },
  { name: 'missing config file', args: ['drop', 'list'], native: false, config: 'missing', expect: { code: 1, stderr: /^Error: Config\(Io/ } },
  { name: 'remote mode handed over', args: ['drop', 'list'], native: false, config: 'remote', expect: { code: 1 } },
  { name: 'default config discovery', args: ['drop', 'list', '-q'], native: false, config: 'none' },
];

const TAGGED: readonly (readonly [string, string | null])[] = [
  ['192.0.2.1/32', 'fail2ban-sshd'],
  ['192.0.2.2/32', 'fail2ban-nginx'],
  ['192.0.2.3/32', 'web'],
  ['192.0.2.4/32', ''],
  ['192.0.2.5/32', null],
  ['2001:db8::5/128', 'sshd-v6'],
];

const LIST_CASES: readonly Case[] = [
  { name: 'list with tags (table)', args: ['drop', 'list'], native: true, expect: { code: 0, stdout: /fail2ban-nginx/ } },
  { name: 'list -t prefix*', args: ['drop', 'list', '-t', 'fail2ban-*'], native: true, expect: { code: 0, stdout: /fail2ban-sshd/ } },
  { name: 'list -t *x*, exact', args: ['drop', 'list', '--tags', ' *ssh* , web'], native: true, expect: { code: 0, stdout: /web/ } },
  { name: 'list -t "" (untagged) -q', args: ['drop', 'list', '-t', '', '-q'], native: true, expect: { code: 0, stdout: /^192\.0\.2\.4\/32\n/ } },
  { name: 'list -t *x --json', args: ['drop', 'list', '--json', '-t', '*-v6'], native: true, expect: { code: 0, stdout: /"sshd-v6"/ } },
  { name: 'list --quiet', args: ['drop', 'list', '--quiet'], native: true, expect: { code: 0, stdout: /2001:db8::5\/128/ } },
  { name: 'list --json', args: ['drop', 'list', '--json'], native: true, expect: { code: 0, stdout: /"creation"/ } },
];

describe('couicctl native front vs the Node CLI', { skip: (!daemonBuilt() || !existsSync(NATIVE)) && 'daemon or native couicctl not built' }, () => {
  let daemon: Daemon;
  let tmp: string;
  let configs: Record<string, string>;
  let lone: string;

  before(async () => {
    daemon = await startDaemon();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'couicctl-native-'));
    const clientFile = path.join(daemon.workingDir, 'rbac', 'clients', 'couicctl.toml');
    const badClient = path.join(tmp, 'bad-client.toml');
    writeFileSync(badClient, 'token = "0b9d3c2e-1111-4222-8333-944445555666"\ngroup = "admin"\n');
    // a socket file nobody listens on: bound, never listening
    const downSocket = path.join(tmp, 'down.sock');
    const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', downSocket]);
    assert.equal(py.status, 0, String(py.stderr));
    const write = (name: string, text: string): string => {
      const p = path.join(tmp, `${name}.toml`);
      writeFileSync(p, text);
      return p;
    };
    configs = {
      good: write('good', `# couicctl, Couic's format\nmode = "local"\nsocket = "${daemon.socketPath}"\nclient_file = "${clientFile}"\n`),
      badToken: write('bad-token', `mode = "local"\nsocket = "${daemon.socketPath}"\nclient_file = "${badClient}"\n`),
      down: write('down', `mode = "local"\nsocket = "${downSocket}"\nclient_file = "${clientFile}"\n`),
      remote: write('remote', 'mode = "remote"\nclient_file = "/x.toml"\nhost = "127.0.0.1"\nport = 1\n'),
      missing: path.join(tmp, 'nope.toml'),
    };
    const loneDir = path.join(tmp, 'lone');
    spawnSync('mkdir', [loneDir]);
    lone = path.join(loneDir, 'couicctl');
    copyFileSync(NATIVE, lone);
    spawnSync('chmod', ['0755', lone]);
  });

  after(async () => {
    await daemon?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const argvOf = (c: Case): string[] => (c.config === 'none' ? [...c.args] : ['-c', configs[c.config ?? 'good'] as string, ...c.args]);

  async function compare(c: Case): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      const t0 = nowSeconds();
      await c.setup?.(daemon);
      const native = await run(NATIVE, argvOf(c));
      await c.cleanup?.(daemon);
      await c.setup?.(daemon);
      const node = await run(process.execPath, [NODE_CLI, ...argvOf(c)]);
      await c.cleanup?.(daemon);
      if (nowSeconds() !== t0 && attempt < 5) continue; // time shows in the output: same second only
      assert.deepEqual(native, node, `${c.name}: native front vs Node CLI`);
      if (c.expect !== undefined) {
        assert.equal(node.code, c.expect.code, `${c.name}: ${node.stderr}`);
        if (c.expect.stdout !== undefined) assert.match(node.stdout, c.expect.stdout, c.name);
        if (c.expect.stderr !== undefined) assert.match(node.stderr, c.expect.stderr, c.name);
      }
      return;
    }
  }

  async function handedOver(c: Case): Promise<void> {
    await c.setup?.(daemon);
    const r = await run(lone, argvOf(c));
    await c.cleanup?.(daemon);
    const tookOver = r.code === 1 && r.stderr.startsWith('couicctl: cannot run the Node CLI ');
    assert.equal(!tookOver, c.native, `${c.name}: expected ${c.native ? 'to run natively' : 'a handover'}, got ${JSON.stringify(r)}`);
  }

  for (const c of CASES) {
    it(`same answer: ${c.name}`, () => compare(c));
  }

  it('runs the entry commands itself and hands everything else over', async () => {
    for (const c of CASES) await handedOver(c);
  });

  describe('with tagged entries', () => {
    before(async () => {
      for (const [cidr, tag] of TAGGED) await add('drop', cidr, tag, 0)(daemon);
    });
    for (const c of LIST_CASES) {
      it(`same answer: ${c.name}`, () => compare(c));
    }
    it('runs these lists itself', async () => {
      for (const c of LIST_CASES) await handedOver(c);
    });
  });

  it('COUICCTL_NO_FAST_PATH hands over', async () => {
    const r = await run(lone, ['-c', configs['good'] as string, 'drop', 'list'], { COUICCTL_NO_FAST_PATH: '1' });
    assert.match(r.stderr, /^couicctl: cannot run the Node CLI /);
  });
});
