import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cidrContains,
  CIDR_SYNTAX_MESSAGE,
  formatAddr,
  isCidrText,
  makeCidr,
  parseCidr,
  parsePathIp,
  parsePathPrefix,
  tryParseCidr,
  tryParseIp,
} from '../../src/net/cidr.js';

// grammar (1): input → [family, canonical text]
const ACCEPT: ReadonlyArray<readonly [string, 4 | 6, string]> = [
  ['192.168.1.0/24', 4, '192.168.1.0/24'],
  ['192.168.1.100/24', 4, '192.168.1.0/24'],
  ['010.0.0.0/8', 4, '10.0.0.0/8'],
  ['001.002.003.004/32', 4, '1.2.3.4/32'],
  ['10.0.0.0/08', 4, '10.0.0.0/8'],
  ['10.0.0.0/00', 4, '0.0.0.0/0'],
  ['0.0.0.0/0', 4, '0.0.0.0/0'],
  ['1.2.3.4/0', 4, '0.0.0.0/0'],
  ['255.255.255.255/32', 4, '255.255.255.255/32'],
  ['10.1.2.3/9', 4, '10.0.0.0/9'],
  ['10.255.2.3/9', 4, '10.128.0.0/9'],
  ['2001:db8::1/32', 6, '2001:db8::/32'],
  ['2001:DB8::/32', 6, '2001:db8::/32'],
  ['0001:0db8::/32', 6, '1:db8::/32'],
  ['::/0', 6, '::/0'],
  ['::1/128', 6, '::1/128'],
  ['::/128', 6, '::/128'],
  ['::1/012', 6, '::/12'],
  ['::ffff:192.168.1.0/120', 6, '::ffff:192.168.1.0/120'],
  ['::ffff:192.168.1.77/120', 6, '::ffff:192.168.1.0/120'],
  ['::FFFF:010.1.1.1/128', 6, '::ffff:10.1.1.1/128'],
  ['::ffff:0:0/96', 6, '::ffff:0.0.0.0/96'],
  ['::1.2.3.4/128', 6, '::102:304/128'],
  ['1:2:3:4:5:6:1.2.3.4/128', 6, '1:2:3:4:5:6:102:304/128'],
  ['1:0:0:1:0:0:0:1/128', 6, '1:0:0:1::1/128'],
  ['1:0:0:0:1:0:0:1/128', 6, '1::1:0:0:1/128'],
  ['2001:db8:0:1:1:1:1:1/128', 6, '2001:db8:0:1:1:1:1:1/128'],
  ['1:2:3:4:5:6:7::/128', 6, '1:2:3:4:5:6:7:0/128'],
  ['::2:3:4:5:6:7:8/128', 6, '0:2:3:4:5:6:7:8/128'],
  ['1:2:3:4:5:6:7:8/128', 6, '1:2:3:4:5:6:7:8/128'],
  ['fe80::/10', 6, 'fe80::/10'],
  ['fe80::abcd/10', 6, 'fe80::/10'],
  ['2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/64', 6, '2001:db8:aaaa:bbbb::/64'],
  ['2001:0:0:1::/64', 6, '2001:0:0:1::/64'],
  ['0:0:1::/48', 6, '0:0:1::/48'],
];

const REJECT: readonly string[] = [
  '',
  '192.168.1.0',
  '::1',
  ' 192.168.1.0/24 ',
  '192.168.1.0/24 ',
  ' 192.168.1.0/24',
  '192.168.1.0 /24',
  '192.168.1.0//24',
  '192.168.1.0/24/',
  '192.168.1.0/-1',
  '192.168.1.0/+24',
  '10.0.0.0/008',
  '10.0.0.0/33',
  '10.0.0.0/',
  '/24',
  '256.0.0.0/8',
  '1.2.3/24',
  '1.2.3.4.5/32',
  '1234.0.0.0/8',
  '0x1.2.3.4/32',
  '1.2.3.-4/32',
  '+1.2.3.4/32',
  '1.2.3.4/3a',
  'abc',
  'localhost/32',
  '::/129',
  '::/0128',
  '2001:db8::1/64/',
  'fe80::1%eth0/64',
  '1:2:3:4:5:6:7:8:9/128',
  '1:2:3:4:5:6:7:8::/128',
  '::1:2:3:4:5:6:7:8/128',
  '1::2::3/64',
  ':::/64',
  '12345::/16',
  'g::/16',
  '1.2.3.4::/64',
  '::ffff:1.2.3.4:5/128',
  '::ffff:256.1.1.1/128',
  '[::1]/128',
  '2001:db8::/32\n',
  '１.2.3.4/32',
];

