import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJson, JsonDataError, JsonSyntaxError, MAX_DEPTH, parseJson, str, struct, u64, u64Exact, nullable, seqOf, toPlain } from '../../src/api/json.js';

test('syntax errors carry serde_json texts and positions', () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['', 'EOF while parsing a value at line 1 column 0'],
    ['   ', 'EOF while parsing a value at line 1 column 3'],
    ['{', 'EOF while parsing an object at line 1 column 1'],
    ['[', 'EOF while parsing a list at line 1 column 1'],
    ['[1,]', 'trailing comma at line 1 column 4'],
    ['{"a":1,}', 'trailing comma at line 1 column 8'],
    ["{'a':1}", 'key must be a string at line 1 column 2'],
    ['{"a" 1}', 'expected `:` at line 1 column 6'],
    ['{"a":1 "b":2}', 'expected `,` or `}` at line 1 column 8'],
    ['[1 2]', 'expected `,` or `]` at line 1 column 4'],
    ['{"a":1} x', 'trailing characters at line 1 column 9'],
    ['tru', 'EOF while parsing a value at line 1 column 3'],
    ['trux', 'expected ident at line 1 column 4'],
    ['01', 'invalid number at line 1 column 2'],
    ['"abc', 'EOF while parsing a string at line 1 column 4'],
    ['"\\q"', 'invalid escape at line 1 column 3'],
    ['"a\nb"', 'control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0'],
    ['{\n  "a": 1,\n}', 'trailing comma at line 3 column 1'],
    ['x', 'expected value at line 1 column 1'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseJson(text), (e: Error) => e instanceof JsonSyntaxError && e.message === message, JSON.stringify(text));
  }
});

test('values round-trip', () => {
  const text = '{"a":[1,-2,3.5e2,true,false,null,"x\\u00e9\\ud83d\\ude00\\n"],"b":{}}';
  assert.deepEqual(toPlain(parseJson(text)), JSON.parse(text));
});

test('data errors: paths and serde texts', () => {
  const d = seqOf(struct('S', [{ name: 'a', decode: str }, { name: 'n', decode: u64 }, { name: 'o', decode: nullable(str), optional: true }]));
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['{}', 'invalid type: map, expected a sequence at line 1 column 0'],
    ['[{"a":"x"}]', '[0]: missing field `n` at line 1 column 10'],
    ['[{"a":"x","n":1},{"a":1,"n":1}]', '[1].a: invalid type: integer `1`, expected a string at line 1 column 23'],
    ['[{"a":"x","n":-5}]', '[0].n: invalid value: integer `-5`, expected u64 at line 1 column 16'],
    ['[{"a":"x","n":1e2}]', '[0].n: invalid type: floating point `100.0`, expected u64 at line 1 column 17'],
    ['[{"a":"x","n":true}]', '[0].n: invalid type: boolean `true`, expected u64 at line 1 column 18'],
    ['[{"a":"x","a":"y","n":1}]', '[0]: duplicate field `a` at line 1 column 13'],
    ['[["x"]]', '[0]: invalid length 1, expected struct S with 3 elements at line 1 column 6'],
    ['[{"a":"x","n":1,"o":[]}]', '[0].o: invalid type: sequence, expected a string at line 1 column 20'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => decodeJson(text, d), (e: Error) => e instanceof JsonDataError && e.message === message, text);
  }
  assert.deepEqual(decodeJson('[{"a":"x","n":9007199254740991,"zz":1}]', d), [{ a: 'x', n: 9007199254740991, o: null }]);
  // Above 2^53-1 a JS number would round it: refused, never changed.
  for (const big of ['9007199254740992', '18446744073709551615']) {
    assert.throws(() => decodeJson(`[{"a":"x","n":${big}}]`, d), (e: Error) => e instanceof JsonDataError && /^\[0\]\.n: invalid value: integer above 2\^53-1/.test(e.message), big);
    assert.equal(decodeJson(big, u64Exact), BigInt(big));
  }
});

test('nesting: 127 levels parse, the 128th is serde_json\'s recursion limit (a syntax error), never a stack overflow', () => {
  const nest = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  assert.equal(parseJson(nest(MAX_DEPTH)).t, 'arr');
  assert.throws(() => parseJson(nest(MAX_DEPTH + 1)), (e: Error) => e instanceof JsonSyntaxError && e.message === `recursion limit exceeded at line 1 column ${MAX_DEPTH + 1}`);
  assert.throws(() => parseJson(`{"a":${'{"b":'.repeat(1_000_000)}`), (e: Error) => e instanceof JsonSyntaxError && /^recursion limit exceeded/.test(e.message));
  // Depth is per path, not cumulative: many siblings at depth 127 are fine.
  assert.equal(parseJson(`[${Array(10).fill(nest(MAX_DEPTH - 1)).join(',')}]`).t, 'arr');
});
