import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import { textLine } from '../../src/log-text.js';
import { isoTimeCached, normalizeLevel, stdoutStyle } from '../../src/log.js';

const LOG_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'log.js');

/** Runs `body` in a child with `logger`/`root` from createRootLogger(info, async); resolves with each stdout line and when it came. */
function child(body: string): Promise<{ line: string; atMs: number }[]> {
  const code = `import { createRootLogger } from ${JSON.stringify(LOG_JS)};\nconst root = createRootLogger({ level: 'info' });\nconst logger = root.logger;\n${body}`;
  const c = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const t0 = Date.now();
  const out: { line: string; atMs: number }[] = [];
  let partial = '';
  c.stdout.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) out.push({ line, atMs: Date.now() - t0 });
  });
  return new Promise((resolve) => c.once('close', () => resolve(out)));
}

describe('log', () => {
  it('buffered lines are written within about 200 ms while the process runs, and at process.exit', async () => {
    const live = await child(`logger.info('first'); setTimeout(() => process.exit(0), 1500);`);
    assert.equal(live.length, 1);
    assert.match(live[0]!.line, /"msg":"first"/);
    assert.ok(live[0]!.atMs < 1200, `written after ${live[0]!.atMs} ms, not before the exit`);
    const exiting = await child(`for (let i = 0; i < 3; i++) logger.info({ i }, 'line'); logger.fatal('bye'); process.exit(70);`);
    assert.deepEqual(exiting.map((l) => (JSON.parse(l.line) as { msg: string }).msg), ['line', 'line', 'line', 'bye']);
  });

  it('isoTimeCached: the fragment pino.stdTimeFunctions.isoTime writes, for the current millisecond', async () => {
    const before = Date.now();
    const a = isoTimeCached();
    const after = Date.now();
    assert.match(a, /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
    assert.equal(a.length, pino.stdTimeFunctions.isoTime().length);
    const t = Date.parse((JSON.parse(`{${a.slice(1)}}`) as { time: string }).time);
    assert.ok(t >= before && t <= after, `${t} not in [${before}, ${after}]`);
    // a later millisecond gets its own text
    await new Promise((r) => setTimeout(r, 5));
    const b = isoTimeCached();
    assert.ok(Date.parse((JSON.parse(`{${b.slice(1)}}`) as { time: string }).time) > t);
  });

  it('normalizeLevel: pino names, RUST_LOG-style aliases, unknown', () => {
    assert.equal(normalizeLevel(' Info '), 'info');
    assert.equal(normalizeLevel('warning'), 'warn');
    assert.equal(normalizeLevel('off'), 'silent');
    assert.equal(normalizeLevel('critical'), 'fatal');
    assert.equal(normalizeLevel('verbose'), undefined);
  });

  it('textLine: tracing-like text, and the journal form with its syslog priority', () => {
    const line = JSON.stringify({ level: 40, time: '2026-12-08T00:30:00.123Z', pid: 7, name: 'couic', module: 'entries', msg: 'queue full', pending: 3, cidr: '192.0.2.0/24', why: 'a b', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n at x' } });
    assert.equal(textLine(`${line}\n`, 'text'), '2026-12-08T00:30:00.123Z  WARN couic::entries: queue full pending=3 cidr=192.0.2.0/24 why="a b" err="boom"\n');
    assert.equal(textLine(line, 'journal'), '<4>couic::entries: queue full pending=3 cidr=192.0.2.0/24 why="a b" err="boom"\n');
    assert.equal(textLine(JSON.stringify({ level: 30, time: 't', msg: 'm' }), 'text'), 't  INFO couic: m\n');
    assert.equal(textLine('not json', 'text'), 'not json\n');
  });

  it('stdoutStyle: the journal when JOURNAL_STREAM names the descriptor, JSON otherwise', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'couic-log-'));
    const fd = openSync(path.join(dir, 'f'), 'w');
    try {
      const st = fstatSync(fd);
      assert.equal(stdoutStyle({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd), 'journal');
      assert.equal(stdoutStyle({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }, fd), 'json');
      assert.equal(stdoutStyle({}, fd), 'json');
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
