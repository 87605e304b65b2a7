/**
 * The README's start command on this machine: `bash scripts/start.sh` brings
 * the daemon up on its embedded default (working dir /var/lib/couic, socket
 * /run/couic/couic.sock, no interface), and `couicctl` with no config finds
 * that socket and the admin client file by itself.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sleep } from '../lib/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SOCKET = '/run/couic/couic.sock';
const STATE = '/var/lib/couic';
const CLI = `${ROOT}dist/src/cli/main.js`;
// The embedded default pins here (fail closed); the test removes what it pinned.
const PIN_DIR = '/sys/fs/bpf/couic';
const HELPER = `${ROOT}src/helper/.output/couic-helper`;

const skip = process.getuid?.() !== 0
  ? 'needs root'
  : existsSync(SOCKET) || existsSync(STATE) || existsSync('/etc/couic/couicctl.toml')
    ? `a couic install already owns ${SOCKET}, ${STATE} or /etc/couic on this host`
    : false;


function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path, () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

function couicctl(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('README start command', { skip, timeout: 300_000 }, () => {
  it('scripts/start.sh runs the daemon on the embedded default; couicctl drop list answers', async () => {
    const pinnedBefore = existsSync(PIN_DIR);
    const daemon = spawn('bash', ['scripts/start.sh'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    daemon.stdout.on('data', (b: Buffer) => { output += b.toString(); });
    daemon.stderr.on('data', (b: Buffer) => { output += b.toString(); });
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 240_000;
      while (!(await answers(SOCKET))) {
        assert.ok(Date.now() < deadline, `the daemon did not come up:\n${output}`);
        assert.equal(daemon.exitCode, null, `start.sh exited early:\n${output}`);
        await sleep(250);
      }
      assert.match(output, /Starting couic/);

      const empty = couicctl('drop', 'list');
      assert.equal(empty.code, 0, empty.stderr);
      assert.equal(empty.stdout, [
        '┌────────┬──────┬─────┬────────────┐',
        '│ Policy ┆ CIDR ┆ Tag ┆ Expiration │',
        '╞════════╪══════╪═════╪════════════╡',
        '└────────┴──────┴─────┴────────────┘',
        '',
      ].join('\n'));

      const add = couicctl('drop', 'add', '198.51.100.7/32', '-t', 'readme');
      assert.equal(add.code, 0, add.stderr);
      const list = couicctl('drop', 'list', '-q');
      assert.equal(list.stdout, '198.51.100.7/32\n');
      assert.equal(couicctl('drop', 'delete', '198.51.100.7/32').code, 0);
      assert.equal(couicctl('drop', 'list', '-q').stdout, '');
    } finally {
      if (daemon.pid !== undefined && daemon.exitCode === null) process.kill(-daemon.pid, 'SIGTERM');
      const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
      if (code === 'timeout' && daemon.pid !== undefined) process.kill(-daemon.pid, 'SIGKILL');
      rmSync(STATE, { recursive: true, force: true });
      rmSync('/run/couic', { recursive: true, force: true });
      if (!pinnedBefore && existsSync(PIN_DIR)) {
        spawnSync(HELPER, ['--unpin', PIN_DIR]);
        rmSync(PIN_DIR, { recursive: true, force: true });
      }
      assert.equal(code, 0, `the daemon stops cleanly on SIGTERM:\n${output}`);
    }
  });
});
