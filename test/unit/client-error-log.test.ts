/**
 * ClientErrorLog (src/api/client-error-log.ts): per window, the first
 * client errors in full, the others counted in one summary line.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { ClientErrorLog, SUMMARY_MESSAGE } from '../../src/api/client-error-log.js';

function capture(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  const logger = pino({ level: 'info' }, stream);
  return { logger, lines: () => out.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('the first N per window in full, the rest summarized by status, a new window logs in full again', () => {
  const { logger, lines } = capture();
  let now = 1_000_000;
  const log = new ClientErrorLog({ logger, full: 3, windowMs: 60_000, now: () => now });
  for (let i = 0; i < 10; i += 1) log.log({ method: 'GET', path: `/x${i}`, status: i % 2 === 0 ? 404 : 400 });
  assert.equal(lines().filter((l) => l['msg'] === 'request').length, 3);
  assert.equal(lines().filter((l) => l['msg'] === SUMMARY_MESSAGE).length, 0, 'no summary before the window ends');
  now += 60_000;
  log.log({ method: 'GET', path: '/next', status: 401 });
  const summary = lines().find((l) => l['msg'] === SUMMARY_MESSAGE);
  assert.deepEqual({ count: summary?.['count'], byStatus: summary?.['byStatus'] }, { count: 7, byStatus: { '404': 3, '400': 4 } });
  assert.equal(lines().filter((l) => l['msg'] === 'request').length, 4, 'the next window starts in full');
  log.flush();
  assert.equal(lines().filter((l) => l['msg'] === SUMMARY_MESSAGE).length, 1, 'nothing counted: no second summary');
});
