import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSimpleToml } from '../../src/cli/config.js';
import { fastParse } from '../../src/cli/fast.js';
import { detectGroup } from '../../src/cli/parser.js';

describe('fast path parser', () => {
  it('takes plain, valid hot commands', () => {
    const add = fastParse(['-c', '/x.toml', 'drop', 'add', '192.0.2.7/24', '-t', 'fail2ban-sshd', '-e', '1h 30m', '--json']);
    assert.ok(add !== undefined && add.sub === 'add');
    const { cidr, ...rest } = add;
    assert.deepEqual(
      { ...rest, cidr: cidr.text },
      { sub: 'add', policy: 'drop', config: '/x.toml', cidr: '192.0.2.0/24', expiration: '1h 30m', json: true, tag: 'fail2ban-sshd' },
    );
    assert.deepEqual(fastParse(['ignore', 'list', '-q', '-t', '']), { sub: 'list', policy: 'ignore', config: undefined, quiet: true, json: false, tags: '' });
    assert.equal(fastParse(['drop', 'delete', '::/0', '--config', 'c.toml'])?.sub, 'delete');
    assert.equal(fastParse(['drop', 'add', '1.2.3.4/32', '-t', ''])?.sub, 'add');
  });

  it('leaves everything else to yargs', () => {
    const slow = [
      [],
      ['--help'],
      ['drop'],
      ['drop', 'list', '--help'],
      ['drop', 'add'],
      ['drop', 'add', 'x'],
      ['drop', 'add', '1.2.3.4/32', '-t', 'a b'],
      ['drop', 'add', '1.2.3.4/32', '-t'],
      ['drop', 'add', '1.2.3.4/32', '-t', 'a', '-t', 'b'],
      ['drop', 'add', '1.2.3.4/32', '--tag=a'],
      ['drop', 'add', '1.2.3.4/32', '-e', '1h', '30m'],
      ['drop', 'list', '-q', '--json'],
      ['drop', 'list', '-qt', 'x'],
      ['drop', 'list', 'extra'],
      ['drop', 'delete', '1.2.3.4/32', '--json'],
      ['drop', 'inspect', '1.2.3.4/32', '-t', 'x'],
      ['DROP', 'list'],
      ['sets', 'list', 'drop'],
      ['clients', 'list'],
      ['drop', 'list', '--', '-x'],
    ];
    for (const argv of slow) assert.equal(fastParse(argv), undefined, argv.join(' '));
  });

  it('finds the command group for lazy loading', () => {
    assert.equal(detectGroup(['-c', 'drop', 'sets', 'list']), 'sets');
    assert.equal(detectGroup(['--config', 'x', '--help']), undefined);
    assert.equal(detectGroup(['stats', 'global']), 'stats');
  });
});

describe('flat TOML reader', () => {
  it('reads flat documents and defers the rest', () => {
    assert.deepEqual(parseSimpleToml('# c\nmode = "local"\nport=2900\ntls = true # x\n\n'), { mode: 'local', port: 2900, tls: true });
    assert.equal(parseSimpleToml('[server]\nsocket = "x"'), undefined);
    assert.equal(parseSimpleToml('a = "x\\"y"'), undefined);
    assert.equal(parseSimpleToml('a = 1\na = 2'), undefined);
    assert.equal(parseSimpleToml("a = 'lit'"), undefined);
  });
});
