/**
 * The planner on its own (src/core/plan/): requests + state -> ops and
 * answers, without a helper, a journal or root. Each test builds a state
 * in memory, plans batches against it, and commits the plans with the
 * core's own StateCommit (what the committer does once the kernel and the
 * journal took a batch), so later batches plan against what earlier ones did.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StateCommit } from '../../src/core/commit/state-commit.js';
import { SYSTEM_ACTOR, type Req } from '../../src/core/model/requests.js';
import type { SetTarget } from '../../src/core/model/types.js';
import { PLANNED } from '../../src/core/plan/op-list.js';
import { Plan, type ReqPlan } from '../../src/core/plan/plan.js';
import { planRequest } from '../../src/core/plan/planner.js';
import type { PlannerContext } from '../../src/core/plan/scope.js';
import { ClaimTable } from '../../src/core/state/claims.js';
import { CoreEvents, type CoreEvent } from '../../src/core/state/events.js';
import { ExpiryHeap } from '../../src/core/state/expiry.js';
import { EntryTable, storeIndex } from '../../src/core/state/table.js';
import { TagRegistry } from '../../src/core/state/tags.js';
import type { Actor, Policy } from '../../src/domain/types.js';
import { AppError } from '../../src/errors.js';
import { parseCidr } from '../../src/net/cidr.js';

const NOW = 1_800_000_000;
const actor: Actor = { name: 'tester', group: 'admin' };
const KIND = { [PLANNED.ADD]: 'add', [PLANNED.UPDATE]: 'update', [PLANNED.DELETE]: 'delete' } as const;

interface Planned {
  readonly plan: Plan;
  readonly rps: ReqPlan[];
  readonly batch: Req[];
}

/** A state in memory, as EntryStore holds it. */
class World {
  readonly table = new EntryTable();
  readonly tags = new TagRegistry();
  readonly claims = new ClaimTable();
  readonly heap = new ExpiryHeap(this.table);
  readonly events = new CoreEvents();
  readonly seen: CoreEvent[] = [];
  readonly state: StateCommit;
  caps: number[] | undefined;
  readonly ctx: PlannerContext;

  constructor(caps?: number[]) {
    this.caps = caps;
    this.state = new StateCommit({ table: this.table, tags: this.tags, heap: this.heap, events: this.events, committed: () => {} });
    this.ctx = { table: this.table, tags: this.tags, claims: this.claims, capacities: () => this.caps };
    this.events.on((ev) => this.seen.push(ev));
  }

  /** Plans `batch` at `now` (on top of `base` when given), as the pipeline does. */
  plan(batch: Req[], now = NOW, base?: Plan): Planned {
    const plan = new Plan(base);
    for (let r = 0; r < batch.length; r += 1) plan.reqs.push(planRequest(this.ctx, plan, r, batch[r]!, now));
    return { plan, rps: plan.reqs, batch };
  }

  /** Commits a whole plan into the state (kernel and journal assumed to have taken it). */
  commit({ plan, batch }: Planned): void {
    this.state.apply(plan.ops, plan.ops.length, batch);
    for (const [key, st] of plan.committedClaims(plan.ops.length, batch.length)) this.claims.set(key, st);
    plan.committed = true;
  }

  /** plan() then commit(): the answers. */
  run(batch: Req[], now = NOW): ReqPlan[] {
    const planned = this.plan(batch, now);
    this.commit(planned);
    return planned.rps;
  }

  /** `policy cidr tag expiration` of every entry, sorted. */
  entries(): string[] {
    const out: string[] = [];
    for (let store = 0; store < 4; store += 1) {
      for (const [key, slot] of this.table.entries(store)) {
        out.push(`${store < 2 ? 'drop' : 'ignore'} ${key} ${this.tags.tagOf(this.table.tagId[slot]!) ?? '?'} ${this.table.expiration[slot]}`);
      }
    }
    return out.sort();
  }

