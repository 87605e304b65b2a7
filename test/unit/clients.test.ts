import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { ClientRegistry, parseUuid } from '../../src/core/clients.js';
import { nameError, parseGroup } from '../../src/domain/rules.js';
import { AppError } from '../../src/errors.js';
import { currentOwner } from '../lib/daemon.js';

const logger = pino({ level: 'silent' });
const { user, group } = currentOwner();
const roots: string[] = [];
let wd = '';
let dir = '';

beforeEach(() => {
  wd = mkdtempSync(path.join(os.tmpdir(), 'couic-clients-'));
  roots.push(wd);
  dir = path.join(wd, 'rbac', 'clients');
  mkdirSync(dir, { recursive: true });
});
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const put = (name: string, text: string, mode = 0o600): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
};
const load = (): Promise<ClientRegistry> => ClientRegistry.load({ workingDir: wd, user, group, logger });

describe('parseUuid', () => {
  const u = '4d5711cc-bacd-4e7d-8670-921ed0f1f1a4';
  test('accepted forms', () => {
    for (const s of [u, u.toUpperCase(), u.replaceAll('-', ''), `{${u}}`, `urn:uuid:${u}`, `{${u.toUpperCase()}}`]) {
      assert.equal(parseUuid(s), u, s);
    }
  });
  test('rejected forms', () => {
    for (const s of ['', u.slice(1), `${u}0`, ` ${u}`, `{${u}`, `{${u.replaceAll('-', '')}}`, `urn:uuid:${u.replaceAll('-', '')}`, u.replace('4', 'g'), `${u.slice(0, 8)}${u.slice(9)}-`]) {
      assert.equal(parseUuid(s), undefined, s);
    }
  });
});

test('nameError and parseGroup', () => {
  assert.equal(nameError('Client name', 'ok-name_1'), undefined);
  assert.equal(nameError('Client name', 'café'), undefined);
  assert.equal(nameError('Set name', ''), 'Set name cannot be empty');
  assert.equal(nameError('Set name', 'x'.repeat(49)), 'Set name must be at most 48 characters');
  assert.equal(nameError('Set name', 'a b'), 'Set name can only contain alphanumeric characters, hyphens, and underscores');
  assert.equal(parseGroup('CLIENTRO'), 'clientro');
  assert.equal(parseGroup('client_ro'), undefined);
});

describe('ClientRegistry.load', () => {
  test('creates couicctl.toml (admin, v4 token, 0600, exact shape) when missing', async () => {
    const reg = await load();
    const text = readFileSync(path.join(dir, 'couicctl.toml'), 'utf8');
    assert.match(text, /^token = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"\ngroup = "admin"\n$/);
    assert.equal(statSync(path.join(dir, 'couicctl.toml')).mode & 0o7777, 0o600);
    const c = reg.get('couicctl');
    assert.equal(c?.group, 'admin');
    assert.equal(reg.authenticate(`Bearer ${c?.token}`)?.name, 'couicctl');
    // second load keeps the same token
    const again = await load();
    assert.equal(again.get('couicctl')?.token, c?.token);
  });
  test('loads existing files; tokens canonicalized; non-toml ignored', async () => {
    put('couicctl.toml', 'token = "4D5711CC-BACD-4E7D-8670-921ED0F1F1A4"\ngroup = "admin"\n');
    put('mon.toml', 'group = "monitoring"\ntoken = "{11111111-2222-4333-8444-555555555555}"\n');
    put('notes.txt', 'whatever', 0o644);
    const reg = await load();
    assert.equal(reg.get('couicctl')?.token, '4d5711cc-bacd-4e7d-8670-921ed0f1f1a4');
    assert.equal(reg.get('mon')?.group, 'monitoring');
    assert.equal(reg.authenticate('Bearer 11111111222243338444555555555555')?.name, 'mon');
    assert.equal(reg.authenticate('bearer 11111111-2222-4333-8444-555555555555'), undefined);
    assert.equal(reg.authenticate(undefined), undefined);
    assert.equal(reg.list().length, 2);
  });
  test('wrong mode aborts', async () => {
    const p = put('bad.toml', 'token = "11111111-2222-4333-8444-555555555555"\ngroup = "admin"\n', 0o644);
    await assert.rejects(load(), (err: Error) => err.message.startsWith(`RBAC client file ${p} has wrong permissions: `));
  });
  test('duplicate token aborts', async () => {
    put('a.toml', 'token = "11111111-2222-4333-8444-555555555555"\ngroup = "admin"\n');
    const p = put('b.toml', 'token = "11111111222243338444555555555555"\ngroup = "clientro"\n');
    await assert.rejects(load(), { message: `Duplicate client token found: ${p}` });
  });
  test('bad content aborts', async () => {
    for (const text of ['token = "nope"\ngroup = "admin"\n', 'token = "11111111-2222-4333-8444-555555555555"\ngroup = "Admin"\n', 'not toml [', 'group = "admin"\n']) {
      const p = put('x.toml', text);
      await assert.rejects(load(), (err: Error) => err.message.includes(p), text);
    }
  });
  test('invalid client name (file stem) aborts', async () => {
    put('a.b.toml', 'token = "11111111-2222-4333-8444-555555555555"\ngroup = "admin"\n');
    await assert.rejects(load(), /a\.b\.toml/);
  });
});

describe('create / delete', () => {
  test('create writes atomically; duplicates and default client refused', async () => {
    const reg = await load();
    const c = await reg.create('f2b', 'clientrw');
    const text = readFileSync(path.join(dir, 'f2b.toml'), 'utf8');
    assert.equal(text, `token = "${c.token}"\ngroup = "clientrw"\n`);
    await assert.rejects(reg.create('f2b', 'admin'), (e: AppError) => e.code === 'invalid' && e.message === 'Client name already exists: f2b');
    await assert.rejects(reg.delete('couicctl'), (e: AppError) => e.code === 'invalid' && e.message === 'Cannot delete default client');
    await assert.rejects(reg.delete('zzz'), (e: AppError) => e.code === 'not_found' && e.message === 'Client not found: zzz');
    // authenticated (and remembered) under two spellings before the delete
    assert.equal(reg.authenticate(`Bearer ${c.token}`)?.name, 'f2b');
    assert.equal(reg.authenticate(`Bearer ${c.token.toUpperCase()}`)?.name, 'f2b');
    await reg.delete('f2b');
    assert.equal(reg.get('f2b'), undefined);
    assert.equal(reg.authenticate(`Bearer ${c.token}`), undefined);
    assert.equal(reg.authenticate(`Bearer ${c.token.toUpperCase()}`), undefined);
    // survives a reload from disk
    await reg.create('keep', 'peering');
    const again = await load();
    assert.equal(again.get('keep')?.group, 'peering');
    assert.equal(again.get('f2b'), undefined);
  });
  test('concurrent creates of the same name: one wins', async () => {
    const reg = await load();
    const results = await Promise.allSettled([reg.create('race', 'admin'), reg.create('race', 'admin')]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  });
});
