/**
 * The architecture as a rule on imports (docs/architecture.md): every
 * module of src/ belongs to a layer, and imports only modules of its own
 * folder or of a lower layer; and no import cycle exists anywhere in src/,
 * type-only imports included. Read from the sources, so a new folder must
 * be given its place here before anything can import it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SRC = path.join(ROOT, 'src');

/** Folder (relative to src/, '' = src itself) -> layer; lower layers never import higher ones. */
const LAYERS: Readonly<Record<string, number>> = {
  '': 0, // errors.ts, log.ts
  domain: 1,
  net: 2,
  xdp: 3,
  'core/journal': 4,
  'core/queue': 4,
  'core/model': 5,
  'core/state': 6,
  'core/plan': 7,
  'core/kernel': 8,
  'core/commit': 9,
  core: 10,
  api: 11,
  cli: 11,
  'cli/commands': 12,
  'api/handlers': 12,
  fleet: 13,
  outbound: 13,
  peering: 14,
  reporting: 14,
  daemon: 20,
  man: 21, // the manual pages, from the CLI's and the daemon's definitions
};

/** Imports a layer may make of a higher one: none, except what is listed here with its reason. */
const ALLOWED_UPWARD: readonly [from: string, to: string, why: string][] = [
  // The API server and the couicctl parser mount their handlers and commands,
  // which are built on the router/replies and the formatters of their parent folder.
  ['api', 'api/handlers', 'the server mounts the handlers'],
  ['cli', 'cli/commands', 'the parser (and its fast path) mounts the commands'],
];

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?'(\.[^']+)'|import\('(\.[^']+)'\)/g;

interface Module {
  readonly file: string;
  readonly folder: string;
  readonly imports: string[];
}

function modules(): Map<string, Module> {
  const out = new Map<string, Module>();
  for (const file of walk(SRC)) {
    const rel = path.relative(SRC, file);
    const text = readFileSync(file, 'utf8');
    const imports: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      imports.push(path.relative(SRC, path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'))));
    }
    out.set(rel, { file: rel, folder: path.dirname(rel) === '.' ? '' : path.dirname(rel), imports });
  }
  return out;
}

/** Strongly connected components of more than one module, or a module importing itself (Tarjan). */
function cycles(mods: Map<string, Module>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    on.add(v);
    for (const w of mods.get(v)?.imports ?? []) {
      if (!mods.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || mods.get(v)!.imports.includes(v)) out.push(comp.sort());
    }
  };
  for (const v of mods.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('architecture: layers and cycles of src/', () => {
  const mods = modules();

  it('reads the whole tree (the parser finds the imports)', () => {
    assert.ok(mods.size > 80, `only ${mods.size} modules under src/`);
    assert.ok(mods.get('core/entries.ts')!.imports.includes('core/commit/pipeline.ts'), 'EntryStore imports its pipeline');
  });

  it('every folder of src/ has a layer', () => {
    const missing = [...new Set([...mods.values()].map((m) => m.folder))].filter((f) => !(f in LAYERS));
    assert.deepEqual(missing, [], 'folders without a layer: add them to LAYERS (and to docs/architecture.md)');
  });

  it('every import resolves to a module of src/', () => {
    const broken = [...mods.values()].flatMap((m) => m.imports.filter((i) => !mods.has(i)).map((i) => `${m.file} -> ${i}`));
    assert.deepEqual(broken, []);
  });

  it('no module imports a higher layer (or a sibling folder of the same layer)', () => {
    const bad: string[] = [];
    for (const m of mods.values()) {
      for (const i of m.imports) {
        const to = mods.get(i);
        if (to === undefined || to.folder === m.folder) continue;
        if (ALLOWED_UPWARD.some(([f, t]) => f === m.folder && t === to.folder)) continue;
        if (LAYERS[to.folder]! >= LAYERS[m.folder]!) bad.push(`${m.file} (${m.folder || 'src'}: ${LAYERS[m.folder]}) -> ${i} (${LAYERS[to.folder]})`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('couicctl imports neither the daemon, the core nor the API', () => {
    const bad = [...mods.values()]
      .filter((m) => m.folder.startsWith('cli'))
      .flatMap((m) => m.imports.filter((i) => /^(core|api|daemon|xdp)\//.test(i)).map((i) => `${m.file} -> ${i}`));
    assert.deepEqual(bad, []);
  });

  it('no import cycle, type-only imports included', () => {
    assert.deepEqual(cycles(mods), []);
  });

  it('the cycle finder finds a cycle when there is one', () => {
    const fake = new Map<string, Module>([
      ['a.ts', { file: 'a.ts', folder: '', imports: ['b.ts'] }],
      ['b.ts', { file: 'b.ts', folder: '', imports: ['c.ts'] }],
      ['c.ts', { file: 'c.ts', folder: '', imports: ['a.ts'] }],
      ['d.ts', { file: 'd.ts', folder: '', imports: ['a.ts'] }],
    ]);
    assert.deepEqual(cycles(fake), [['a.ts', 'b.ts', 'c.ts']]);
  });
});