  /** The claims on `key` as `owner:expiration` (managed flag first). */
  claimsOn(key: string): string | undefined {
    const st = this.claims.get(key);
    return st === undefined ? undefined : `${st.managed ? 'managed' : 'unmanaged'} ${st.claims.map((c) => `${c.owner}:${c.expiration}`).join(' ')}`;
  }
}

/** The ops of a plan as `kind store key tag expiration`. */
function ops(plan: Plan): string[] {
  const out: string[] = [];
  for (let i = 0; i < plan.ops.length; i += 1) {
    const op = plan.ops.at(i);
    out.push(`${KIND[op.kind]} ${op.store} ${op.key} ${op.tag} ${op.expiration}`);
  }
  return out;
}

const noop = (): void => {};
const base = { actor, weight: 1, deadline: Infinity, resolve: noop, reject: noop };
const create = (policy: Policy, text: string, tag = '', expiration = 0): Req =>
  ({ ...base, kind: 'create', policy, entry: { cidr: parseCidr(text), tag, expiration } });
const remove = (policy: Policy, text: string): Req => ({ ...base, kind: 'remove', policy, cidr: parseCidr(text) });
const peer = (policy: Policy, jobs: [action: 'add' | 'remove', text: string, tag?: string, expiration?: number][]): Req => ({
  ...base, kind: 'peer', policy, weight: jobs.length,
  jobs: jobs.map(([action, text, tag = '', expiration = 0]) => ({ action, entry: { cidr: parseCidr(text), tag, expiration } })),
});
const expire = (...keys: string[]): Req => ({
  ...base, kind: 'expire', actor: SYSTEM_ACTOR,
  items: keys.map((key) => ({ store: storeIndex('drop', key.includes(':') ? 6 : 4), key })),
});
const claim = (owner: string, items: [text: string, expiration: number][]): Req => ({
  ...base, kind: 'claim', owner, weight: items.length, items: items.map(([text, expiration]) => ({ cidr: parseCidr(text), expiration })),
});
const unclaim = (owner: string, text: string): Req => ({ ...base, kind: 'unclaim', owner, cidr: parseCidr(text) });
const flush = (owner: string): Req => ({ ...base, kind: 'flush', owner });
const claimSync = (...keys: string[]): Req => ({ ...base, kind: 'claims-sync', actor: SYSTEM_ACTOR, keys });
const target = (entries: [text: string, tag: string][]): Map<string, SetTarget> =>
  new Map(entries.map(([text, tag]) => [parseCidr(text).text, { cidr: parseCidr(text), tag }]));
const sets = (policy: Policy, t: Map<string, SetTarget>, removals?: [text: string, tag: string][]): Req => ({
  ...base, kind: 'sets', policy, target: t, solo: true, actor: SYSTEM_ACTOR,
  ...(removals === undefined ? {} : { removals: removals.map(([text, tag]) => ({ cidr: parseCidr(text), tag })) }),
});

function errorOf(rp: ReqPlan | undefined): { code: string; message: string; field?: string } | undefined {
  const e = rp?.error;
  if (e === undefined) return undefined;
  assert.ok(e instanceof AppError);
  const field = e.errors['cidr']?.message;
  return { code: e.code, message: e.message, ...(field === undefined ? {} : { field }) };
}

