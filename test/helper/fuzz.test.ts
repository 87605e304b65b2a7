/**
 * Coverage-guided fuzzing of the helper's frame parser (libFuzzer, ASan,
 * UBSan): `make -C src/helper fuzz` builds src/helper/fuzz/fuzz_serve.c,
 * which runs the real serve loop, dispatch table and request handlers on
 * each input, with the kernel calls faked at the map-operation boundary
 * (src/helper/fuzz/fake_bpf.c) and invariants checked after each input
 * (helper key sets = kernel maps, couic_cfg copies equal, replies framed).
 *
 * The seed corpus is valid conversations written by the TypeScript codec.
 * Bounded: COUIC_FUZZ_SECONDS (default 30) of fuzzing; set it higher to
 * fuzz longer. A crash, a sanitizer report or a broken invariant fails
 * the test and leaves the input in the artifact directory it names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { LIMITS, MSG } from '../../src/xdp/abi.js';
import { helperPath } from '../../src/xdp/helper.js';
import {
  encodeBatch,
  encodeEmptyRequest,
  encodeFrame,
  encodeReplaceChunk,
  encodeShutdown,
  encodeTagReset,
  encodeTestRun,
} from '../../src/xdp/protocol.js';
import type { KernelEntry, MapOp } from '../../src/xdp/types.js';
import { ipv4Frame, ipv6Frame, parseCidr } from '../lib/packets.js';

const HELPER_DIR = dirname(dirname(helperPath()));
const FUZZER = join(HELPER_DIR, '.output', 'fuzz', 'couic-fuzz');
const SECONDS = Number(process.env['COUIC_FUZZ_SECONDS'] ?? 30);

/* Setup bytes of an input (see fuzz_serve.c): flags, fault countdown, fault errno. */
const PLAIN = [0, 0, 0];
const LPM_ONLY = [1, 0, 0];
const NO_BATCH = [2, 0, 0];
const BATCH_REFUSED = [4, 0, 0];
const FAULT_AT_3 = [0, 3, 0];

function entry(policy: 'drop' | 'ignore', cidr: string, tagId: number): KernelEntry {
  const { family, addr, prefixLen } = parseCidr(cidr);
  return { policy, family, addr, prefixLen, tagId };
}

function op(kind: MapOp['kind'], policy: 'drop' | 'ignore', cidr: string, tagId = 1): MapOp {
  return { kind, ...entry(policy, cidr, tagId) };
}

const ADDS: MapOp[] = [
  op('add', 'drop', '192.0.2.1/32', 1),
  op('add', 'drop', '198.51.100.0/24', 2),
  op('add', 'ignore', '2001:db8::1/128', 3),
  op('add', 'ignore', '2001:db8:1::/48', 4),
  op('upsert', 'drop', '192.0.2.1/32', 5),
];
const DELETES: MapOp[] = ADDS.slice(0, 4).map((o) => ({ ...o, kind: 'delete' }));
const MANY: MapOp[] = Array.from({ length: 12 }, (_, i) => op('add', 'drop', `203.0.113.${i}/32`, i));

