/**
 * The peer-body fast path (src/api/peer-fast.ts) must give exactly what the
 * strict reader gives, or give up (undefined) so that the strict reader
 * decides — in particular for everything JSON.parse-like readers get wrong
 * (duplicate keys, floats and huge integers for a u64, escapes).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { peerJobsDecoder } from '../../src/api/handlers/entries.js';
import { decodeJson } from '../../src/api/json.js';
import { peerEcho, scanPeerJobs } from '../../src/api/peer-fast.js';
import { tryParseCidr } from '../../src/net/cidr.js';
import { cidrKeyNum, type KeyedCidr } from '../../src/net/keys.js';
import { v4KeyNum } from '../../src/net/v4-key.js';

const NOW = Math.floor(Date.now() / 1000);
const FUTURE = NOW + 3600;

interface Norm {
  action: string;
  cidr: string;
  family: number;
  prefixLen: number;
  addr: number[];
  tag: string;
  expiration: number;
}

/** The strict reader's result (as the handler turns it into core jobs) and its 201 echo; or the error text. */
function strict(text: string): { jobs: Norm[]; echo: string } | { error: string } {
  let decoded;
  try {
    decoded = decodeJson(text, peerJobsDecoder);
  } catch (err) {
    return { error: (err as Error).message };
  }
  const jobs = decoded.map((j) => {
    const c = tryParseCidr(j.entry.cidr.text)!;
    return { action: j.action, cidr: c.text, family: c.family, prefixLen: c.prefixLen, addr: [...c.addr], tag: j.entry.tag ?? '', expiration: j.entry.expiration };
  });
  const echo = JSON.stringify(decoded.map((j) => ({
    action: j.action,
    entry: { cidr: j.entry.cidr.raw, tag: j.entry.tag, expiration: j.entry.expiration, metadata: j.entry.metadata },
  })));
  return { jobs, echo };
}

/** The fast path on the UTF-8 bytes of `text` (the API hands it the body's bytes). */
const scan = (text: string): ReturnType<typeof scanPeerJobs> => scanPeerJobs(Buffer.from(text, 'utf8'), NOW);

function fast(text: string): { jobs: Norm[]; echo: string } | undefined {
  const r = scan(text);
  if (r === undefined) return undefined;
  return {
    jobs: r.map((j) => ({
      action: j.action, cidr: j.entry.cidr.text, family: j.entry.cidr.family, prefixLen: j.entry.cidr.prefixLen,
      addr: [...j.entry.cidr.addr], tag: j.entry.tag, expiration: j.entry.expiration,
    })),
    echo: peerEcho(r).toString('latin1'),
  };
}

const job = (entry: string, action = 'add'): string => `{"action":"${action}","entry":${entry}}`;

/** Bodies the fast path must accept, with the strict result. */
const ACCEPTED: readonly string[] = [
  '[]',
  ' \n[ ]\t',
  `[${job('{"cidr":"10.0.0.1/32","tag":"peer1","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":null,"expiration":0,"metadata":null}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"","expiration":0}')}]`,
  `[${job(`{"expiration":${FUTURE},"tag":"x","cidr":"192.168.1.100/24"}`)}]`, // host bits: normalized, echo keeps them
  `[${job('{"cidr":"0.0.0.0/0","expiration":0}')}, ${job('{"cidr":"255.255.255.255/32","expiration":0}', 'remove')}]`,
  `[${job('{"cidr":"1.2.3.4/8","expiration":0}')}]`,
  `[${job('{"cidr":"010.0.0.0/8","expiration":0}')}]`, // leading zeros: generic parser, echo reformatted
  `[${job('{"cidr":"10.0.0.0/08","expiration":0}')}]`,
  `[${job('{"cidr":"2001:db8::1/32","expiration":0}')}]`,
  `[${job('{"cidr":"::ffff:192.168.1.0/120","expiration":0}')}]`,
  `[${job('{"cidr":"::/0","expiration":0}')}]`,
  `[{"entry":{"cidr":"10.0.0.1/32","expiration":0},"action":"remove"}]`,
  `[\n  {\n    "action" : "add" ,\n    "entry" : { "cidr" : "10.9.8.7/32" , "expiration" : 0 }\n  }\n]\n`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"A-b_9","expiration":0}')},${job('{"cidr":"10.0.0.2/32","tag":"A-b_9","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"élan","expiration":0}')}]`.replace('élan', 'x'.repeat(64)),
  // Couic's own layout (read by matching it), with its variants
  `[${job(`{"cidr":"10.0.0.1/32","tag":"t1","expiration":${FUTURE},"metadata":null}`)}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":null,"expiration":0}', 'remove')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"","expiration":0,"metadata":null}', 'remove')}]`,
  `[${job('{"cidr":"10.1.2.3/8","tag":"t1","expiration":0}')},${job('{"cidr":"10.1.2.3/8","tag":"t1","expiration":0}', 'remove')}]`,
  `[${job('{"cidr":"2001:db8::1/64","tag":"t1","expiration":0,"metadata":null}')}]`,
  `[${job('{"cidr":"010.0.0.1/32","tag":"t1","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"ab","expiration":0}')},${job('{"cidr":"10.0.0.2/32","tag":"cb","expiration":0}')},${job('{"cidr":"10.0.0.3/32","tag":"ab","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":0 ,"metadata":null}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":0,"metadata":null }')}]`,
];

