/**
 * `[logging]` as Couic's config says, on the real daemon: the files appear in
 * `dir`, text lines parse as documented (`<time> <LEVEL> couic::<module>:
 * <message> key=value…`), json lines as pino's JSON, daily rotation happens
 * at midnight and `max_log_files` bounds what is kept — time is driven by
 * libfaketime (the daemon starts a few seconds before midnight, nobody waits
 * a day) — and no token ever shows in a log line, after authenticated
 * requests and failing ones.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { daemonBuilt, startDaemon, type Daemon } from '../lib/daemon.js';
import { waitFor } from '../lib/wait.js';

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const TEXT_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG| INFO| WARN|ERROR|FATAL) couic(::[a-z-]+)?: /;

const logFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => /^couic\..*log$/.test(f)).sort() : []);
const readAll = (dir: string): string => logFiles(dir).map((f) => readFileSync(path.join(dir, f), 'utf8')).join('');

/** `YYYY-MM-DD HH:MM:SS` (UTC, libfaketime's format) of `ms`. */
const fakeClock = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

describe('[logging]', { skip: !daemonBuilt() && 'daemon not built' }, () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'couic-logging-'));
  let d: Daemon | undefined;
  after(async () => {
    await d?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('text (the default): a file in dir, every line in the documented shape; no token in any line', async () => {
    const dir = path.join(tmp, 'text'); // created by the daemon
    d = await startDaemon({ logDir: dir, env: { COUIC_LOG_LEVEL: 'debug' } });
    const token = d.token;
    // authenticated requests, a client created (its token in the answer), failing ones
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: '192.0.2.0/24', tag: 't', expiration: 0 } })).status, 201);
    const created = await d.request('POST', '/v1/client', { body: { name: 'logtest', group: 'clientro' } });
    assert.equal(created.status, 201, created.text);
    const newToken = (created.json() as { token: string }).token;
    const badToken = '7d1f5a2c-3b4e-4c6d-8e9f-0a1b2c3d4e5f';
    assert.equal((await d.request('GET', '/v1/drop', { token: badToken })).status, 401);
    assert.equal((await d.request('GET', '/v1/drop', { token: `${token}x` })).status, 401);
    assert.equal((await d.request('POST', '/v1/drop', { body: `{"cidr": "${token}"` })).status, 400);
    const pid = d.pid;
    process.kill(pid, 'SIGHUP'); // logs 'SIGHUP: reloading the sets'
    assert.ok(await waitFor(() => readAll(dir).includes('SIGHUP: sets reloaded'), 10_000, 50), `no SIGHUP line in ${dir}:\n${readAll(dir)}`);
    await d.stop();
    d = undefined;

    const files = logFiles(dir);
    assert.deepEqual(files, [`couic.${day(Date.now())}.1.log`]);
    const lines = readAll(dir).trimEnd().split('\n');
    assert.ok(lines.length >= 5, lines.join('\n'));
    for (const l of lines) assert.match(l, TEXT_LINE);
    assert.ok(lines.some((l) => / INFO couic::main: couic is running socket=\S+$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^\S+  INFO couic::main: stopped|^\S+  INFO couic::\w+: .*stop/.test(l)), 'a stop line');
    for (const secret of [token, newToken, badToken]) assert.ok(!readAll(dir).includes(secret), `a token in the log files: ${secret}`);
  });

  it('json: pino JSON lines with level, time, module, msg', async () => {
    const dir = path.join(tmp, 'json');
    d = await startDaemon({ logDir: dir, logging: { format: 'json', rotation: 'never' } });
    await d.stop();
    d = undefined;
    assert.deepEqual(logFiles(dir), ['couic.1.log']);
    const lines = readAll(dir).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of lines) {
      assert.equal(typeof l['level'], 'number');
      assert.match(String(l['time']), /^\d{4}-\d\d-\d\dT/);
      assert.equal(l['name'], 'couic');
      assert.equal(typeof l['msg'], 'string');
    }
    assert.ok(lines.some((l) => l['module'] === 'main' && l['msg'] === 'couic is running'));
  });

  it('daily rotation at midnight; max_log_files bounds the files kept', { skip: !existsSync(FAKETIME_LIB) && 'needs libfaketime (apt-get install faketime)' }, async () => {
    const dir = path.join(tmp, 'rotate');
    const midnight = (Math.floor(Date.now() / 86_400_000) + 1) * 86_400_000;
    const runAcross = async (midnightMs: number): Promise<void> => {
      const daemon = await startDaemon({
        logDir: dir,
        logging: { rotation: 'daily', max_log_files: 2 },
        // the daemon's clock starts 6 s before that midnight, then runs normally
        env: { LD_PRELOAD: FAKETIME_LIB, FAKETIME: `@${fakeClock(midnightMs - 6000)}`, FAKETIME_DONT_RESET: '1' },
      });
      d = daemon;
      const next = `couic.${day(midnightMs)}.1.log`;
      const rolled = await waitFor(() => logFiles(dir).includes(next), 20_000, 100);
      assert.ok(rolled, `no ${next} after midnight: ${logFiles(dir).join(' ')}`);
      process.kill(daemon.pid, 'SIGHUP'); // a line after the rotation lands in the new file
      assert.ok(await waitFor(() => readFileSync(path.join(dir, next), 'utf8').includes('SIGHUP'), 10_000, 50), `${next} gets the new lines`);
      await daemon.stop();
      d = undefined;
    };
    await runAcross(midnight);
    assert.deepEqual(logFiles(dir), [`couic.${day(midnight - 1)}.1.log`, `couic.${day(midnight)}.1.log`]);
    // two days later: two more files, the two oldest removed at the rotation
    const later = midnight + 2 * 86_400_000;
    await runAcross(later);
    assert.ok(await waitFor(() => logFiles(dir).length === 2, 10_000, 50), `kept: ${logFiles(dir).join(' ')}`);
    assert.deepEqual(logFiles(dir), [`couic.${day(later - 1)}.1.log`, `couic.${day(later)}.1.log`]);
    for (const l of readAll(dir).trimEnd().split('\n')) assert.match(l, TEXT_LINE);
  });

  it('a dir that cannot be written is a startup error naming logging.dir', async () => {
    const file = path.join(tmp, 'not-a-dir');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, '');
    await assert.rejects(startDaemon({ logDir: path.join(file, 'sub'), startTimeoutMs: 10_000 }), /Error initializing logging: `logging\.dir` .*not-a-dir\/sub/);
  });
});
