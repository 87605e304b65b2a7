/**
 * Static sets (spec §3, §1.8) against the REAL daemon, checked through the
 * API and in the kernel maps (pinned, read with bpftool).
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Daemon } from '../lib/daemon.js';
import { apiEntries, assertKernelMatchesApi, kernelMaps, kernelSkip, startPinnedDaemon } from '../lib/kernel.js';
import { waitFor } from '../lib/wait.js';


describe('static sets (real daemon, kernel maps)', { skip: kernelSkip, timeout: 240_000 }, () => {
  let d: Daemon;
  let pinDir: string;
  let stopAll: () => Promise<void>;

  const dir = (policy: string): string => path.join(d.workingDir, 'sets', policy);
  const write = (policy: string, file: string, text: string, mode = 0o600): string => {
    const p = path.join(dir(policy), file);
    writeFileSync(p, text);
    chmodSync(p, mode);
    return p;
  };
  const reload = async (): Promise<{ status: number; body: any; text: string }> => {
    const r = await d.request('POST', '/v1/sets/reload');
    return { status: r.status, body: r.headers['content-type']?.startsWith('application/json') ? r.json() : undefined, text: r.text };
  };
  const okReload = async (): Promise<void> => {
    const r = await reload();
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.body, { reload_status: 'OK' });
  };
  /** `policy|cidr` -> tag of the API view, checked equal to the kernel. */
  const state = async (): Promise<Record<string, string | null>> => {
    const { api } = await assertKernelMatchesApi(d, pinDir);
    const out: Record<string, string | null> = {};
    for (const [k, e] of [...api].sort(([a], [b]) => (a < b ? -1 : 1))) out[k] = e.tag;
    return out;
  };

  before(async () => {
    const p = await startPinnedDaemon();
    d = p.d;
    pinDir = p.pinDir;
    stopAll = p.stop;
  });
  after(async () => {
    await stopAll?.();
  });
  beforeEach(async () => {
    for (const policy of ['drop', 'ignore']) {
      rmSync(dir(policy), { recursive: true, force: true });
      mkdirSync(dir(policy), { mode: 0o755 });
      chmodSync(dir(policy), 0o755);
    }
    await okReload();
    // API entries of earlier tests
    for (const [k, e] of await apiEntries(d)) {
      const [policy, cidr] = k.split('|') as [string, string];
      if (!(e.tag ?? '').endsWith('.couic')) assert.equal((await d.request('DELETE', `/v1/${policy}/${cidr}`)).status, 204);
    }
    assert.deepEqual(await state(), {});
  });

  test('empty file, comments, blank lines, whitespace and CRLF', async () => {
    write('drop', 'empty.couic', '');
    write('drop', 'comments.couic', '# only a comment\n\n   \n\t# indented comment\n');
    write('drop', 'mixed.couic', '# header\r\n  10.1.0.0/16  \r\n\r\n\t192.0.2.77/24\n#10.9.9.0/24\n2001:db8::1/32\n');
    await okReload();
    assert.deepEqual(await state(), {
      'drop|10.1.0.0/16': 'mixed.couic',
      'drop|192.0.2.0/24': 'mixed.couic',
      'drop|2001:db8::/32': 'mixed.couic',
    });
    const e = (await d.request('GET', '/v1/drop/10.1.0.0/16')).json();
    assert.equal(e.expiration, 0);
    assert.equal(e.tag, 'mixed.couic');
    const list = (await d.request('GET', '/v1/sets/drop')).json();
    assert.deepEqual(list, [
      { name: 'comments', entry_count: 0, file_size: 42 },
      { name: 'empty', entry_count: 0, file_size: 0 },
      { name: 'mixed', entry_count: 3, file_size: statSync(path.join(dir('drop'), 'mixed.couic')).size },
    ]);
  });

  test('duplicates within and across files collapse; the file sorting last wins', async () => {
    write('drop', 'a.couic', '10.1.0.0/16\n10.1.0.5/16\n10.1.0.0/16\n10.2.0.0/16\n');
    write('drop', 'b.couic', '10.2.0.9/16\n10.3.0.0/16\n010.3.0.0/16\n');
    await okReload();
    assert.deepEqual(await state(), {
      'drop|10.1.0.0/16': 'a.couic',
      'drop|10.2.0.0/16': 'b.couic',
      'drop|10.3.0.0/16': 'b.couic',
    });
    const stats = (await d.request('GET', '/v1/stats')).json();
    assert.equal(stats.drop_cidr_count, 3);
  });

  test('only regular *.couic files are read', async () => {
    write('drop', 'good.couic', '10.5.0.0/16\n');
    write('drop', 'notes.txt', '10.6.0.0/16\n');
    write('drop', 'good.couic.tmp', '10.7.0.0/16\n');
    write('drop', 'couic', '10.8.0.0/16\n');
    mkdirSync(path.join(dir('drop'), 'sub.couic'));
    write('drop', 'sub.couic/inner.couic', '10.9.0.0/16\n');
    await okReload();
    assert.deepEqual(await state(), { 'drop|10.5.0.0/16': 'good.couic' });
  });

  test('rename retags the entries (new creation, new kernel tag id)', async () => {
    write('drop', 'set1.couic', '10.10.0.0/16\n10.11.0.1/32\n');
    write('ignore', 'keep.couic', '10.11.0.0/24\n');
    await okReload();
    const before1 = await assertKernelMatchesApi(d, pinDir);
    assert.equal(before1.api.get('drop|10.10.0.0/16')?.tag, 'set1.couic');
    const created = before1.api.get('drop|10.10.0.0/16')!.creation;
    // The new creation must be a later second than the old one.
    assert.equal(await waitFor(() => Math.floor(Date.now() / 1000) > created, 2000, 20), true);
    renameSync(path.join(dir('drop'), 'set1.couic'), path.join(dir('drop'), 'set1-renamed.couic'));
    await okReload();
    const after1 = await assertKernelMatchesApi(d, pinDir);
    assert.deepEqual(await state(), {
      'drop|10.10.0.0/16': 'set1-renamed.couic',
      'drop|10.11.0.1/32': 'set1-renamed.couic',
      'ignore|10.11.0.0/24': 'keep.couic',
    });
    assert.ok(after1.api.get('drop|10.10.0.0/16')!.creation > created, 'creation = time of the retagging reload');
    assert.notEqual(after1.kernel.get('drop|10.10.0.0/16'), before1.kernel.get('drop|10.10.0.0/16'), 'new tag id in the kernel');
    assert.equal(after1.api.get('ignore|10.11.0.0/24')!.creation, before1.api.get('ignore|10.11.0.0/24')!.creation, 'untouched entry keeps its creation');
  });

  test('a set entry overrides an API entry, which disappears with the set', async () => {
    let r = await d.request('POST', '/v1/drop', { body: { cidr: '10.20.0.0/16', tag: 'api', expiration: Math.floor(Date.now() / 1000) + 3600 } });
    assert.equal(r.status, 201, r.text);
    r = await d.request('POST', '/v1/drop', { body: { cidr: '10.21.0.0/16', tag: 'api', expiration: 0 } });
    assert.equal(r.status, 201, r.text);
    write('drop', 'over.couic', '10.20.0.0/16\n');
    await okReload();
    assert.deepEqual(await state(), { 'drop|10.20.0.0/16': 'over.couic', 'drop|10.21.0.0/16': 'api' });
    const e = (await d.request('GET', '/v1/drop/10.20.0.0/16')).json();
    assert.equal(e.expiration, 0, 'the set entry never expires');
    // now protected like any set entry
    r = await d.request('DELETE', '/v1/drop/10.20.0.0/16');
    assert.equal(r.status, 422);
    assert.equal(r.text, 'Entry defined in a set cannot be removed');
    rmSync(path.join(dir('drop'), 'over.couic'));
    await okReload();
    assert.deepEqual(await state(), { 'drop|10.21.0.0/16': 'api' }, 'the API entry is not restored');
    assert.equal((await d.request('GET', '/v1/drop/10.20.0.0/16')).status, 404);
  });

  test('one bad line fails the whole reload with 422 and applies nothing of it', async () => {
    write('drop', 'ok.couic', '10.30.0.0/16\n');
    await okReload();
    const p = write('drop', 'mixed.couic', '10.31.0.0/16\nnot-a-cidr\n10.32.0.0/16 # inline comment\n');
    write('drop', 'ok.couic', '10.30.0.0/16\n10.33.0.0/16\n');
    const r = await reload();
    assert.equal(r.status, 422);
    assert.deepEqual(r.body, { code: 'invalid', message: `error parsing set: ${p}. Offending line: not-a-cidr`, errors: {} });
    assert.deepEqual(await state(), { 'drop|10.30.0.0/16': 'ok.couic' });
    // ignore sets are applied before the drop sets fail (Couic's partial reload)
    write('ignore', 'lan.couic', '10.34.0.0/16\n');
    assert.equal((await reload()).status, 422);
    assert.deepEqual(await state(), { 'drop|10.30.0.0/16': 'ok.couic', 'ignore|10.34.0.0/16': 'lan.couic' });
    // fixing the file applies everything
    write('drop', 'mixed.couic', '10.31.0.0/16\n');
    await okReload();
    assert.deepEqual(await state(), {
      'drop|10.30.0.0/16': 'ok.couic', 'drop|10.31.0.0/16': 'mixed.couic', 'drop|10.33.0.0/16': 'ok.couic', 'ignore|10.34.0.0/16': 'lan.couic',
    });
  });

  test('wrong permissions, bad names and oversized files → 422', async () => {
    write('drop', 'base.couic', '10.40.0.0/16\n');
    await okReload();
    const p = write('drop', 'open.couic', '10.41.0.0/16\n', 0o644);
    let r = await reload();
    assert.equal(r.status, 422);
    assert.equal(r.body.code, 'invalid');
    assert.ok(r.body.message.startsWith(`Set file ${p} has wrong permissions: `), r.body.message);
    assert.match(r.body.message, /mode 0644/);
    r = { ...(await d.request('GET', '/v1/sets/drop/open').then((x) => ({ status: x.status, body: x.json(), text: x.text }))) };
    assert.equal(r.status, 422);
    assert.ok(r.body.message.startsWith('Set file has wrong permissions: '), r.body.message);
    chmodSync(p, 0o600);
    chownSync(p, 65534, 65534);
    assert.equal((await reload()).status, 422, 'foreign owner');
    rmSync(p);
    write('drop', 'bad.name.couic', '10.42.0.0/16\n');
    r = await reload();
    assert.equal(r.status, 422);
    assert.equal(r.body.message, 'Invalid set name: bad.name. Set name must contain only valid characters (a-zA-Z0-9-_) and be <= 48 characters long');
    rmSync(path.join(dir('drop'), 'bad.name.couic'));
    const big = write('drop', 'big.couic', `${'#'.repeat(5 * 1024 * 1024)}\n`);
    r = await reload();
    assert.equal(r.status, 422);
    assert.equal(r.body.message, `File ${big} exceeds the maximum allowed size of 5 MB`);
    rmSync(big);
    assert.deepEqual(await state(), { 'drop|10.40.0.0/16': 'base.couic' });
    await okReload();
  });

  test('missing sets directory → 500', async () => {
    rmSync(dir('ignore'), { recursive: true });
    const r = await reload();
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { code: 'internal', message: `Sets directory does not exist: ${dir('ignore')}`, errors: {} });
  });

  test('incremental reloads track edits; a set entry removed by a peer job comes back', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => `10.50.${i >> 8}.${i & 255}/32`);
    write('drop', 'big.couic', lines.join('\n'));
    write('drop', 'small.couic', '10.51.0.0/16\n10.50.0.7/32\n');
    await okReload();
    let s = await state();
    assert.equal(Object.keys(s).length, 301);
    assert.equal(s['drop|10.50.0.7/32'], 'small.couic');
    // change one line, drop one, add one, move one
    const edited = [...lines];
    edited[10] = '10.52.0.1/32';
    edited.splice(20, 1);
    edited.push('10.52.0.2/32');
    write('drop', 'big.couic', edited.join('\n'));
    write('drop', 'small.couic', '10.51.0.0/16\n');
    await okReload();
    s = await state();
    assert.equal(Object.keys(s).length, 301);
    assert.equal(s['drop|10.50.0.10/32'], undefined);
    assert.equal(s['drop|10.50.0.20/32'], undefined);
    assert.equal(s['drop|10.52.0.1/32'], 'big.couic');
    assert.equal(s['drop|10.52.0.2/32'], 'big.couic');
    assert.equal(s['drop|10.50.0.7/32'], 'big.couic', 'the other owner of a duplicate takes over');
    // a line held twice by one file stays while one copy is left
    write('drop', 'small.couic', '10.51.0.0/16\n10.53.0.0/16\n10.51.0.0/16\n');
    await okReload();
    write('drop', 'small.couic', '10.53.0.0/16\n10.51.0.0/16\n');
    await okReload();
    assert.equal((await d.request('GET', '/v1/drop/10.51.0.0/16')).json().tag, 'small.couic');
    write('drop', 'small.couic', '10.51.0.0/16\n');
    await okReload();
    assert.equal((await d.request('GET', '/v1/drop/10.53.0.0/16')).status, 404);
    // a peer `remove` deletes a set entry behind the loader's back
    const r = await d.request('POST', '/v1/drop/peer', { body: [{ action: 'remove', entry: { cidr: '10.50.0.5/32', expiration: 0 } }] });
    assert.equal(r.status, 201, r.text);
    assert.equal((await d.request('GET', '/v1/drop/10.50.0.5/32')).status, 404);
    await okReload();
    assert.equal((await d.request('GET', '/v1/drop/10.50.0.5/32')).json().tag, 'big.couic', 'the unchanged file is authoritative again');
    assert.deepEqual(await state(), s);
  });

  test('set CRUD routes: status codes, bodies, files on disk', async () => {
    // create
    let r = await d.request('POST', '/v1/sets/drop', { body: { name: 'crud', entries: ['10.60.0.1/24', '2001:db8::1/64'] } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json(), { name: 'crud', entries: ['10.60.0.1/24', '2001:db8::1/64'] });
    const file = path.join(dir('drop'), 'crud.couic');
    assert.equal(readFileSync(file, 'utf8'), '10.60.0.1/24\n2001:db8::1/64', 'joined by \\n, no trailing newline, not normalized');
    const st = statSync(file);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.getuid?.());
    assert.ok(!existsSync(`${file}.tmp`));
    assert.deepEqual(await state(), {}, 'nothing applied before a reload');
    // exists → 409
    r = await d.request('POST', '/v1/sets/drop', { body: ['crud', []] });
    assert.equal(r.status, 409);
    assert.deepEqual(r.json(), { code: 'conflict', message: "Set 'crud' already exists for policy 'drop'", errors: {} });
    // validation
    r = await d.request('POST', '/v1/sets/drop', { body: { name: 'bad name', entries: ['10.0.0.0/8', 'x', '1.2.3.4'] } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.json(), {
      code: 'invalid', message: 'Validation failed', errors: {
        name: { code: 'invalid', message: 'Set name can only contain alphanumeric characters, hyphens, and underscores' },
        'entries[1]': { code: 'invalid', message: 'invalid IP address syntax' },
        'entries[2]': { code: 'invalid', message: 'invalid IP address syntax' },
      },
    });
    r = await d.request('POST', '/v1/sets/drop', { body: { name: 'x' } });
    assert.equal(r.status, 400);
    assert.equal(r.json().code, 'bad_request');
    r = await d.request('POST', '/v1/sets/DROP', { body: { name: 'x', entries: [] } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json().errors, { policy: { code: 'invalid', message: "invalid policy: 'DROP' (expected 'drop' or 'ignore')" } });
    // list
    r = await d.request('GET', '/v1/sets/drop');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), [{ name: 'crud', entry_count: 2, file_size: 27 }]);
    assert.deepEqual((await d.request('GET', '/v1/sets/ignore')).json(), []);
    // get
    r = await d.request('GET', '/v1/sets/drop/crud');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { name: 'crud', entries: ['10.60.0.1/24', '2001:db8::1/64'] });
    r = await d.request('GET', '/v1/sets/drop/nope');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), { code: 'not_found', message: "Set 'nope' not found for policy 'drop'", errors: {} });
    r = await d.request('GET', '/v1/sets/bogus/bad%20name');
    assert.equal(r.status, 400);
    assert.deepEqual(Object.keys(r.json().errors).sort(), ['name', 'policy']);
    // update: path name wins over the body name
    r = await d.request('PUT', '/v1/sets/drop/crud', { body: { name: 'other', entries: ['10.61.0.0/16'] } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { name: 'crud', entries: ['10.61.0.0/16'] });
    assert.equal(readFileSync(file, 'utf8'), '10.61.0.0/16');
    assert.ok(!existsSync(path.join(dir('drop'), 'other.couic')));
    r = await d.request('PUT', '/v1/sets/drop/nope', { body: { name: 'nope', entries: [] } });
    assert.equal(r.status, 404);
    await okReload();
    assert.deepEqual(await state(), { 'drop|10.61.0.0/16': 'crud.couic' });
    // GET reports bad lines by physical line number
    write('drop', 'broken.couic', '# c\n10.0.0.0/8\n\nnope\n 1.2.3.4 \n');
    r = await d.request('GET', '/v1/sets/drop/broken');
    assert.equal(r.status, 422);
    assert.deepEqual(r.json(), {
      code: 'invalid', message: 'Invalid set file', errors: {
        'line 4': { code: 'invalid', message: 'invalid IP address syntax' },
        'line 5': { code: 'invalid', message: 'invalid IP address syntax' },
      },
    });
    rmSync(path.join(dir('drop'), 'broken.couic'));
    // delete
    r = await d.request('DELETE', '/v1/sets/drop/crud');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { deleted: true, reload_required: true });
    assert.ok(!existsSync(file));
    assert.equal((await d.request('DELETE', '/v1/sets/drop/crud')).status, 404);
    assert.deepEqual(await state(), { 'drop|10.61.0.0/16': 'crud.couic' }, 'applied only on reload');
    await okReload();
    assert.deepEqual(await state(), {});
  });

  test('RBAC: clientro reads sets but cannot reload; clientrw can', async () => {
    const ro = (await d.request('POST', '/v1/client', { body: { name: 'sets-ro', group: 'clientro' } })).json().token as string;
    const rw = (await d.request('POST', '/v1/client', { body: { name: 'sets-rw', group: 'clientrw' } })).json().token as string;
    const mon = (await d.request('POST', '/v1/client', { body: { name: 'sets-mon', group: 'monitoring' } })).json().token as string;
    assert.equal((await d.request('GET', '/v1/sets/drop', { token: ro })).status, 200);
    assert.equal((await d.request('POST', '/v1/sets/reload', { token: ro })).status, 401);
    assert.equal((await d.request('POST', '/v1/sets/reload', { token: mon })).status, 401);
    assert.equal((await d.request('POST', '/v1/sets/reload', { token: null })).status, 401);
    assert.equal((await d.request('POST', '/v1/sets/reload', { token: rw })).status, 201);
    assert.equal((await d.request('GET', '/v1/sets/reload')).status, 405);
  });

  test('SIGHUP reloads the sets', async () => {
    write('drop', 'hup.couic', '10.70.0.0/16\n');
    write('ignore', 'hup.couic', '10.71.0.0/16\n');
    process.kill(d.pid, 'SIGHUP');
    const want = { 'drop|10.70.0.0/16': 'hup.couic', 'ignore|10.71.0.0/16': 'hup.couic' };
    // (state() also compares with the kernel: they may differ for an instant while the reload commits)
    await waitFor(() => state().then((st) => JSON.stringify(st) === JSON.stringify(want), () => false), 10_000);
    assert.deepEqual(await state(), want, 'SIGHUP did not reload the sets');
    await d.waitForOutput(/SIGHUP: sets reloaded/);
    // a failing SIGHUP reload is logged, the daemon keeps running
    write('drop', 'hup.couic', 'garbage\n');
    process.kill(d.pid, 'SIGHUP');
    await d.waitForOutput(/SIGHUP: sets reload failed/);
    assert.equal((await d.request('GET', '/v1/stats')).status, 200);
    assert.equal(kernelMaps(pinDir).get('drop|10.70.0.0/16') !== undefined, true, 'failed reload left the state alone');
  });

  test('at start the sets on disk are authoritative; a bad set aborts startup', async () => {
    write('drop', 'boot.couic', '10.80.0.0/16\n10.81.0.0/16\n');
    await okReload();
    // changed while down: the journal says 10.81, the file no longer does
    write('drop', 'boot.couic', '10.80.0.0/16\n10.82.0.0/16\n');
    await d.restart();
    assert.deepEqual(await state(), { 'drop|10.80.0.0/16': 'boot.couic', 'drop|10.82.0.0/16': 'boot.couic' });
    write('drop', 'boot.couic', '10.80.0.0/16\nbroken line\n');
    await assert.rejects(d.restart(), (err: Error) => {
      assert.match(err.message, /daemon exited during startup/);
      assert.match(err.message, /error parsing set: .*boot\.couic\. Offending line: broken line/);
      return true;
    });
    const { code } = await d.kill();
    assert.equal(code, 1);
    write('drop', 'boot.couic', '10.80.0.0/16\n');
    await d.restart();
    assert.deepEqual(await state(), { 'drop|10.80.0.0/16': 'boot.couic' });
  });
});
