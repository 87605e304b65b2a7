import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrArg, policyArg, setEntriesArg, tagArg } from '../../src/cli/args.js';
import { DurationError, expirationFromArg, parseHumantime } from '../../src/cli/duration.js';
import { normalizeAsn, parseCidrFile } from '../../src/cli/commands/sets.js';
import { groupArg, setNameArg } from '../../src/cli/names.js';
import { parseTagPatterns, tagMatches, tagMatchesAny } from '../../src/cli/tags.js';

describe('humantime durations', () => {
  const ok: [string, number][] = [
    ['30s', 30],
    ['1m', 60],
    ['2h', 7200],
    ['1day', 86400],
    ['2days', 172800],
    ['1h 30m', 5400],
    ['1h30m', 5400],
    ['1w', 604800],
    ['1 h', 3600],
    ['  5min ', 300],
    ['1M', 2_630_016],
    ['1y', 31_557_600],
    ['1500ms', 1],
    ['10sec 500ms', 10],
  ];
  for (const [text, secs] of ok) it(`${JSON.stringify(text)} = ${secs}s`, () => assert.equal(parseHumantime(text), secs));

  for (const bad of ['10', '', '  ', '1.5h', 'h', '1x', '1h-', '-1h', '1 d ay', '1 0s', '1 0 s', '1h 3 0m']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseHumantime(bad), DurationError));
  }

  it('0 means never, otherwise now + duration', () => {
    assert.equal(expirationFromArg('0', 1000), 0);
    assert.equal(expirationFromArg('1m', 1000), 1060);
    assert.throws(() => expirationFromArg('10', 1000), DurationError);
    // a space inside a number is an error (not 10s); between parts it is fine
    assert.throws(() => expirationFromArg('1 0s', 1000), DurationError);
    assert.equal(expirationFromArg('1h 30m', 1000), 1000 + 5400);
  });
});

describe('tag patterns', () => {
  const tags: (string | null)[] = [null, '', 'couicctl', 'fail2ban-sshd', 'fail2ban-nginx', 'lan.couic'];
  const filter = (p: string): (string | null)[] => tags.filter((t) => tagMatchesAny(t, parseTagPatterns(p)));
  it('* and ** match every non-null tag (including "")', () => {
    assert.deepEqual(filter('*'), tags.slice(1));
    assert.deepEqual(filter('**'), tags.slice(1));
  });
  it('substring, suffix, prefix, exact', () => {
    assert.deepEqual(filter('*2ban*'), ['fail2ban-sshd', 'fail2ban-nginx']);
    assert.deepEqual(filter('*.couic'), ['lan.couic']);
    assert.deepEqual(filter('fail2ban-*'), ['fail2ban-sshd', 'fail2ban-nginx']);
    assert.deepEqual(filter('couicctl'), ['couicctl']);
    assert.deepEqual(filter('Couicctl'), []);
  });
  it('empty pattern matches only untagged; lists are trimmed and OR-ed', () => {
    assert.deepEqual(filter(''), ['']);
    assert.deepEqual(filter(' couicctl , *sshd'), ['couicctl', 'fail2ban-sshd']);
    assert.deepEqual(filter('couicctl,'), ['', 'couicctl']);
    assert.equal(tagMatches(null, '*'), false);
  });
});

describe('argument parsers (usage errors, exit 2)', () => {
  const usage = (fn: () => unknown, message: string): void => {
    assert.throws(fn, (err: unknown) => {
      const e = err as { code?: string; message?: string; exitCode?: number };
      assert.equal(e.code, 'usage');
      assert.equal(e.exitCode, 2);
      assert.equal(e.message, message);
      return true;
    });
  };
  it('CIDR: grammar (1), normalized', () => {
    assert.equal(cidrArg('192.168.1.100/24').text, '192.168.1.0/24');
    assert.equal(cidrArg('010.0.0.0/8').text, '10.0.0.0/8');
    assert.equal(cidrArg('2001:DB8::1/32').text, '2001:db8::/32');
    for (const bad of ['x', '192.168.1.0', '1.2.3.4/33', ' 1.2.3.4/32', '1.2.3.4//24']) {
      usage(() => cidrArg(bad), `invalid value '${bad}' for '<CIDR>': invalid IP address syntax`);
    }
    usage(() => cidrArg(['1.2.3.4/32', '1.2.3.5/32']), "the argument '<CIDR>' cannot be used multiple times");
  });
  it('tag rules', () => {
    assert.equal(tagArg(''), '');
    assert.equal(tagArg('fail2ban-sshd'), 'fail2ban-sshd');
    usage(() => tagArg('a b'), "invalid value 'a b' for '--tag <TAG>': Tag can only contain alphanumeric characters, hyphens, and underscores");
    usage(() => tagArg('x.couic'), "invalid value 'x.couic' for '--tag <TAG>': Tag cannot end with special suffix: .couic");
    usage(() => tagArg('UNTAGGED'), "invalid value 'UNTAGGED' for '--tag <TAG>': Tag cannot be 'untagged' (reserved for display)");
    usage(() => tagArg('a'.repeat(65)), `invalid value '${'a'.repeat(65)}' for '--tag <TAG>': Tag must be at most 64 characters`);
  });
  it('policy, group, set name, set entries', () => {
    assert.equal(policyArg('drop'), 'drop');
    usage(() => policyArg('DROP'), "invalid value 'DROP' for '<POLICY>'\n  [possible values: drop, ignore]");
    assert.equal(groupArg('ClientRW'), 'clientrw');
    usage(() => groupArg('root'), "invalid value 'root' for '--group <GROUP>': Invalid group: root");
    assert.equal(setNameArg('lan_1'), 'lan_1');
    usage(() => setNameArg('a.b'), "invalid value 'a.b' for '<NAME>': Set name can only contain alphanumeric characters, hyphens, and underscores");
    assert.deepEqual(setEntriesArg(['192.168.1.100/24']), ['192.168.1.100/24']);
    assert.deepEqual(setEntriesArg(undefined), []);
    usage(() => setEntriesArg(['1.2.3.4']), "invalid value '1.2.3.4' for '[ENTRIES]...': invalid IP address syntax");
  });
});

describe('sets sources', () => {
  it('normalizes ASNs', () => {
    assert.equal(normalizeAsn('AS200373'), '200373');
    assert.equal(normalizeAsn('as13335'), '13335');
    assert.equal(normalizeAsn('64500'), '64500');
    assert.throws(() => normalizeAsn('ASx1'), {
      message: "Invalid ASN format: ASN must be numeric (e.g., '200373' or 'AS200373'), got: 'ASx1'",
    });
  });
  it('parses CIDR files', () => {
    assert.deepEqual(parseCidrFile('# lan\n10.0.0.0/8\n\n  192.168.1.100/24  \r\n'), ['10.0.0.0/8', '192.168.1.100/24']);
    assert.throws(() => parseCidrFile('10.0.0.0/8\nfoo\n1.2.3.4 # x\n'), {
      message: 'Failed to parse 2 CIDR(s):\nline 2: foo (invalid IP address syntax)\nline 3: 1.2.3.4 # x (invalid IP address syntax)',
    });
    assert.throws(() => parseCidrFile('# nothing\n\n'), { message: 'No valid CIDRs found in file' });
  });
});
