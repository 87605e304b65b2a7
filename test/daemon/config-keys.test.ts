/**
 * CONFIG_KEYS is the one definition of couic.toml's keys: the parser reads
 * every key of the table (a wrong type for each is refused, naming it), its
 * defaults are the table's, and a key missing from the table cannot be read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIG_KEYS, keyDef, type KeyDef } from '../../src/daemon/config-keys.js';
import { ConfigError, configFromToml } from '../../src/daemon/config.js';

/** A document holding `value` at the dotted `key` (inside one table where a parent is an array of tables). */
function docWith(key: string, value: unknown): Record<string, unknown> {
  const parts = key.split('.');
  const doc: Record<string, unknown> = {};
  let t = doc;
  for (let i = 0; i < parts.length - 1; i += 1) {
    const inner: Record<string, unknown> = {};
    const parent = CONFIG_KEYS.find((d) => d.key === parts.slice(0, i + 1).join('.'));
    t[parts[i]!] = parent?.kind === 'tables' ? [inner] : inner;
    t = inner;
  }
  t[parts[parts.length - 1]!] = value;
  return doc;
}

/** A value of the wrong type for `d`. */
function wrong(d: KeyDef): unknown {
  return d.kind === 'bool' ? 'yes' : d.kind === 'string' || d.kind === 'enum' ? 42 : d.kind === 'table' ? 3 : true;
}

describe('CONFIG_KEYS (couic.toml keys)', () => {
  it('names each key once, with a description', () => {
    const names = CONFIG_KEYS.map((d) => d.key);
    assert.equal(new Set(names).size, names.length);
    for (const d of CONFIG_KEYS) assert.ok(d.doc.length > 10, d.key);
    // Couic 1.0.2's keys (spec §8.1) are all there.
    for (const k of [
      'ifaces', 'operation_mode', 'working_dir', 'user', 'group', 'logging.dir', 'logging.rotation', 'logging.max_log_files', 'logging.format', 'server.socket',
      'reporting', 'reporting.enabled', 'reporting.webhook', 'peering', 'peering.enabled', 'peering.peers',
      'peering.peers.host', 'peering.peers.port', 'peering.peers.tls', 'peering.peers.token',
    ]) {
      assert.ok(names.includes(k), k);
    }
  });

  it('the parser reads every key it does not document as unread', () => {
    for (const d of CONFIG_KEYS) {
      if (d.kind === 'other') continue;
      const doc = docWith(d.key, wrong(d));
      assert.throws(
        () => configFromToml(doc, 'test.toml', {}),
        (err: unknown) => err instanceof ConfigError && err.message.includes(`\`${d.key}\``),
        `${d.key}: a wrong type is not refused`,
      );
    }
  });

  it('the parsed defaults are the table defaults', () => {
    const c = configFromToml({}, undefined, {});
    const dflt = (key: string): unknown => {
      for (const kind of ['int', 'bool', 'strings', 'string', 'enum'] as const) {
        try {
          return keyDef(key, kind).default;
        } catch {
          /* another kind */
        }
      }
      throw new Error(key);
    };
    assert.deepEqual(c.ifaces, dflt('ifaces'));
    assert.equal(c.operationMode, dflt('operation_mode'));
    assert.equal(c.workingDir, dflt('working_dir'));
    assert.equal(c.server.socket, dflt('server.socket'));
    assert.equal(c.logging.level, dflt('logging.level'));
    assert.equal(c.dataplane.pinDir, dflt('dataplane.pin_dir'));
    assert.equal(c.dataplane.dropExact, dflt('dataplane.drop_exact'));
    assert.equal(c.dataplane.dropCidr, dflt('dataplane.drop_cidr'));
    assert.equal(c.dataplane.ignoreExact, dflt('dataplane.ignore_exact'));
    assert.equal(c.dataplane.ignoreCidr, dflt('dataplane.ignore_cidr'));
    assert.equal(c.dataplane.maxTags, dflt('dataplane.max_tags'));
    assert.equal(c.dataplane.lpmOnly, dflt('dataplane.lpm_only'));
    assert.equal(c.dataplane.batching, dflt('dataplane.batching'));
    assert.equal(c.journal.fsync, dflt('journal.fsync'));
    assert.equal(c.journal.compactAfter, dflt('journal.compact_after'));
    assert.equal(c.queue.maxPending, dflt('queue.max_pending'));
    assert.equal(c.queue.helperWaitMs, dflt('queue.helper_wait_ms'));
    assert.equal(c.peering.enabled, dflt('peering.enabled'));
    assert.deepEqual(c.peering.peers, []);
    assert.equal(c.peering.maxBacklog, dflt('peering.max_backlog'));
    assert.equal(c.peering.maxBacklogBytes, dflt('peering.max_backlog_bytes'));
    assert.equal(c.reporting.enabled, dflt('reporting.enabled'));
    assert.equal(c.reporting.webhook, dflt('reporting.webhook'));
    assert.equal(c.reporting.maxBuffer, dflt('reporting.max_buffer'));
  });

  it('a key missing from the table cannot be read', () => {
    assert.throws(() => keyDef('dataplane.turbo', 'bool'), /not in CONFIG_KEYS/);
    assert.throws(() => keyDef('ifaces', 'int'), /not in CONFIG_KEYS/);
  });
});
