/**
 * protocol.ts must mirror couic.h: every table is compared with the JSON
 * printed by `couic-helper --abi` (built from the same header). The test
 * suite builds the helper first (scripts/test.sh), so a missing binary is a
 * failure, not a skip.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { ABI, MAP_SLOTS, OP_STATUS_NAMES, PARSE_REASONS, XDP_ACTIONS } from '../../src/xdp/abi.js';
import { helperPath } from '../../src/xdp/helper.js';

type Table = Record<string, number>;

function readAbi(): Record<string, unknown> {
  const bin = helperPath();
  assert.ok(existsSync(bin), `couic-helper is not built (${bin}): run \`make -C src/helper\` (scripts/test.sh builds it before the tests)`);
  const r = spawnSync(bin, ['--abi'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.error, undefined, `couic-helper --abi could not run: ${String(r.error)}`);
  assert.equal(r.status, 0, `couic-helper --abi exited ${r.status}: ${r.stderr}`);
  let json: unknown;
  assert.doesNotThrow(() => {
    json = JSON.parse(r.stdout);
  }, `couic-helper --abi printed invalid JSON: ${r.stdout.slice(0, 200)}`);
  assert.equal(typeof json, 'object');
  return json as Record<string, unknown>;
}

const abi = readAbi();

/** Keys of a table sorted by value, without the trailing MAX/COUNT sentinel, lower-cased. */
function namesByValue(t: Table, sentinel: string): string[] {
  return Object.entries(t)
    .filter(([k]) => k !== sentinel)
    .sort((a, b) => a[1] - b[1])
    .map(([k]) => k.toLowerCase());
}

test('the helper prints exactly the tables protocol.ts has', () => {
  assert.deepEqual(Object.keys(abi).sort(), Object.keys(ABI).sort());
});

for (const key of Object.keys(ABI) as (keyof typeof ABI)[]) {
  test(`ABI table "${key}" matches couic.h`, () => {
    assert.deepEqual(abi[key], ABI[key]);
  });
}

test('MAP_SLOTS (types.ts) follow couic_map_slot order', () => {
  const t = abi['map_slot'] as Table;
  assert.deepEqual(namesByValue(t, 'COUNT'), [...MAP_SLOTS]);
  assert.equal((abi['limits'] as Table)['MAP_COUNT'], MAP_SLOTS.length);
  assert.deepEqual(Object.values(t).sort((a, b) => a - b), MAP_SLOTS.map((_, i) => i));
});

test('PARSE_REASONS (types.ts) follow couic_parse_reason order', () => {
  const t = abi['parse'] as Table;
  assert.deepEqual(namesByValue(t, 'MAX'), [...PARSE_REASONS]);
  assert.equal(t['MAX'], PARSE_REASONS.length);
});

test('XDP_ACTIONS (types.ts) has COUIC_XDP_ACTIONS entries in kernel order', () => {
  const limits = abi['limits'] as Table;
  assert.equal(limits['XDP_ACTIONS'], XDP_ACTIONS.length);
  // enum xdp_action in <linux/bpf.h>: ABORTED 0, DROP 1, PASS 2, TX 3, REDIRECT 4
  assert.deepEqual([...XDP_ACTIONS], ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT']);
});

test('OP_STATUS_NAMES follow couic_op_status order', () => {
  assert.deepEqual(namesByValue(abi['status'] as Table, ''), [...OP_STATUS_NAMES]);
});
