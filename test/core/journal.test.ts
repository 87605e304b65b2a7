import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { Journal, parseFrames, REC_CLAIMS, REC_CLAIMS2, RecordEncoder, type JournalClaim, type ReplaySink } from '../../src/core/journal/journal.js';
import { ClaimTable, claimKey, deriveEntry } from '../../src/core/state/claims.js';
import { ReplayLoader } from '../../src/core/state/replay.js';
import { EntryTable } from '../../src/core/state/table.js';
import { TagRegistry } from '../../src/core/state/tags.js';
import { silentLogger } from '../../src/log.js';
import { v4KeyNum } from '../../src/net/v4-key.js';

interface Rec { tag: string; creation: number; expiration: number }

class MapSink implements ReplaySink {
  readonly m = new Map<string, Rec>();
  puts = 0;
  dels = 0;
  put(store: number, key: string, tag: string, creation: number, expiration: number): void {
    this.m.set(`${store}|${key}`, { tag, creation, expiration });
    this.puts += 1;
  }
  del(store: number, key: string): void {
    this.m.delete(`${store}|${key}`);
    this.dels += 1;
  }
}

const logger = silentLogger();
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'couic-journal-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function open(dir: string): Promise<{ j: Journal; sink: MapSink; stats: Awaited<ReturnType<typeof Journal.open>>['stats'] }> {
  const sink = new MapSink();
  const { journal, stats } = await Journal.open({ dir, logger }, sink);
  return { j: journal, sink, stats };
}

async function appendBatch(j: Journal, fill: (e: RecordEncoder) => void): Promise<void> {
  const e = new RecordEncoder();
  fill(e);
  await j.append(e.finish(), e.records);
}

describe('RecordEncoder / parseFrames', () => {
  it('round-trips put/del records with utf8 tags, big expirations and v6 keys', () => {
    const e = new RecordEncoder(16);
    e.put(0, '192.0.2.0/24', 'fail2ban-sshd', 1_700_000_000, 0);
    e.put(3, '2001:db8::/32', 'lan-é.couic', 1_700_000_001, 2_547_914_495);
    e.put(1, '::ffff:192.0.2.0/120', '', 5, 18446744073709552000);
    e.del(0, '192.0.2.0/24');
    const sink = new MapSink();
    const r = parseFrames(e.finish(), 0, sink);
    assert.equal(r.records, 4);
    assert.equal(r.torn, false);
    assert.deepEqual([...sink.m.entries()], [
      ['3|2001:db8::/32', { tag: 'lan-é.couic', creation: 1_700_000_001, expiration: 2_547_914_495 }],
      ['1|::ffff:192.0.2.0/120', { tag: '', creation: 5, expiration: 18446744073709552000 }],
    ]);
  });

  it('stops at a frame with a bad checksum and reports where', () => {
    const e = new RecordEncoder();
    e.put(0, '10.0.0.1/32', 'a', 1, 0);
    e.endFrame();
    e.put(0, '10.0.0.2/32', 'b', 1, 0);
    const buf = Buffer.from(e.finish());
    const firstEnd = 12 + buf.readUInt32LE(4); // header + payload of frame 1
    buf[buf.length - 1] = (buf[buf.length - 1] ?? 0) ^ 0xff; // flip bits in the second frame payload
    const sink = new MapSink();
    const r = parseFrames(buf, 0, sink);
    assert.equal(r.torn, true);
    assert.equal(r.goodEnd, firstEnd);
    assert.deepEqual([...sink.m.keys()], ['0|10.0.0.1/32']);
  });
});