describe('planner: create and remove', () => {
  it('plans an add per create, with the batch time as creation; the overlay makes a duplicate in the same batch a conflict', () => {
    const w = new World();
    const { plan, rps } = w.plan([create('drop', '192.0.2.7/32', 'a', NOW + 60), create('ignore', '2001:db8::/32', 'b'), create('drop', '192.0.2.7/32')]);
    assert.deepEqual(ops(plan), ['add 0 192.0.2.7/32 a 1800000060', 'add 3 2001:db8::/32 b 0']);
    assert.equal(plan.ops.at(0).creation, NOW);
    assert.deepEqual(errorOf(rps[2]), { code: 'conflict', message: 'submitted entry is not valid', field: '192.0.2.7/32 already exists' });
    assert.deepEqual(plan.mapDelta.slice(), Int32Array.from([1, 0, 0, 0, 0, 0, 0, 1]).slice(), 'one entry in drop4_exact, one in ignore6_lpm');
  });

  it('a create of a committed entry is a conflict; a remove of a missing one is not found; a set entry cannot be removed', () => {
    const w = new World();
    w.run([create('drop', '198.51.100.0/24', 'x'), sets('drop', target([['203.0.113.9/32', 'lan.couic']]))]);
    const planned = w.plan([create('drop', '198.51.100.0/24'), remove('drop', '10.0.0.1/32'), remove('drop', '203.0.113.9/32'), remove('drop', '198.51.100.0/24')]);
    const { plan, rps } = planned;
    assert.equal(errorOf(rps[0])?.code, 'conflict');
    assert.deepEqual(errorOf(rps[1]), { code: 'not_found', message: 'submitted entry not found', field: 'cidr `10.0.0.1/32` not found' });
    assert.deepEqual(errorOf(rps[2]), { code: 'invalid', message: 'Entry defined in a set cannot be removed' });
    assert.equal(rps[3]!.error, undefined);
    assert.deepEqual(ops(plan), ['delete 0 198.51.100.0/24 x 0']);
    w.commit(planned);
    assert.deepEqual(w.entries(), ['drop 203.0.113.9/32 lan.couic 0']);
  });

  it('map full: the capacity counts the committed entries, this plan and the plan it stands on', () => {
    const w = new World([2, 8, 8, 8, 8, 8, 8, 8]);
    w.run([create('drop', '192.0.2.1/32')]);
    const first = w.plan([create('drop', '192.0.2.2/32')]);
    assert.equal(first.rps[0]!.error, undefined);
    // Planned ahead on top of `first` (not committed yet): the map is full.
    const ahead = w.plan([create('drop', '192.0.2.3/32'), create('drop', '192.0.2.0/24')], NOW, first.plan);
    assert.deepEqual(errorOf(ahead.rps[0]), { code: 'conflict', message: 'couic underlying ebpf map is full: max 2 entries' });
    assert.equal(ahead.rps[1]!.error, undefined, 'a /24 goes to the LPM map, which has room');
    // A removal planned first makes room in the same batch.
    const again = w.plan([remove('drop', '192.0.2.1/32'), create('drop', '192.0.2.3/32')], NOW, first.plan);
    assert.deepEqual(again.rps.map((rp) => rp.error), [undefined, undefined]);
  });

  it('looks up the plan it stands on as if committed (a create after an uncommitted create is a conflict)', () => {
    const w = new World();
    const first = w.plan([create('drop', '192.0.2.5/32', 'first')]);
    const ahead = w.plan([create('drop', '192.0.2.5/32'), remove('drop', '192.0.2.5/32')], NOW, first.plan);
    assert.equal(errorOf(ahead.rps[0])?.code, 'conflict');
    assert.deepEqual(ops(ahead.plan), ['delete 0 192.0.2.5/32 first 0']);
  });
});

describe('planner: peer bodies', () => {
  it('applies jobs in order and stops at the first failing one; a peer may remove a set entry', () => {
    const w = new World();
    w.run([sets('drop', target([['203.0.113.0/24', 'lan.couic']])), create('drop', '192.0.2.1/32')]);
    const { plan, rps } = w.plan([peer('drop', [
      ['add', '198.51.100.1/32', 'p', NOW + 5],
      ['remove', '203.0.113.0/24'],
      ['add', '198.51.100.1/32'],
      ['add', '198.51.100.2/32'],
    ])]);
    assert.deepEqual(ops(plan), ['add 0 198.51.100.1/32 p 1800000005', 'delete 0 203.0.113.0/24 lan.couic 0']);
    assert.equal(errorOf(rps[0])?.code, 'conflict', 'the third job (a duplicate of the first) stops the body');
  });

  it('a remove of an add made earlier in the same body removes it', () => {
    const w = new World();
    const planned = w.plan([peer('ignore', [['add', '2001:db8:1::/48', 't'], ['remove', '2001:db8:1::/48'], ['add', '2001:db8:1::/48', 'u']])]);
    assert.equal(planned.rps[0]!.error, undefined);
    w.commit(planned);
    assert.deepEqual(w.entries(), ['ignore 2001:db8:1::/48 u 0']);
  });
});

