import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { isoTimeCached, normalizeLevel } from '../../src/log.js';

describe('log', () => {
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
});
