/**
 * couicctl(1) and couic(8) cover what the programs accept: every command
 * and flag `couicctl --help` lists (asked of the real CLI, group by group,
 * command by command), every couic.toml key, every daemon option of
 * `couic --help`; groff renders both pages without a warning.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONFIG_KEYS } from '../../src/daemon/config-keys.js';
import { couicPage } from '../../src/man/couic.js';
import { couicctlPage } from '../../src/man/couicctl.js';
import { DAEMON_MAIN, REPO_ROOT } from '../lib/daemon.js';

const CLI_MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const MAN_MAIN = join(REPO_ROOT, 'dist', 'src', 'man', 'main.js');

/** Roff source as the text a reader sees (escapes and font changes gone). */
function plain(roff: string): string {
  return roff
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\e/g, '\\')
    .replace(/\\&/g, '')
    .replace(/\\\[u([0-9A-F]{4})\]/g, (_m, h: string) => String.fromCodePoint(parseInt(h, 16)));
}

function help(args: readonly string[], main = CLI_MAIN): string {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The `Commands:` of a yargs help text: `couicctl drop add <cidr>` -> `drop add`. */
function commandsOf(text: string): string[] {
  const block = text.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
  return block
    .split('\n')
    .map((l) => /^\s+couicctl ((?:[a-z-]+ ?)+)/.exec(l)?.[1]?.trim())
    .filter((c): c is string => c !== undefined);
}

/** The long flags of a yargs help text's `Options:` (the global ones left out). */
function flagsOf(text: string): string[] {
  const block = text.split('\nOptions:\n')[1] ?? '';
  return [...block.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!).filter((f) => !['--config', '--help', '--version'].includes(f));
}

/** couicctl(1)'s text per command (its COMMANDS section): `drop add` -> the lines of its entry. */
function entries(page: string): Map<string, string> {
  const out = new Map<string, string>();
  let cur: string | undefined;
  const commands = plain(page).split('\n.SH COMMANDS\n')[1]?.split('\n.SH ')[0] ?? '';
  for (const line of commands.split('\n')) {
    const m = /^couicctl ([a-z]+ [a-z]+)\b/.exec(line);
    if (m !== null) {
      cur = m[1]!;
      out.set(cur, line);
      continue;
    }
    if (line.startsWith('.SS') || line.startsWith('.SH')) cur = undefined;
    if (cur !== undefined) out.set(cur, `${out.get(cur)}\n${line}`);
  }
  return out;
}

describe('man pages', () => {
  const page1 = couicctlPage('0.0.0-test');
  const page8 = couicPage('0.0.0-test');
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'couic-man-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('couicctl(1) has every command and every flag of couicctl --help', () => {
    const byCmd = entries(page1);
    const groups = commandsOf(help(['--help']));
    assert.deepEqual(groups, ['drop', 'ignore', 'sets', 'stats', 'clients', 'fleet', 'peering']);
    let commands = 0;
    let flags = 0;
    for (const g of groups) {
      assert.match(page1, new RegExp(`^\\.SS couicctl ${g}$`, 'm'), `no section for ${g}`);
      const subs = commandsOf(help([g, '--help']));
      assert.ok(subs.length > 0, `${g} --help lists no command`);
      for (const sub of subs) {
        const entry = byCmd.get(sub);
        assert.ok(entry !== undefined, `couicctl ${sub} missing from couicctl(1)`);
        commands += 1;
        for (const f of flagsOf(help([...sub.split(' '), '--help']))) {
          assert.ok(entry.includes(f), `couicctl ${sub} ${f} missing from couicctl(1):\n${entry}`);
          flags += 1;
        }
      }
    }
    // As many entries as commands: none documented that the CLI lacks.
    assert.equal(byCmd.size, commands, [...byCmd.keys()].join(', '));
    assert.ok(commands >= 20 && flags >= 15, `${commands} commands, ${flags} flags`);
  });

  it('couic(8) has every couic.toml key under its section, and every option of couic --help', () => {
    const text = plain(page8);
    const sections = text.split(/^\.SS /m);
    for (const d of CONFIG_KEYS) {
      const dot = d.key.indexOf('.');
      if (dot < 0 && (d.kind === 'table' || d.kind === 'other')) {
        assert.match(text, new RegExp(`^\\.SS \\[${d.key}\\]$`, 'm'), `no section [${d.key}]`);
        continue;
      }
      const sec = dot < 0 ? 'Top level' : `[${d.key.slice(0, dot)}]`;
      const body = sections.find((s) => s.startsWith(`${sec}\n`));
      assert.ok(body !== undefined, `no section ${sec}`);
      assert.match(body, new RegExp(`^\\.TP\\n${d.key.slice(dot + 1)}$`, 'm'), `${d.key} missing from couic(8)`);
    }
    const daemonHelp = help(['--help'], DAEMON_MAIN);
    const opts = [...daemonHelp.matchAll(/^\s+-(\w), (--[a-z]+)/gm)];
    assert.equal(opts.length, 3);
    for (const [, short, long] of opts) assert.match(text, new RegExp(`^-${short}, ${long}`, 'm'), `${long} missing`);
  });

  it('the installed pages are what the generator writes, and groff renders them without a warning', (t) => {
    help([dir], MAN_MAIN);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(readFileSync(join(dir, 'couicctl.1'), 'utf8'), couicctlPage(pkg.version));
    assert.equal(readFileSync(join(dir, 'couic.8'), 'utf8'), couicPage(pkg.version));
    assert.match(readFileSync(join(dir, 'couic.8'), 'utf8'), new RegExp(`^\\.TH COUIC 8 "" "couic ${pkg.version.replace(/\./g, '\\.')}"`, 'm'));
    const groff = spawnSync('groff', ['-man', '-ww', '-z', join(dir, 'couicctl.1'), join(dir, 'couic.8')], { encoding: 'utf8' });
    if (groff.error !== undefined) {
      t.skip('groff not installed');
      return;
    }
    assert.equal(groff.status, 0, groff.stderr);
    assert.equal(groff.stderr, '');
  });
});