describe('planner: expiry', () => {
  it('removes the due entries still expired, keeps those prolonged since, and ignores those already gone', () => {
    const w = new World();
    w.run([create('drop', '192.0.2.1/32', '', NOW + 10), create('drop', '192.0.2.2/32', '', NOW + 10)]);
    // 192.0.2.2 was removed and created again with a later expiration before the expiry ran.
    w.run([remove('drop', '192.0.2.2/32'), create('drop', '192.0.2.2/32', 'again', NOW + 100)], NOW + 5);
    const planned = w.plan([expire('192.0.2.1/32', '192.0.2.2/32', '192.0.2.3/32')], NOW + 10);
    assert.deepEqual(ops(planned.plan), ['delete 0 192.0.2.1/32  0']);
    w.commit(planned);
    assert.deepEqual(w.entries(), ['drop 192.0.2.2/32 again 1800000100']);
    const expired = w.seen.filter((e) => e.type === 'expired');
    assert.deepEqual(expired.map((e) => 'actor' in e ? e.actor : undefined), [undefined], 'an expiry has no actor');
  });

  it('a due drop entry with live claims is taken over by them instead of removed', () => {
    const w = new World();
    w.run([create('drop', '192.0.2.9/32', 'api', NOW + 10), claim('sshd', [['192.0.2.9/32', NOW + 500]])]);
    assert.equal(w.claimsOn('192.0.2.9/32'), 'unmanaged sshd:1800000500', 'the API entry was there first');
    w.run([expire('192.0.2.9/32')], NOW + 10);
    assert.deepEqual(w.entries(), ['drop 192.0.2.9/32 sshd 1800000500']);
    assert.equal(w.claimsOn('192.0.2.9/32'), 'managed sshd:1800000500');
  });
});