test('grammar (1): accepted CIDRs normalize to canonical text', () => {
  for (const [input, family, text] of ACCEPT) {
    const c = parseCidr(input);
    assert.equal(c.family, family, input);
    assert.equal(c.text, text, input);
    assert.equal(c.addr.length, family === 4 ? 4 : 16, input);
    assert.equal(isCidrText(input), true, input);
  }
});

test('grammar (1): rejected inputs say "invalid IP address syntax"', () => {
  for (const input of REJECT) {
    assert.equal(tryParseCidr(input), undefined, JSON.stringify(input));
    assert.equal(isCidrText(input), false, JSON.stringify(input));
    assert.throws(() => parseCidr(input), { message: CIDR_SYNTAX_MESSAGE }, JSON.stringify(input));
  }
});

test('grammar (1): bytes are network order with host bits zeroed', () => {
  const c = parseCidr('192.168.1.100/24');
  assert.deepEqual([...c.addr], [192, 168, 1, 0]);
  assert.equal(c.prefixLen, 24);
  const d = parseCidr('2001:db8::ff/120');
  assert.deepEqual([...d.addr], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const m = parseCidr('::ffff:192.168.1.0/120');
  assert.deepEqual([...m.addr], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 0]);
  assert.equal(m.family, 6);
});

test('grammar (1): /24 and /25 of the same network are distinct keys', () => {
  assert.notEqual(parseCidr('10.0.0.0/24').text, parseCidr('10.0.0.0/25').text);
});

test('grammar (2) path ip: std grammar rejects IPv4 leading zeros', () => {
  const ok: ReadonlyArray<readonly [string, 4 | 6, string]> = [
    ['192.168.1.0', 4, '192.168.1.0'],
    ['0.0.0.0', 4, '0.0.0.0'],
    ['1.1.1.1', 4, '1.1.1.1'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['2001:DB8::0001', 6, '2001:db8::1'],
    ['::ffff:1.2.3.4', 6, '::ffff:1.2.3.4'],
  ];
  for (const [input, family, text] of ok) {
    const ip = parsePathIp(input);
    assert.ok(ip, input);
    assert.equal(ip.family, family, input);
    assert.equal(formatAddr(ip.family, ip.addr), text, input);
  }
  for (const bad of ['010.0.0.0', '1.2.3.04', '192.168.1.0/24', '1.2.3', '', ' 1.2.3.4', 'fe80::1%eth0', '::ffff:01.2.3.4', 'abc', '256.1.1.1', '1.2.3.4.']) {
    assert.equal(parsePathIp(bad), undefined, JSON.stringify(bad));
  }
  // grammar (1)'s address rules keep leading zeros
  assert.equal(formatAddr(4, tryParseIp('010.0.0.1')!.addr), '10.0.0.1');
});

test('grammar (2) path prefix: Rust u8', () => {
  const ok: ReadonlyArray<readonly [string, number]> = [
    ['24', 24], ['+24', 24], ['024', 24], ['00000024', 24], ['0', 0], ['255', 255], ['99', 99], ['128', 128],
  ];
  for (const [input, n] of ok) assert.equal(parsePathPrefix(input), n, input);
  for (const bad of ['-1', 'abc', '256', '', '+', '-0', ' 24', '24 ', '1e1', '0x10', '24.0', '++24', '1000']) {
    assert.equal(parsePathPrefix(bad), undefined, JSON.stringify(bad));
  }
});

test('makeCidr and cidrContains', () => {
  const c = makeCidr(4, Uint8Array.from([1, 1, 1, 1]), 24);
  assert.equal(c.text, '1.1.1.0/24');
  assert.ok(cidrContains(parseCidr('10.0.0.0/8'), parseCidr('10.1.0.0/16')));
  assert.ok(!cidrContains(parseCidr('10.1.0.0/16'), parseCidr('10.0.0.0/8')));
  assert.ok(!cidrContains(parseCidr('::/0'), parseCidr('10.0.0.0/8')));
  assert.throws(() => makeCidr(4, Uint8Array.from([1, 1, 1, 1]), 33), RangeError);
});