describe('Journal', () => {
  it('replays appended batches in order (put overwrites, del removes)', async () => {
    const dir = tmp();
    const { j } = await open(dir);
    await appendBatch(j, (e) => {
      e.put(0, '1.1.1.1/32', 'a', 10, 0);
      e.put(0, '2.2.2.0/24', 'b', 11, 99);
    });
    await appendBatch(j, (e) => {
      e.del(0, '1.1.1.1/32');
      e.put(0, '2.2.2.0/24', 'c', 12, 100);
      e.put(2, '1.1.1.1/32', 'ign', 13, 0);
    });
    assert.equal(j.recordsSinceSnapshot, 5);
    await j.close();
    const { j: j2, sink, stats } = await open(dir);
    assert.equal(stats.walRecords, 5);
    assert.equal(stats.tornBytes, 0);
    assert.deepEqual(Object.fromEntries(sink.m), {
      '0|2.2.2.0/24': { tag: 'c', creation: 12, expiration: 100 },
      '2|1.1.1.1/32': { tag: 'ign', creation: 13, expiration: 0 },
    });
    await j2.close();
  });

  it('ignores a torn last record, cuts it off, and appends after the last good frame', async () => {
    const dir = tmp();
    const { j } = await open(dir);
    await appendBatch(j, (e) => e.put(0, '1.1.1.1/32', 'a', 1, 0));
    await appendBatch(j, (e) => e.put(0, '1.1.1.2/32', 'a', 1, 0));
    await j.close();
    const wal = join(dir, readdirSync(dir).find((n) => n.startsWith('wal-'))!);
    const goodSize = statSync(wal).size;
    // A crash in the middle of a write: the start of a third frame.
    const e = new RecordEncoder();
    e.put(0, '1.1.1.3/32', 'a', 1, 0);
    const frame = e.finish();
    appendFileSync(wal, frame.subarray(0, frame.length - 3));

    const { j: j2, sink, stats } = await open(dir);
    assert.equal(stats.tornBytes, frame.length - 3);
    assert.deepEqual([...sink.m.keys()].sort(), ['0|1.1.1.1/32', '0|1.1.1.2/32']);
    assert.equal(statSync(wal).size, goodSize, 'torn bytes are cut off');
    await appendBatch(j2, (x) => x.put(0, '1.1.1.4/32', 'z', 2, 0));
    await j2.close();
    const { j: j3, sink: s3, stats: st3 } = await open(dir);
    assert.equal(st3.tornBytes, 0);
    assert.deepEqual([...s3.m.keys()].sort(), ['0|1.1.1.1/32', '0|1.1.1.2/32', '0|1.1.1.4/32']);
    await j3.close();
  });

  it('treats zero-filled garbage at the end as torn', async () => {
    const dir = tmp();
    const { j } = await open(dir);
    await appendBatch(j, (e) => e.put(1, '2001:db8::1/128', 't', 1, 0));
    await j.close();
    const wal = join(dir, readdirSync(dir).find((n) => n.startsWith('wal-'))!);
    appendFileSync(wal, Buffer.alloc(4096));
    const { j: j2, sink, stats } = await open(dir);
    assert.equal(stats.tornBytes, 4096);
    assert.deepEqual([...sink.m.keys()], ['1|2001:db8::1/128']);
    await j2.close();
  });

  it('compacts into a snapshot; replay = snapshot + journal tail; old wal removed', async () => {
    const dir = tmp();
    const { j } = await open(dir);
    const model = new Map<string, Rec>();
    for (let b = 0; b < 20; b += 1) {
      await appendBatch(j, (e) => {
        for (let i = 0; i < 50; i += 1) {
          const key = `10.${b}.${i}.0/24`;
          e.put(0, key, `t${i % 3}`, b, i);
          model.set(`0|${key}`, { tag: `t${i % 3}`, creation: b, expiration: i });
        }
      });
    }
    await appendBatch(j, (e) => {
      for (let i = 0; i < 50; i += 2) {
        e.del(0, `10.3.${i}.0/24`);
        model.delete(`0|10.3.${i}.0/24`);
      }
    });
    const walBefore = readdirSync(dir).filter((n) => n.startsWith('wal-'));
    // The caller serializes its state (here: the model).
    const { done } = await j.compact((enc) => {
      for (const [k, v] of model) {
        const [store, key] = k.split('|') as [string, string];
        enc.put(Number(store), key, v.tag, v.creation, v.expiration);
      }
      return model.size;
    });
    // Appends continue in the new wal while the snapshot is written.
    await appendBatch(j, (e) => {
      e.put(2, '8.8.8.8/32', 'x', 7, 0);
      e.del(0, '10.0.0.0/24');
    });
    model.set('2|8.8.8.8/32', { tag: 'x', creation: 7, expiration: 0 });
    model.delete('0|10.0.0.0/24');
    await done;
    assert.equal(j.recordsSinceSnapshot, 2);
    await j.close();
    const files = readdirSync(dir).sort();
    assert.ok(files.includes('snapshot.bin'));
    for (const w of walBefore) assert.ok(!files.includes(w), `${w} deleted after the snapshot`);

    const { j: j2, sink, stats } = await open(dir);
    assert.equal(stats.snapshotRecords, 1000 - 25);
    assert.equal(stats.walRecords, 2);
    assert.deepEqual(new Map([...sink.m].sort()), new Map([...model].sort()));
    await j2.close();
  });

  it('survives a crash between starting a compaction and renaming the snapshot', async () => {
    const dir = tmp();
    const { j } = await open(dir);
    await appendBatch(j, (e) => e.put(0, '1.0.0.0/8', 'a', 1, 0));
    await j.close();
    // Simulate: new (empty) wal created, snapshot.tmp half written, no rename.
    writeFileSync(join(dir, 'snapshot.tmp'), Buffer.from('COUICSNP garbage'));
    const { j: j2 } = await open(dir);
    await appendBatch(j2, (e) => e.put(0, '2.0.0.0/8', 'b', 1, 0));
    await j2.close();
    assert.ok(!existsSync(join(dir, 'snapshot.tmp')));
    const { j: j3, sink } = await open(dir);
    assert.deepEqual([...sink.m.keys()].sort(), ['0|1.0.0.0/8', '0|2.0.0.0/8']);
    await j3.close();
  });

  it('replays a large journal quickly enough', async () => {
    const dir = tmp();
    const { j } = await open(dir);
    const e = new RecordEncoder(1 << 20);
    for (let i = 0; i < 200_000; i += 1) e.put(0, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, 'bulk', 1, 0);
    await j.append(e.finish(), e.records);
    await j.close();
    const t0 = performance.now();
    const { j: j2, sink } = await open(dir);
    const ms = performance.now() - t0;
    assert.equal(sink.m.size, 200_000);
    assert.ok(ms < 2000, `replay of 200k records took ${ms} ms`);
    await j2.close();
    assert.ok(readFileSync(join(dir, readdirSync(dir).find((n) => n.startsWith('wal-'))!)).length > 200_000 * 20);
  });
});