describe('planner: claims', () => {
  it('the first claim adds a managed entry; a second owner extends it; releases lift only their own hold', () => {
    const w = new World();
    let rps = w.run([claim('sshd', [['192.0.2.1/32', NOW + 100]]), claim('nginx', [['192.0.2.1/32', 0], ['192.0.2.2/32', NOW + 50]])]);
    assert.deepEqual(rps.map((rp) => rp.n), [1, 2]);
    assert.deepEqual(w.entries(), ['drop 192.0.2.1/32 sshd 0', 'drop 192.0.2.2/32 nginx 1800000050'], 'tag = oldest owner; any permanent claim makes it permanent');
    rps = w.run([unclaim('nginx', '192.0.2.1/32')]);
    assert.deepEqual(w.entries(), ['drop 192.0.2.1/32 sshd 1800000100', 'drop 192.0.2.2/32 nginx 1800000050']);
    rps = w.run([flush('sshd')]);
    assert.equal(rps[0]!.n, 1);
    assert.deepEqual(w.entries(), ['drop 192.0.2.2/32 nginx 1800000050']);
    assert.equal(w.claimsOn('192.0.2.1/32'), undefined);
  });

  it('an unclaim by an owner holding nothing is a no-op; a repeated claim plans nothing', () => {
    const w = new World();
    w.run([claim('sshd', [['192.0.2.1/32', NOW + 100]])]);
    const { plan, rps } = w.plan([unclaim('nginx', '192.0.2.1/32'), claim('sshd', [['192.0.2.1/32', NOW + 100]])]);
    assert.equal(plan.ops.length, 0);
    assert.equal(plan.claimChanges.length, 0);
    assert.equal(rps[1]!.n, 1, 'the repeated ban still counts as applied');
  });

  it('a claim on an API entry records the claim and leaves the entry alone; an operator delete takes the claims with it', () => {
    const w = new World();
    w.run([create('drop', '192.0.2.1/32', 'manual')]);
    const planned = w.plan([claim('sshd', [['192.0.2.1/32', NOW + 100]])]);
    assert.deepEqual(ops(planned.plan), []);
    w.commit(planned);
    assert.equal(w.claimsOn('192.0.2.1/32'), 'unmanaged sshd:1800000100');
    w.run([remove('drop', '192.0.2.1/32')]);
    assert.deepEqual(w.entries(), []);
    assert.equal(w.claimsOn('192.0.2.1/32'), undefined);
  });

  it('claims-sync drops expired claims and brings the entry in line; the last one expiring removes the entry', () => {
    const w = new World();
    w.run([claim('a', [['2001:db8::1/128', NOW + 10]]), claim('b', [['2001:db8::1/128', NOW + 20]])]);
    assert.deepEqual(w.entries(), ['drop 2001:db8::1/128 a 1800000020']);
    w.run([claimSync('2001:db8::1/128')], NOW + 10);
    assert.deepEqual(w.entries(), ['drop 2001:db8::1/128 b 1800000020'], 'a expired: b is the oldest owner now');
    const planned = w.plan([claimSync('2001:db8::1/128')], NOW + 20);
    assert.deepEqual(ops(planned.plan), ['delete 1 2001:db8::1/128 b 0']);
    w.commit(planned);
    assert.deepEqual(w.entries(), []);
    assert.equal(w.seen.at(-1)?.type, 'expired', 'a claims-sync removal is an expiry');
  });

  it('map full: a claim array stops at the item that does not fit; claims-sync keeps the keys it could not plan for a retry', () => {
    const w = new World([1, 8, 8, 8, 8, 8, 8, 8]);
    const rps = w.run([claim('sshd', [['192.0.2.1/32', 0], ['192.0.2.2/32', 0], ['192.0.2.3/32', 0]])]);
    assert.equal(rps[0]!.n, 1);
    assert.match(rps[0]!.error?.message ?? '', /map is full: max 1 entries/);
    assert.deepEqual(w.entries(), ['drop 192.0.2.1/32 sshd 0']);

    // Claims replayed without their entry (what the startup sync repairs), the map full meanwhile: kept for a retry.
    const v = new World([1, 8, 8, 8, 8, 8, 8, 8]);
    v.claims.load('192.0.2.7/32', { managed: true, claims: [{ owner: 'sshd', creation: NOW, expiration: NOW + 50 }] });
    v.run([create('drop', '192.0.2.9/32')]);
    const sync = v.run([claimSync('192.0.2.7/32')]);
    assert.deepEqual(sync[0]!.retry, ['192.0.2.7/32']);
    assert.equal(v.claimsOn('192.0.2.7/32'), 'managed sshd:1800000050', 'the claims are kept');
  });
});

