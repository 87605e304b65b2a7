/**
 * src/shim/couicctl_errors.h (the native couicctl's exit code per API error
 * code) must mirror the one registry, src/errors.ts: same codes, same exit
 * codes, nothing more, nothing less.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ERROR_CODES } from '../../src/errors.js';
import { REPO_ROOT } from '../lib/daemon.js';

test('couicctl_errors.h lists every registry code with its exit code', () => {
  const header = readFileSync(path.join(REPO_ROOT, 'src', 'shim', 'couicctl_errors.h'), 'utf8');
  const table = /COUIC_ERROR_EXITS\[\] = \{([^;]*)\};/.exec(header);
  assert.ok(table !== null, 'no COUIC_ERROR_EXITS table in couicctl_errors.h');
  const rows = [...(table[1] as string).matchAll(/\{"([a-z_]+)", (\d+)\}/g)].map((m) => [m[1], Number(m[2])]);
  const expected = Object.entries(ERROR_CODES).map(([code, e]) => [code, e.exitCode]);
  assert.deepEqual(rows, expected);
});