describe('RecordEncoder, auto-framed (snapshots)', () => {
  it('keeps every record and frame when its buffer fills many times over', () => {
    const e = new RecordEncoder(64, Buffer.from('0123456789abcdef'), 300);
    const want = new Map<string, Rec>();
    for (let i = 0; i < 20_000; i += 1) {
      const key = `10.${(i >>> 8) & 255}.${i & 255}.0/24`;
      const rec = { tag: i % 7 === 0 ? '' : `set-${i % 13}.couic`, creation: 1_700_000_000 + i, expiration: i % 3 === 0 ? 0 : 2_000_000_000 + i };
      e.put(i % 4, key, rec.tag, rec.creation, rec.expiration);
      want.set(`${i % 4}|${key}`, rec);
    }
    e.end(20_000);
    const len = e.byteLength;
    const buf = e.finish();
    assert.equal(buf.length, len);
    assert.equal(buf.subarray(0, 16).toString(), '0123456789abcdef');
    const sink = new MapSink();
    const r = parseFrames(buf, 16, sink);
    assert.equal(r.torn, false);
    assert.equal(r.goodEnd, buf.length);
    assert.equal(r.ended, true);
    assert.equal(sink.puts, 20_000);
    assert.deepEqual(sink.m, want);
  });
});

describe('RecordEncoder.putV4 / delV4', () => {
  it('write the same bytes as put / del of the key text', () => {
    const keys = ['0.0.0.0/0', '255.255.255.255/32', '10.0.100.9/32', '100.10.1.0/24', '1.2.3.4/31', '192.168.0.0/16', '9.99.199.0/9'];
    let s = 3;
    for (let i = 0; i < 2_000; i += 1) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      keys.push(`${s >>> 24}.${(s >>> 16) & 255}.${(s >>> 8) & 255}.${s & 255}/32`);
    }
    // a small auto-frame size also checks that frames are cut at the same records
    const a = new RecordEncoder(16, undefined, 256);
    const b = new RecordEncoder(16, undefined, 256);
    keys.forEach((k, i) => {
      const n = v4KeyNum(k);
      assert.ok(n >= 0, k);
      if (i % 3 === 0) {
        a.del(i % 4, k);
        b.delV4(i % 4, n);
      } else {
        a.put(i % 4, k, i % 2 === 0 ? '' : 'lan.couic', 1_700_000_000 + i, i % 5 === 0 ? 0 : 1_800_000_000);
        b.putV4(i % 4, n, i % 2 === 0 ? '' : 'lan.couic', 1_700_000_000 + i, i % 5 === 0 ? 0 : 1_800_000_000);
      }
    });
    assert.equal(b.records, a.records);
    assert.deepEqual(b.finish(), a.finish());
  });
});