/** Bodies the fast path must leave to the strict reader (errors or rare shapes). */
const DECLINED: readonly string[] = [
  '',
  '{}',
  '[5]',
  '[{}]',
  '[[]]',
  '[{"action":"add"}]',
  '[{"action":"add","entry":{}}]',
  `[${job('{"cidr":"10.0.0.1/32","expiration":0}')},]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0}')}] x`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0}')}`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0,}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0}', 'ban')}]`,
  '[{"action":5,"entry":{"cidr":"1.2.3.0/24","expiration":0}}]',
  '[{"action":"add","action":"add","entry":{"cidr":"1.2.3.0/24","expiration":0}}]',
  '[{"action":"add","entry":{"cidr":"1.2.3.0/24","expiration":0},"entry":{"cidr":"1.2.3.0/24","expiration":0}}]',
  `[${job('{"cidr":"10.0.0.1/32","cidr":"10.0.0.2/32","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"a","tag":"b","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0,"expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0,"metadata":null,"metadata":null}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":1.0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0.0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":1e3}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0E0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":-0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":-1}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":01}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":18446744073709551615}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":18446744073709551616}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":9007199254740993}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":"0"}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":null}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":5}')}]`,
  `[${job('{"cidr":"10.0.0.1/32"}', 'remove')}]`,
  `[${job('{"cidr":"10.0.0.1","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/33","expiration":0}')}]`,
  `[${job('{"cidr":" 10.0.0.1/32","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"a.couic","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"UNTAGGED","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"a b","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"tag-with-émoji","expiration":0}')}]`,
  `[${job(`{"cidr":"10.0.0.1/32","tag":"${'x'.repeat(65)}","expiration":0}`)}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":5,"expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0,"metadata":{"kind":"k","detail":"d"}}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0,"metadata":{"detail":"d","kind":"k","extra":{"a":1.5}}}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0,"pad":1e400}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","expiration":0,"other":1}')}]`,
  `[{"action":"add","entry":{"cidr":"10.0.0.1/32","expiration":0},"x":[1,2]}]`,
  `[${job('{"cidr":"10.0.0.1\\/32","expiration":0}')}]`,
  `[${job('{"c\\u0069dr":"10.0.0.1/32","cidr":"10.0.0.2/32","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"\\ud800","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"a\tb","expiration":0}')}]`,
  `[["add",{"cidr":"10.0.0.1/32","expiration":0}]]`,
  `[${job('["10.0.0.1/32","t",0]')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":nul,"expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":nullx,"expiration":0}')}]`,
  `\ufeff[${job('{"cidr":"10.0.0.1/32","expiration":0}')}]`,
  // Couic's own layout with a bad value
  `[${job('{"cidr":"10.0.0.1/33","tag":"t1","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"a.couic","expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":01}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":5}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":1e3}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":0,"metadata":nullx}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":0,"metadata":null,"metadata":null}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":nul,"expiration":0}')}]`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":0}')}`,
  `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":0}')}}]`,
];