/** Valid conversations, each ending at EOF or SHUTDOWN. */
function seeds(): Map<string, Buffer> {
  let id = 1;
  const next = (): number => id++;
  const conv = (setup: number[], ...frames: Buffer[]): Buffer => Buffer.concat([Buffer.from(setup), ...frames]);
  const replace = (): Buffer[] => [
    encodeEmptyRequest(MSG.REPLACE_BEGIN, next()),
    encodeReplaceChunk(next(), [entry('drop', '192.0.2.9/32', 7), entry('ignore', '10.0.0.0/8', 8)]),
    encodeBatch(next(), [op('add', 'drop', '192.0.2.1/32')]),
    encodeEmptyRequest(MSG.REPLACE_END, next()),
  ];
  const reads = (): Buffer[] => [encodeEmptyRequest(MSG.DUMP, next()), encodeEmptyRequest(MSG.STATS, next())];
  const s = new Map<string, Buffer>();
  s.set('batch', conv(PLAIN, encodeBatch(next(), ADDS), encodeBatch(next(), DELETES), ...reads()));
  s.set('replace', conv(PLAIN, encodeBatch(next(), ADDS), ...replace(), ...reads()));
  s.set('full', conv(PLAIN, encodeBatch(next(), MANY), ...reads()));
  s.set('lpm-only', conv(LPM_ONLY, encodeBatch(next(), ADDS), ...replace(), ...reads()));
  s.set('no-batch', conv(NO_BATCH, encodeBatch(next(), ADDS), encodeBatch(next(), DELETES), ...replace()));
  s.set('batch-refused', conv(BATCH_REFUSED, encodeBatch(next(), MANY), ...replace(), ...reads()));
  s.set('fault', conv(FAULT_AT_3, encodeBatch(next(), MANY), encodeBatch(next(), DELETES), ...replace()));
  s.set('test-run', conv(
    PLAIN,
    encodeTestRun(next(), ipv4Frame(), 3),
    encodeTestRun(next(), ipv6Frame(), LIMITS.MAX_REPEAT),
    encodeTestRun(next(), ipv4Frame(), LIMITS.MAX_REPEAT + 1),
    encodeTestRun(next(), new Uint8Array(10)),
  ));
  s.set('tags', conv(PLAIN, encodeTagReset(next(), [1, 2, 15, 16, 4096]), encodeEmptyRequest(MSG.STATS, next())));
  s.set('errors', conv(
    PLAIN,
    encodeFrame(42, next()),
    encodeFrame(MSG.STATS, next(), Buffer.from('xx')),
    encodeFrame(MSG.BATCH, next(), Buffer.alloc(4)),
    encodeFrame(MSG.HELLO, next()),
    encodeShutdown(next(), { unpin: true }),
  ));
  return s;
}

test(`libFuzzer on the helper's frame parser for ${SECONDS} s: no crash, no sanitizer report, invariants hold`, { timeout: (SECONDS + 300) * 1000 }, (t) => {
  const build = spawnSync('make', ['-s', '-C', HELPER_DIR, 'fuzz'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `make fuzz failed:\n${build.stdout}${build.stderr}`);

  const dir = mkdtempSync(join(tmpdir(), 'couic-fuzz-'));
  try {
    const seedDir = join(dir, 'seeds');
    const corpus = join(dir, 'corpus');
    const artifacts = join(dir, 'artifacts');
    for (const d of [seedDir, corpus, artifacts]) mkdirSync(d);
    for (const [name, input] of seeds()) writeFileSync(join(seedDir, name), input);

    const r = spawnSync(FUZZER, [
      `-max_total_time=${SECONDS}`,
      '-max_len=65536',
      '-timeout=10',
      '-rss_limit_mb=2048',
      '-close_fd_mask=2', // the helper's own log lines; libFuzzer and sanitizer reports stay
      '-print_final_stats=1',
      `-artifact_prefix=${artifacts}/`,
      corpus,
      seedDir,
    ], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: (SECONDS + 120) * 1000 });
    const out = `${r.stdout}${r.stderr}`;
    const runs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(out)?.[1] ?? 0);
    const cov = /cov: (\d+)/.exec(out.split('\n').filter((l) => l.includes(' cov: ')).at(-1) ?? '')?.[1];
    t.diagnostic(`${runs} inputs in ${SECONDS} s, coverage ${cov ?? '?'} edges, ${readdirSync(corpus).length} corpus entries`);
    assert.equal(r.error, undefined, `the fuzzer did not run: ${String(r.error)}`);
    assert.doesNotMatch(out, /ERROR: (AddressSanitizer|libFuzzer)|runtime error:|fuzz_serve: /, out.slice(-4000));
    assert.equal(r.status, 0, `the fuzzer exited ${r.status} (artifacts: ${readdirSync(artifacts).join(', ')}):\n${out.slice(-4000)}`);
    assert.deepEqual(readdirSync(artifacts), [], 'no crash input left behind');
    assert.ok(runs > seeds().size, `only ${runs} inputs ran`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
