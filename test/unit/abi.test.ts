/**
 * src/xdp/abi.ts must mirror the helper's headers (src/helper/couic_proto.h,
 * src/helper/couic_kern_user.h): every table is compared with the JSON
 * printed by `couic-helper --abi` (built from the same headers), and the
 * headers themselves are read so that a constant, struct or field declared
 * there but left out of --abi fails too. The test suite builds the helper
 * first (scripts/test.sh), so a missing binary is a failure, not a skip.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

test('the helper prints exactly the tables abi.ts has', () => {
  assert.deepEqual(Object.keys(abi).sort(), Object.keys(ABI).sort());
});

for (const key of Object.keys(ABI) as (keyof typeof ABI)[]) {
  test(`ABI table "${key}" matches the helper's headers`, () => {
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

/* ------------------------------------------------------------------ */
/* --abi covers the headers                                             */
/* ------------------------------------------------------------------ */

const HEADERS = ['couic_kern_user.h', 'couic_proto.h'];

interface Declared {
  readonly constants: Map<string, { file: string; expr: string }>;
  readonly structs: Map<string, { file: string; fields: string[] }>;
}

/** Every COUIC_* enum member and value #define, every struct couic_* and its fields. */
function readHeaders(): Declared {
  const dir = dirname(dirname(helperPath()));
  const constants = new Map<string, { file: string; expr: string }>();
  const structs = new Map<string, { file: string; fields: string[] }>();
  for (const file of HEADERS) {
    const text = readFileSync(join(dir, file), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, ' ')
      .replace(/\/\/.*$/gm, '');
    for (const m of text.matchAll(/\benum\s+\w+\s*\{([^}]*)\}/g)) {
      for (const member of (m[1] ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
        const kv = /^(COUIC_\w+)\s*=\s*(.+)$/.exec(member);
        assert.ok(kv, `${file}: enum member "${member}" has no explicit value (the ABI test needs one)`);
        constants.set(kv[1] ?? '', { file, expr: (kv[2] ?? '').trim() });
      }
    }
    for (const m of text.matchAll(/^#define[ \t]+(COUIC_\w+)[ \t]+(\S.*)$/gm)) {
      constants.set(m[1] ?? '', { file, expr: (m[2] ?? '').trim() });
    }
    for (const m of text.matchAll(/\bstruct\s+(couic_\w+)\s*\{([^}]*)\}\s*;/g)) {
      const fields = (m[2] ?? '').split(';').map((x) => x.trim()).filter(Boolean).map((decl) => {
        const f = /(\w+)\s*(?:\[[^\]]*\])?$/.exec(decl);
        assert.ok(f, `${file}: cannot read the field "${decl}" of struct ${m[1]}`);
        return f[1] ?? '';
      });
      structs.set(m[1] ?? '', { file, fields });
    }
  }
  return { constants, structs };
}

/** The value of a constant as the headers write them: 12, 0x1F, 65536u, (4u << 20). */
function evalC(expr: string): number {
  const m = /^\(?\s*(0x[0-9a-f]+|\d+)u?\s*(?:<<\s*(\d+)\s*)?\)?$/i.exec(expr);
  assert.ok(m, `cannot evaluate "${expr}": write constants as plain integers or (a << b)`);
  return Number(m[1]) * 2 ** Number(m[2] ?? 0);
}

const PREFIX_TABLES: readonly (readonly [string, string])[] = [
  ['COUIC_MSG_', 'msg'],
  ['COUIC_FLAG_', 'flags'],
  ['COUIC_OP_', 'op'],
  ['COUIC_ST_', 'status'],
  ['COUIC_POLICY_', 'policy'],
  ['COUIC_FEAT_', 'feature'],
  ['COUIC_MODE_', 'mode'],
  ['COUIC_PARSE_', 'parse'],
  ['COUIC_DEF_', 'defaults'],
  ['COUIC_MAP_', 'map_slot'],
];
const LIMITS = new Set(['COUIC_MAP_COUNT', 'COUIC_XDP_ACTIONS', 'COUIC_DUMP_CHUNK']);

/** Where --abi prints a constant: a top-level key, or [table, key]. */
function abiPlace(name: string): readonly [string] | readonly [string, string] {
  if (name === 'COUIC_PROTO_VERSION') return ['proto_version'];
  if (name === 'COUIC_FRAME_MAGIC') return ['magic'];
  if (LIMITS.has(name) || name.startsWith('COUIC_MAX_')) return ['limits', name.slice('COUIC_'.length)];
  for (const [prefix, table] of PREFIX_TABLES) {
    if (name.startsWith(prefix)) return [table, name.slice(prefix.length)];
  }
  assert.fail(`${name}: no ABI table for this prefix (add one to abi.c, src/xdp/abi.ts and this test)`);
}

function abiValue(place: readonly [string] | readonly [string, string]): unknown {
  const top = abi[place[0]];
  return place.length === 1 ? top : (top as Table | undefined)?.[place[1]];
}

const declared = readHeaders();

test('the headers were read (the parser found their tables)', () => {
  assert.ok(declared.constants.size >= 60, `only ${declared.constants.size} constants found`);
  assert.ok(declared.structs.size >= 15, `only ${declared.structs.size} structs found`);
  assert.ok(declared.constants.has('COUIC_MSG_SHUTDOWN') && declared.constants.has('COUIC_MAX_PAYLOAD'));
  assert.deepEqual(declared.structs.get('couic_frame_hdr')?.fields, ['magic', 'type', 'flags', 'id', 'len', 'status']);
});

test('--abi prints every constant of the headers, with the value the header gives', () => {
  for (const [name, { file, expr }] of declared.constants) {
    const place = abiPlace(name);
    assert.equal(abiValue(place), evalC(expr), `${file}: ${name} = ${expr}, --abi ${place.join('.')}`);
  }
});

test('--abi prints no constant the headers do not declare', () => {
  const printed = new Set([...declared.constants.keys()].map((n) => abiPlace(n).join('.')));
  for (const [key, value] of Object.entries(abi)) {
    if (key === 'sizeof' || key === 'offsetof') continue;
    if (typeof value === 'number') {
      assert.ok(printed.has(key), `--abi ${key} is in no header`);
      continue;
    }
    for (const k of Object.keys(value as Table)) assert.ok(printed.has(`${key}.${k}`), `--abi ${key}.${k} is in no header`);
  }
});

test('--abi prints the size of every struct of the headers and the offset of every field, and no other', () => {
  const sizes = abi['sizeof'] as Table;
  const offsets = abi['offsetof'] as Table;
  const fields = new Set<string>();
  for (const [name, s] of declared.structs) {
    assert.equal(typeof sizes[name], 'number', `${s.file}: struct ${name} has no sizeof in --abi`);
    for (const f of s.fields) {
      fields.add(`${name}.${f}`);
      assert.equal(typeof offsets[`${name}.${f}`], 'number', `${s.file}: ${name}.${f} has no offsetof in --abi`);
    }
  }
  assert.deepEqual(Object.keys(sizes).sort(), [...declared.structs.keys()].sort());
  assert.deepEqual(Object.keys(offsets).sort(), [...fields].sort());
});
