/**
 * Data flows one way through the rooms (README "Where things live"): grammar → plan →
 * build/schedule → cache ⇄ steps → layer → store → archive/runtime, with host/, errors/ and
 * units/ under all of them. This test reads every source file's imports (static, dynamic, type
 * and re-exports, and what a late loader of engine/lateLoading.ts loads) and fails on an import
 * a room is not allowed: one against the flow. The table below is the whole allowed set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { repoRoot } from '../support/env.js';

/** The bottom rooms: what the host is and lets kiln do, the one-line errors, docker's units. */
const UNDER_ALL = ['engine/host', 'engine/errors', 'engine/units'];

/** For each room, the rooms its files may import (besides their own room and engine/lateLoading.ts, the one loader). */
const ALLOWED: Record<string, readonly string[]> = {
  // The Dockerfile grammar knows nothing of the engine, the cache or the addon.
  grammar: [],
  native: [],
  'engine/units': [],
  'engine/errors': ['engine/units'],
  // The addon is one of the host's abilities (directoryListing.ts: a directory and its lstat in one call).
  'engine/host': ['engine/errors', 'native'],
  // The image's own types (reference, config, platform, media types): below the store.
  'engine/image': ['engine/errors', 'engine/host'],
  // The store knows no layer or runtime.
  'engine/store': [...UNDER_ALL, 'engine/image', 'native'],
  'engine/layer': [...UNDER_ALL, 'engine/image', 'engine/store', 'native'],
  // The archive reads layers in their own format (tar, compression), as docker load does.
  'engine/archive': [...UNDER_ALL, 'engine/image', 'engine/store', 'engine/layer'],
  // The runtime knows no store: it runs what it is handed.
  'engine/runtime': [...UNDER_ALL, 'native'],
  'engine/registry': [...UNDER_ALL, 'engine/image', 'engine/store', 'cache'],
  'engine/context': [...UNDER_ALL],
  // The cache: the store's public face, and the grammar's types (upstream: what a step is).
  cache: [...UNDER_ALL, 'engine/store', 'grammar'],
  'engine/progress': [...UNDER_ALL],
  'engine/steps': [...UNDER_ALL, 'grammar', 'engine/plan', 'engine/context', 'engine/image', 'engine/layer', 'engine/store', 'engine/runtime', 'engine/registry', 'native'],
  'engine/plan': [...UNDER_ALL, 'grammar', 'engine/image', 'engine/context', 'engine/progress', 'engine/store', 'cache'],
  'engine/schedule': [...UNDER_ALL, 'grammar', 'engine/plan', 'engine/context', 'engine/image', 'engine/progress', 'engine/steps', 'engine/store', 'cache'],
  // The build, orchestrated (engine/build.ts and its parts).
  'engine/build': [...UNDER_ALL, 'grammar', 'engine/plan', 'engine/schedule', 'engine/steps', 'engine/context', 'engine/image', 'engine/layer', 'engine/progress', 'engine/runtime', 'engine/store', 'cache'],
  // The build report watches a build from above.
  'engine/report': [...UNDER_ALL, 'grammar', 'engine/build', 'engine/plan', 'engine/progress', 'engine/store', 'engine/image', 'engine/layer'],
  // The CLI is the edge: it may use every room.
  'engine/cli': ['*'],
};

/**
 * Arrows against the flow that are known and not yet removed, each with why it stands: the
 * test fails when one disappears too (then delete its line) or a new one comes.
 */
const KNOWN: Record<string, string> = {};

/** The room of a source file: the top folder, or engine's sub-folder (engine/build.ts belongs to engine/build). */
function roomOf(rel: string): string | undefined {
  const parts = rel.split('/');
  if (parts[0] !== 'engine') return parts[0];
  if (parts.length > 2) return `engine/${parts[1]}`;
  if (rel === 'engine/build.ts') return 'engine/build';
  return undefined; // engine/lateLoading.ts: the loader, resolved below
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' || (name === 'build' && dir.endsWith('native')) ? [] : sources(p);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The repository paths (.ts) a file imports: `import … from`, `export … from`, `import(…)`, `import '…'`. */
function importsOf(rel: string, text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) {
    found.push(normalize(join(dirname(rel), m[1] as string)).replace(/\.js$/, '.ts'));
  }
  return found;
}

/** What each late loader of engine/lateLoading.ts loads: importing the loader is importing those. */
function lateLoaders(): Map<string, string[]> {
  const text = readFileSync(join(repoRoot, 'engine/lateLoading.ts'), 'utf8');
  const loaders = new Map<string, string[]>();
  for (const part of text.split(/^(?=export )/m)) {
    const name = /^export (?:async )?function (\w+)/.exec(part)?.[1];
    if (name === undefined) continue;
    loaders.set(name, [...new Set(importsOf('engine/lateLoading.ts', part.replace(/typeof import\([^)]*\)/g, '')))]);
  }
  return loaders;
}

/** Every room-to-room import in the source, with the files that make it. */
function arrows(): Map<string, string[]> {
  const loaders = lateLoaders();
  const found = new Map<string, string[]>();
  for (const top of ['grammar', 'engine', 'cache', 'native']) {
    for (const file of sources(join(repoRoot, top))) {
      const rel = relative(repoRoot, file);
      const from = roomOf(rel);
      if (from === undefined) continue;
      const text = readFileSync(file, 'utf8');
      const targets = importsOf(rel, text).flatMap((target) => {
        if (target !== 'engine/lateLoading.ts') return [target];
        const names = /import\s*\{([^}]*)\}\s*from\s*['"][./]*lateLoading\.js['"]/.exec(text)?.[1] ?? '';
        return names.split(',').map((n) => n.trim()).filter((n) => n !== '').flatMap((n) => loaders.get(n) ?? []);
      });
      for (const target of targets) {
        const to = roomOf(target);
        if (to === undefined || to === from) continue;
        const key = `${from} -> ${to}`;
        found.set(key, [...(found.get(key) ?? []), `${rel} imports ${target}`]);
      }
    }
  }
  return found;
}

test('every room is in the table', () => {
  const rooms = new Set([...arrows().keys()].flatMap((k) => k.split(' -> ')));
  assert.deepEqual([...rooms].filter((r) => ALLOWED[r] === undefined), [], 'a new room: say in ALLOWED what it may import');
});

test('no import against the flow', () => {
  const against: string[] = [];
  const known: string[] = [];
  for (const [key, files] of arrows()) {
    const [from, to] = key.split(' -> ') as [string, string];
    const allowed = ALLOWED[from] ?? [];
    if (allowed.includes('*') || allowed.includes(to)) continue;
    if (KNOWN[key] !== undefined) known.push(key);
    else against.push(`${key}: ${files.join('; ')}`);
  }
  assert.deepEqual(against, []);
  assert.deepEqual(known.sort(), Object.keys(KNOWN).sort(), 'a known arrow is gone: remove it from KNOWN');
});

test('the named rules hold: cache, store and runtime reach no further than they may', () => {
  const all = [...arrows().keys()];
  const cacheReaches = all.filter((k) => k.startsWith('cache -> ')).map((k) => k.slice('cache -> '.length));
  assert.deepEqual(cacheReaches.filter((r) => !['engine/store', 'engine/errors', 'engine/host', 'engine/units', 'grammar'].includes(r)), []);
  assert.deepEqual(all.filter((k) => k === 'engine/runtime -> engine/store' || k === 'engine/store -> engine/runtime'), []);
  assert.deepEqual(all.filter((k) => k.startsWith('grammar -> ')), []);
});