describe('planner: set reloads', () => {
  it('full reload: adds, retags, takes API and claimed entries over, removes set entries gone from the target', () => {
    const w = new World();
    w.run([
      sets('drop', target([['10.0.0.0/8', 'a.couic'], ['10.1.0.0/16', 'a.couic'], ['10.2.0.0/16', 'a.couic']])),
      create('drop', '192.0.2.1/32', 'manual', NOW + 100),
      claim('sshd', [['192.0.2.2/32', NOW + 100]]),
    ]);
    const events = w.seen.length;
    const planned = w.plan([sets('drop', target([['10.0.0.0/8', 'a.couic'], ['10.1.0.0/16', 'b.couic'], ['192.0.2.1/32', 'b.couic'], ['192.0.2.2/32', 'b.couic'], ['2001:db8::/32', 'b.couic']]))], NOW + 1);
    assert.deepEqual(planned.rps[0]!.counts, { created: 3, updated: 1, removed: 1 });
    assert.equal(planned.plan.overlaySize(0), 0, "the target's ops stay out of the overlay");
    w.commit(planned);
    assert.deepEqual(w.entries(), [
      'drop 10.0.0.0/8 a.couic 0', 'drop 10.1.0.0/16 b.couic 0', 'drop 192.0.2.1/32 b.couic 0', 'drop 192.0.2.2/32 b.couic 0', 'drop 2001:db8::/32 b.couic 0',
    ]);
    assert.equal(w.claimsOn('192.0.2.2/32'), 'unmanaged sshd:1800000100', 'the claims stay, no longer managing the entry');
    assert.equal(w.table.creation[w.table.slotOf(0, '10.1.0.0/16')!], NOW + 1, 'a retagged set entry is a new entry');
    assert.equal(w.seen.length, events, 'a set reload streams no entry event');
  });

  it('when a set entry with live claims goes, the claims take it over; without claims it is removed', () => {
    const w = new World();
    w.run([sets('drop', target([['192.0.2.1/32', 'a.couic'], ['192.0.2.2/32', 'a.couic']])), claim('sshd', [['192.0.2.1/32', NOW + 100]])]);
    w.run([sets('drop', target([]))], NOW + 1);
    assert.deepEqual(w.entries(), ['drop 192.0.2.1/32 sshd 1800000100']);
    assert.equal(w.claimsOn('192.0.2.1/32'), 'managed sshd:1800000100');
  });

  it('delta reload: only the listed removals are considered, and only while they still are set entries', () => {
    const w = new World();
    w.run([sets('drop', target([['192.0.2.1/32', 'a.couic'], ['192.0.2.2/32', 'a.couic'], ['192.0.2.3/32', 'a.couic']]))]);
    w.run([peer('drop', [['remove', '192.0.2.3/32'], ['add', '192.0.2.3/32', 'peer']])]);
    const rps = w.run([sets('drop', target([['192.0.2.4/32', 'a.couic']]), [['192.0.2.1/32', 'a.couic'], ['192.0.2.3/32', 'a.couic'], ['192.0.2.4/32', 'a.couic']])]);
    assert.deepEqual(rps[0]!.counts, { created: 1, updated: 0, removed: 1 });
    assert.deepEqual(w.entries(), ['drop 192.0.2.2/32 a.couic 0', 'drop 192.0.2.3/32 peer 0', 'drop 192.0.2.4/32 a.couic 0']);
  });

  it('map full: the reload stops at the entry that does not fit and plans no removal', () => {
    const w = new World([8, 8, 2, 8, 8, 8, 8, 8]);
    w.run([sets('drop', target([['10.0.0.0/8', 'a.couic']]))]);
    const { plan, rps } = w.plan([sets('drop', target([['10.1.0.0/16', 'a.couic'], ['10.2.0.0/16', 'a.couic'], ['10.3.0.0/16', 'a.couic']]))]);
    assert.match(rps[0]!.error?.message ?? '', /max 2 entries/);
    assert.deepEqual(ops(plan), ['add 0 10.1.0.0/16 a.couic 0'], 'no removal of 10.0.0.0/8 after the failure');
  });
});

type FleetOp = ['hold', policy: Policy, text: string, tag: string, creation: number, expiration: number]
  | ['release', policy: Policy, text: string]
  | ['revoke', policy: Policy, text: string, before: number];
const fleet = (node: string, items: FleetOp[]): Req => ({
  ...base, kind: 'fleet', node, actor: { name: 'fleet', group: 'admin' }, weight: items.length,
  items: items.map((it) => (it[0] === 'hold'
    ? { op: 'hold', policy: it[1], cidr: parseCidr(it[2]), tag: it[3], creation: it[4], expiration: it[5] }
    : it[0] === 'release' ? { op: 'release', policy: it[1], cidr: parseCidr(it[2]) }
    : { op: 'revoke', policy: it[1], cidr: parseCidr(it[2]), before: it[3] })),
});

