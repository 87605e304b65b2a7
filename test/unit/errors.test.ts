import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AppError, ERROR_CODES, type ErrorCode } from '../../src/errors.js';

const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

/** Rows of the README's "Error codes" table: code → [status, exit]. */
function readmeRows(): Map<string, [number, number]> {
  const section = readme.split('## Error codes')[1]?.split('\n## ')[0] ?? '';
  const rows = new Map<string, [number, number]>();
  for (const m of section.matchAll(/^\| `([a-z_]+)` \| (\d+) \| (\d+) \|/gm)) {
    rows.set(m[1]!, [Number(m[2]), Number(m[3])]);
  }
  return rows;
}

describe('error registry', () => {
  it('README lists exactly the registry codes with their status and exit code', () => {
    const rows = readmeRows();
    assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
    for (const [code, def] of Object.entries(ERROR_CODES)) {
      assert.deepEqual(rows.get(code), [def.status, def.exitCode], code);
    }
  });

  it('AppError carries status, exit code and the Couic envelope', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const err = new AppError(code);
      assert.equal(err.status, ERROR_CODES[code].status);
      assert.equal(err.exitCode, ERROR_CODES[code].exitCode);
      assert.deepEqual(err.toJSON(), { code, message: ERROR_CODES[code].message, errors: {} });
    }
    const withFields = new AppError('invalid', undefined, { cidr: { code: 'invalid', message: 'invalid IP address syntax' } });
    assert.equal(JSON.stringify(withFields),
      '{"code":"invalid","message":"Validation failed","errors":{"cidr":{"code":"invalid","message":"invalid IP address syntax"}}}');
  });
});