describe('CLAIMS and CLAIMS2 records', () => {
  class ClaimSink extends MapSink {
    readonly claimed: [number, string, boolean, JournalClaim[]][] = [];
    claims(store: number, key: string, managed: boolean, claims: JournalClaim[]): void {
      this.claimed.push([store, key, managed, claims]);
    }
  }

  it('claims without a tag of their own on a drop CIDR are written as CLAIMS (4), byte for byte as before the fleet', () => {
    const e = new RecordEncoder(16);
    e.claims(0, '192.0.2.7/32', true, [{ owner: 'fail2ban-sshd', creation: 1_700_000_000, expiration: 0 }, { owner: 'x', creation: 5, expiration: 1e10 }]);
    const buf = e.finish();
    // frame header (12) then the record: type, store, key length, key, flags, u16 n, then per claim u8 len, owner, u32, f64
    assert.equal(buf[12], REC_CLAIMS);
    const expected = Buffer.concat([
      Buffer.from([REC_CLAIMS, 0, 12]), Buffer.from('192.0.2.7/32', 'latin1'), Buffer.from([1, 2, 0]),
      Buffer.from([13]), Buffer.from('fail2ban-sshd'), u32(1_700_000_000), f64(0),
      Buffer.from([1]), Buffer.from('x'), u32(5), f64(1e10),
    ]);
    assert.deepEqual(buf.subarray(12), expected);
    const sink = new ClaimSink();
    parseFrames(buf, 0, sink);
    assert.deepEqual(sink.claimed, [[0, '192.0.2.7/32', true, [{ owner: 'fail2ban-sshd', creation: 1_700_000_000, expiration: 0 }, { owner: 'x', creation: 5, expiration: 1e10 }]]]);
  });

  it('tagged claims (untagged "" included) and ignore CIDRs are CLAIMS2 (5) and round-trip', () => {
    const e = new RecordEncoder(16);
    const tagged: JournalClaim[] = [
      { owner: '@web-01', creation: 10, expiration: 0, tag: 'fail2ban-sshd' },
      { owner: 'fail2ban-recidive', creation: 11, expiration: 99 },
      { owner: '@web-02', creation: 12, expiration: 0, tag: '' },
      { owner: '@web-03', creation: 13, expiration: 0, tag: 'é'.repeat(40) },
    ];
    e.claims(1, '2001:db8::/32', false, tagged);
    e.claims(2, '10.0.0.0/8', true, [{ owner: '@b', creation: 1, expiration: 0 }]);
    e.claims(0, '192.0.2.1/32', false, []);
    const buf = e.finish();
    assert.equal(buf[12], REC_CLAIMS2);
    const sink = new ClaimSink();
    const r = parseFrames(buf, 0, sink);
    assert.equal(r.records, 3);
    assert.equal(r.torn, false);
    assert.deepEqual(sink.claimed, [
      [1, '2001:db8::/32', false, tagged],
      [2, '10.0.0.0/8', true, [{ owner: '@b', creation: 1, expiration: 0 }]],
      [0, '192.0.2.1/32', false, []],
    ]);
  });

  it('a journal written before the fleet (CLAIMS only) replays into the claims with the owner as tag', async () => {
    const dir = tmp();
    // Bytes of a wal as the daemon wrote it before CLAIMS2 existed: a PUT and a CLAIMS record in one frame.
    const payload = Buffer.concat([
      Buffer.from([1, 0, 12]), Buffer.from('192.0.2.7/32', 'latin1'), u32(1_700_000_000), f64(0), Buffer.from([13, 0]), Buffer.from('fail2ban-sshd'),
      Buffer.from([REC_CLAIMS, 0, 12]), Buffer.from('192.0.2.7/32', 'latin1'), Buffer.from([1, 1, 0]),
      Buffer.from([13]), Buffer.from('fail2ban-sshd'), u32(1_700_000_000), f64(0),
    ]);
    const frame = Buffer.alloc(12);
    frame.writeUInt32LE(0x4652_4a43, 0);
    frame.writeUInt32LE(payload.length, 4);
    frame.writeUInt32LE(crc32(payload), 8);
    const header = Buffer.alloc(16);
    header.write('COUICWAL', 0, 'latin1');
    header.writeUInt32LE(1, 8);
    header.writeUInt32LE(1, 12);
    writeFileSync(join(dir, 'wal-0000000001.log'), Buffer.concat([header, frame, payload]));
    const table = new EntryTable();
    const tags = new TagRegistry();
    const claims = new ClaimTable();
    const { journal } = await Journal.open({ dir, logger }, new ReplayLoader(table, tags, claims));
    await journal.close();
    assert.equal(table.size, 1);
    const st = claims.get('192.0.2.7/32');
    assert.deepEqual(st, { managed: true, claims: [{ owner: 'fail2ban-sshd', creation: 1_700_000_000, expiration: 0 }] });
    assert.equal(deriveEntry(st.claims).tag, 'fail2ban-sshd');
  });

  it('ignore claims come back under their ignore key (the mark), drop claims under the CIDR text', async () => {
    const dir = tmp();
    const { j } = await open(dir);
    await appendBatch(j, (e) => {
      e.claims(2, '10.0.0.0/8', true, [{ owner: '@a', creation: 1, expiration: 0, tag: 'office' }]);
      e.claims(0, '10.0.0.0/8', true, [{ owner: '@a', creation: 1, expiration: 0, tag: 'scan' }]);
    });
    await j.close();
    const claims = new ClaimTable();
    const { journal } = await Journal.open({ dir, logger }, new ReplayLoader(new EntryTable(), new TagRegistry(), claims));
    await journal.close();
    assert.equal(claims.get(claimKey(2, '10.0.0.0/8'))?.claims[0]?.tag, 'office');
    assert.equal(claims.get('10.0.0.0/8')?.claims[0]?.tag, 'scan');
    assert.equal(claimKey(2, '10.0.0.0/8'), '^10.0.0.0/8');
  });
});

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}

function f64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v, 0);
  return b;
}