test('fast path: same jobs and echo as the strict reader', () => {
  for (const text of ACCEPTED) {
    const f = fast(text);
    const s = strict(text);
    assert.ok(!('error' in s), `strict rejects ${text}: ${'error' in s ? s.error : ''}`);
    assert.notEqual(f, undefined, `fast path declined ${text}`);
    assert.deepEqual(f, s, text);
  }
});

test('fast path: gives up on everything else, the strict reader decides', () => {
  for (const text of DECLINED) {
    assert.equal(scan(text), undefined, text);
  }
});

test('fast path: IPv4 jobs carry the key number of their network', () => {
  const r = scan(`[${job('{"cidr":"192.168.1.100/24","tag":"t","expiration":0}')}]`)!;
  const c = r[0]!.entry.cidr as KeyedCidr;
  assert.equal(c.key4, v4KeyNum('192.168.1.0/24'));
  assert.equal(c.text, '192.168.1.0/24');
  assert.equal(r[0]!.raw, '192.168.1.100/24');
  assert.equal(cidrKeyNum(c), c.key4);
});

test('fast path: the echo of an empty body and of a long expiration', () => {
  assert.equal(peerEcho(scan('[]')!).toString('latin1'), '[]');
  const text = `[${job(`{"cidr":"10.0.0.1/32","tag":null,"expiration":${NOW + 10 ** 9}}`)}]`;
  assert.deepEqual(fast(text), strict(text));
});

test('fast path: a large generated body', () => {
  const jobs: string[] = [];
  for (let i = 0; i < 5000; i += 1) {
    const cidr = i % 7 === 0 ? `2001:db8:${i.toString(16)}::/48` : `10.${(i >> 8) & 255}.${i & 255}.${i % 3}/${16 + (i % 17)}`;
    const tag = i % 5 === 0 ? '' : i % 5 === 1 ? ',"tag":null' : `,"tag":"t${i % 9}"`;
    jobs.push(`{"action":"${i % 4 === 0 ? 'remove' : 'add'}","entry":{"cidr":"${cidr}"${tag},"expiration":${i % 2 === 0 ? 0 : FUTURE + i}}}`);
  }
  const text = `[${jobs.join(',')}]`;
  const f = fast(text);
  assert.notEqual(f, undefined);
  assert.deepEqual(f, strict(text));
});

test('fast path: mutated bodies are accepted only with the strict result (key numbers included)', () => {
  // Deterministic: a few characters of well-formed bodies inserted, deleted
  // or replaced by JSON-ish ones; whatever the fast path accepts must be
  // what the strict reader decodes, down to the IPv4 key number.
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const bases = [
    `[${job('{"cidr":"10.0.0.1/32","tag":"t1","expiration":0,"metadata":null}')},${job(`{"cidr":"192.168.1.100/24","tag":null,"expiration":${FUTURE}}`, 'remove')}]`,
    `[ {"entry": {"expiration": 0, "cidr": "2001:db8::1/64", "tag": "ab"}, "action": "add"} ]`,
    `[${job('{"cidr":"1.2.3.4/9","tag":"","expiration":0}')}]`,
  ];
  const alphabet = '0123456789./:,{}[]" \\nlutraeadx-_+eE\u0000\t\r\n';
  let accepted = 0;
  for (let it = 0; it < 30000; it += 1) {
    let t = bases[it % bases.length]!;
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k -= 1) {
      const p = Math.floor(rnd() * (t.length + 1));
      const op = rnd();
      const ch = alphabet[Math.floor(rnd() * alphabet.length)]!;
      t = op < 0.33 ? t.slice(0, p) + ch + t.slice(p) : op < 0.66 ? t.slice(0, p) + t.slice(p + 1) : t.slice(0, p) + ch + t.slice(p + 1);
    }
    const r = scan(t);
    if (r === undefined) continue;
    accepted += 1;
    const s = strict(t);
    assert.deepEqual(fast(t), s, t);
    if ('jobs' in s) assert.deepEqual(r.map((j) => cidrKeyNum(j.entry.cidr)), s.jobs.map((j) => v4KeyNum(j.cidr)), t);
  }
  assert.ok(accepted > 500, `${accepted} mutated bodies accepted`);
});
