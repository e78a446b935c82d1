/**
 * Late loading has one home (engine/lateLoading.ts, plus the verb table engine/cli/verbs.ts):
 * no other source file calls import(), and the costly Node built-ins it defers stay out of the
 * commands that must start fast — `kiln --version`, `kiln images` and a cached rebuild. A module
 * that imports one of them at its top, reached from those commands, fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isRoot, kilnBin, prerequisite, repoRoot } from '../../support/env.js';

const LATE_HOMES = new Set(['engine/lateLoading.ts', 'engine/cli/verbs.ts']);
/** The container lifecycle verbs' own code paths, still on import() of their own (to move). */
const NOT_YET = new Set(['engine/cli/run.ts', 'engine/cli/exec.ts', 'engine/cli/start.ts', 'engine/cli/supervise.ts', 'engine/runtime/lifecycle/supervisorLaunch.ts']);
// net is not among them: standard output on a pipe or a terminal is a net.Socket.
const DEFERRED_BUILTINS = ['crypto', 'child_process', 'zlib', 'tls'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'page' ? [] : sources(p);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
  });
}

test('no source file but the late-loading homes calls import()', () => {
  const offenders: string[] = [];
  for (const dir of ['engine', 'cache', 'grammar', 'native', 'harness']) {
    for (const file of sources(join(repoRoot, dir))) {
      const rel = relative(repoRoot, file);
      if (LATE_HOMES.has(rel) || NOT_YET.has(rel)) continue;
      // A call, not a type position (`typeof import('x')`, `: import('x').T`).
      const calls = readFileSync(file, 'utf8').split('\n').filter((line) => /(^|[^\w.])import\(/.test(line.replace(/typeof import\(|[:<|&(,] *import\(|as import\(/g, '')));
      if (calls.length > 0) offenders.push(`${rel}: ${calls[0]?.trim()}`);
    }
  }
  assert.deepEqual(offenders, []);
});

/** The built-in modules a command loaded, as `process.moduleLoadList` lists them at its exit. */
function builtinsLoaded(args: string[], env: NodeJS.ProcessEnv): Set<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-late-'));
  try {
    const preload = join(dir, 'list.cjs');
    const out = join(dir, 'modules.txt');
    writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(out)}, process.moduleLoadList.join('\\n')));\n`);
    const r = spawnSync(kilnBin, args, { env: { ...process.env, ...env, NODE_OPTIONS: `-r ${preload}` }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return new Set(readFileSync(out, 'utf8').split('\n').filter((l) => l.startsWith('NativeModule ')).map((l) => l.slice('NativeModule '.length)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertNoneDeferred(loaded: Set<string>, what: string): void {
  assert.deepEqual(DEFERRED_BUILTINS.filter((m) => loaded.has(m)), [], `${what} loads built-ins kept for first use (engine/lateLoading.ts)`);
}

test('kiln --version and kiln images load none of the deferred built-ins', () => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-late-store-'));
  try {
    assertNoneDeferred(builtinsLoaded(['--version'], {}), 'kiln --version');
    assertNoneDeferred(builtinsLoaded(['images'], { KILN_ROOT: root }), 'kiln images');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a cached rebuild loads none of the deferred built-ins', (t) => {
  if (!prerequisite(t, isRoot, 'kiln build needs root here')) return;
  const root = mkdtempSync(join(tmpdir(), 'kiln-late-store-'));
  const ctx = mkdtempSync(join(tmpdir(), 'kiln-late-ctx-'));
  try {
    writeFileSync(join(ctx, 'a.txt'), 'a\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /\nENV A=1\nLABEL b=2\n');
    const env = { KILN_ROOT: root };
    const build = ['build', '-q', '-t', 'late:1', ctx];
    builtinsLoaded(build, env); // cold: parses, writes a layer
    assertNoneDeferred(builtinsLoaded(build, env), 'a cached rebuild');
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(ctx, { recursive: true, force: true });
  }
});