describe('planner: fleet holds (claims of owner @node with their own tag)', () => {
  it('a hold creates the entry with the node\'s tag and expiration; another node\'s hold keeps it; each release lifts only its own', () => {
    const w = new World();
    const rps = w.run([fleet('a', [['hold', 'drop', '192.0.2.7/32', 'fail2ban-sshd', NOW - 10, NOW + 600]])]);
    assert.equal(rps[0]!.n, 1);
    assert.deepEqual(w.entries(), [`drop 192.0.2.7/32 fail2ban-sshd ${NOW + 600}`]);
    assert.equal(w.claimsOn('192.0.2.7/32'), `managed @a:${NOW + 600}`);
    assert.equal(w.claims.get('192.0.2.7/32')!.claims[0]!.creation, NOW - 10, "the node's creation is kept");
    w.run([fleet('b', [['hold', 'drop', '192.0.2.7/32', 'fail2ban-recidive', NOW, 0]])]);
    assert.deepEqual(w.entries(), ['drop 192.0.2.7/32 fail2ban-sshd 0'], 'tag of the oldest claim, permanent as one claim is');
    w.run([fleet('a', [['release', 'drop', '192.0.2.7/32']])]);
    assert.deepEqual(w.entries(), ['drop 192.0.2.7/32 fail2ban-recidive 0'], "b's hold stays, with its tag");
    w.run([fleet('b', [['release', 'drop', '192.0.2.7/32']])]);
    assert.deepEqual(w.entries(), []);
    assert.equal(w.claimsOn('192.0.2.7/32'), undefined);
    const ev = w.seen.filter((e) => e.type !== 'sets_reloaded').map((e) => `${e.type} ${'node' in e ? e.node : ''} ${'origin' in e ? e.origin : ''}`);
    assert.deepEqual(ev, ['added a fleet', 'updated b fleet', 'updated a fleet', 'removed b fleet']);
  });

  it("a node's release never lifts this host's own ban; a hold already expired is a release; the same hold again changes nothing", () => {
    const w = new World();
    w.run([claim('fail2ban-sshd', [['198.51.100.1/32', 0]]), fleet('a', [['hold', 'drop', '198.51.100.1/32', 'x', NOW, 0]])]);
    assert.equal(w.claimsOn('198.51.100.1/32'), 'managed fail2ban-sshd:0 @a:0');
    w.run([fleet('a', [['release', 'drop', '198.51.100.1/32']])]);
    assert.deepEqual(w.entries(), ['drop 198.51.100.1/32 fail2ban-sshd 0']);
    w.run([fleet('a', [['hold', 'drop', '198.51.100.1/32', 'x', NOW - 100, NOW]])]);
    assert.equal(w.claimsOn('198.51.100.1/32'), 'managed fail2ban-sshd:0', 'expired at planning: no claim');
    w.run([fleet('a', [['hold', 'drop', '198.51.100.1/32', 'x', NOW, 0]])]);
    const again = w.plan([fleet('a', [['hold', 'drop', '198.51.100.1/32', 'x', NOW, 0]])]);
    assert.equal(again.plan.ops.length, 0);
    assert.equal(again.plan.claimChanges.length, 0, 'idempotent: a replayed hold is no change');
    assert.equal(again.rps[0]!.n, 1);
  });

  it('a hold on an API entry of this host is recorded and leaves it alone; it takes the entry over when it expires', () => {
    const w = new World();
    w.run([create('drop', '203.0.113.0/24', 'ops', NOW + 5)]);
    w.run([fleet('a', [['hold', 'drop', '203.0.113.0/24', 'remote', NOW, NOW + 100]])]);
    assert.deepEqual(w.entries(), [`drop 203.0.113.0/24 ops ${NOW + 5}`]);
    assert.equal(w.claimsOn('203.0.113.0/24'), `unmanaged @a:${NOW + 100}`);
    w.run([expire('203.0.113.0/24')], NOW + 5);
    assert.deepEqual(w.entries(), [`drop 203.0.113.0/24 remote ${NOW + 100}`]);
  });

  it('ignore holds are claims of the ignore store, apart from drop claims on the same CIDR', () => {
    const w = new World();
    w.run([fleet('a', [['hold', 'ignore', '10.0.0.0/8', 'office', NOW, 0], ['hold', 'drop', '10.0.0.0/8', 'scan', NOW, 0]])]);
    assert.deepEqual(w.entries(), ['drop 10.0.0.0/8 scan 0', 'ignore 10.0.0.0/8 office 0']);
    assert.equal(w.claimsOn('^10.0.0.0/8'), 'managed @a:0');
    assert.equal(w.claimsOn('10.0.0.0/8'), 'managed @a:0');
    // An operator's delete of the ignore entry takes its claims, not the drop's.
    w.run([remove('ignore', '10.0.0.0/8')]);
    assert.deepEqual(w.entries(), ['drop 10.0.0.0/8 scan 0']);
    assert.equal(w.claimsOn('^10.0.0.0/8'), undefined);
    w.run([fleet('a', [['release', 'ignore', '10.0.0.0/8']])]);
    assert.deepEqual(w.entries(), ['drop 10.0.0.0/8 scan 0']);
  });

  it('a revocation takes every fleet hold and this host\'s own holds and entry from before it; newer own holds and set entries stay', () => {
    const w = new World();
    w.run([
      fleet('a', [['hold', 'drop', '192.0.2.1/32', 'x', NOW + 50, 0]]),
      claim('fail2ban-sshd', [['192.0.2.1/32', 0]]),
      create('drop', '192.0.2.2/32', 'api'),
      fleet('a', [['hold', 'drop', '192.0.2.2/32', 'x', NOW, 0]]),
      sets('drop', target([['192.0.2.3/32', 'lan.couic']])),
    ]);
    w.run([fleet('a', [['hold', 'drop', '192.0.2.3/32', 'x', NOW, 0]]), claim('fail2ban-sshd', [['192.0.2.4/32', 0]])]);
    // Revoked at NOW - 1: this host's own claims and entry (created NOW) are newer and stay; fleet claims go whatever their time.
    const rps = w.run([fleet('b', [['revoke', 'drop', '192.0.2.1/32', NOW - 1], ['revoke', 'drop', '192.0.2.2/32', NOW - 1], ['revoke', 'drop', '192.0.2.3/32', NOW - 1]])], NOW + 1);
    assert.equal(rps[0]!.n, 3);
    assert.deepEqual(w.entries(), ['drop 192.0.2.1/32 fail2ban-sshd 0', 'drop 192.0.2.2/32 api 0', 'drop 192.0.2.3/32 lan.couic 0', 'drop 192.0.2.4/32 fail2ban-sshd 0']);
    assert.equal(w.claimsOn('192.0.2.1/32'), 'managed fail2ban-sshd:0');
    assert.equal(w.claimsOn('192.0.2.2/32'), undefined);
    assert.equal(w.claimsOn('192.0.2.3/32'), undefined);
    // Revoked at NOW: now they go too (the set entry stays).
    w.run([fleet('b', [['revoke', 'drop', '192.0.2.1/32', NOW], ['revoke', 'drop', '192.0.2.2/32', NOW], ['revoke', 'drop', '192.0.2.3/32', NOW], ['revoke', 'drop', '192.0.2.4/32', NOW]])], NOW + 1);
    assert.deepEqual(w.entries(), ['drop 192.0.2.3/32 lan.couic 0']);
    assert.equal(w.claims.size, 0);
    // A hold published after the revocation stands.
    w.run([fleet('a', [['hold', 'drop', '192.0.2.1/32', 'x', NOW, 0]])], NOW + 1);
    assert.deepEqual(w.entries(), ['drop 192.0.2.1/32 x 0', 'drop 192.0.2.3/32 lan.couic 0']);
  });

  it('a revocation of an entry held by this host and newer fleet-claimed: the entry is remade from what stays', () => {
    const w = new World();
    w.run([create('drop', '192.0.2.9/32', 'api')]);
    w.run([claim('fail2ban-sshd', [['192.0.2.9/32', NOW + 900]])], NOW + 10);
    w.run([fleet('b', [['revoke', 'drop', '192.0.2.9/32', NOW + 5]])], NOW + 20);
    assert.deepEqual(w.entries(), [`drop 192.0.2.9/32 fail2ban-sshd ${NOW + 900}`], 'the API entry (from before) went, the newer claim made it again');
    assert.equal(w.claimsOn('192.0.2.9/32'), `managed fail2ban-sshd:${NOW + 900}`);
  });
});
