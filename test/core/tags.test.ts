import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TagRegistry } from '../../src/core/state/tags.js';

describe('TagRegistry', () => {
  it('allocates ids from 1 and shares one id per tag string', () => {
    const t = new TagRegistry();
    assert.equal(t.acquire(''), 1);
    assert.equal(t.acquire('fail2ban-sshd'), 2);
    assert.equal(t.acquire(''), 1);
    assert.equal(t.refCount(1), 2);
    assert.equal(t.tagOf(2), 'fail2ban-sshd');
    assert.equal(t.idOf('fail2ban-sshd'), 2);
    assert.equal(t.size, 2);
    assert.deepEqual(t.takeResets(), [], 'fresh ids need no reset');
  });

  it('frees an id with its last reference only', () => {
    const t = new TagRegistry();
    const a = t.acquire('a');
    t.acquire('a');
    assert.equal(t.release(a), false);
    assert.equal(t.tagOf(a), 'a');
    assert.equal(t.release(a), true);
    assert.equal(t.tagOf(a), undefined);
    assert.equal(t.idOf('a'), undefined);
    assert.throws(() => t.release(a), /released more often/);
  });

  it('reuses freed ids lowest first and asks for their counters to be reset', () => {
    const t = new TagRegistry();
    const ids = ['a', 'b', 'c', 'd', 'e'].map((x) => t.acquire(x));
    assert.deepEqual(ids, [1, 2, 3, 4, 5]);
    t.release(4);
    t.release(2);
    t.release(3);
    assert.equal(t.acquire('x'), 2);
    assert.equal(t.acquire('y'), 3);
    assert.equal(t.acquire('z'), 4);
    assert.equal(t.acquire('w'), 6, 'then fresh ids');
    assert.deepEqual(t.takeResets(), [2, 3, 4]);
    assert.deepEqual(t.takeResets(), []);
    // A re-created tag gets a (possibly different) id and a reset.
    t.release(t.idOf('x')!);
    assert.equal(t.acquire('a'), 1, 'existing tag keeps its id');
    assert.equal(t.acquire('x'), 2);
    assert.deepEqual(t.takeResets(), [2]);
  });

  it('keeps ids unique past any max_tags (no failure, overflow is the data plane’s business)', () => {
    const t = new TagRegistry();
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i += 1) seen.add(t.acquire(`tag${i}`));
    assert.equal(seen.size, 5000);
    assert.equal(Math.max(...seen), 5000);
    assert.equal(t.idLimit, 5001);
  });
});
