/**
 * The verbs' own bundles (engine/cli/bundling/makeBundles.ts): bin/kiln starts the bundle of the
 * verb it is given, which runs that verb as the whole bundle does; a verb whose bundle is missing,
 * or left from another build, runs from the whole bundle; a bundle never runs a verb it does not
 * hold. Which bundle ran shows in the code cache it left (BUNDLE.VERB.cache).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../../support/env.js';
import { launcherCopy } from '../../../support/launcherCopy.js';
import { NO_VERB, REPLAY_BUNDLE, VERB_GROUPS, verbBundleName } from '../../../../engine/cli/bundling/makeBundles.js';
import { bundleId, stamped, WHOLE_BUNDLE_PATTERN } from '../../../../engine/cli/bundling/stampBundle.js';
import { VERBS } from '../../../../engine/cli/verbs.js';

const built = join(repoRoot, 'dist', 'bundle');
const grouped = Object.values(VERB_GROUPS).flat();

test('every verb of a group has its bundle, stamped, naming the whole bundle of its build', () => {
  const wholeId = bundleId(readFileSync(join(built, 'kiln.cjs'), 'latin1'));
  assert.ok(wholeId !== undefined);
  for (const verb of [...grouped, NO_VERB]) {
    const text = readFileSync(join(built, verbBundleName(verb)), 'latin1');
    assert.equal(stamped(text, wholeId), text, `${verb}: the stamp is the hash of what precedes it`);
    assert.equal(WHOLE_BUNDLE_PATTERN.exec(text)?.[1], wholeId, verb);
  }
  for (const verb of grouped) assert.ok(verb in VERBS, `${verb} is in a group but not in the verb table`);
});

test('each verb runs from its own bundle', () => {
  const own = launcherCopy('all');
  const whole = launcherCopy('whole');
  try {
    // --help loads the verb's module; a bundle without it would fail.
    for (const verb of grouped) {
      const mine = own.kiln(verb, '--help');
      assert.equal(mine.status, 0, `${verb}: ${mine.stderr}`);
      assert.ok(mine.stdout.startsWith(`Usage:  kiln ${verb}`) && mine.stdout.includes(VERBS[verb]?.summary as string), `${verb}: ${mine.stdout}`);
      assert.ok(existsSync(join(own.bundles, `${verbBundleName(verb)}.${verb}.cache`)), `kiln ${verb} ran from its own bundle`);
    }
    // A command line without a verb: as the whole bundle answers it.
    for (const args of [['--help'], ['--version'], ['--bogus'], ['nosuchverb']]) {
      const mine = own.kiln(...args);
      const theirs = whole.kiln(...args);
      assert.deepEqual([mine.status, mine.stdout, mine.stderr], [theirs.status, theirs.stdout, theirs.stderr], args.join(' '));
    }
    assert.ok(existsSync(join(own.bundles, `${verbBundleName(NO_VERB)}.${NO_VERB}.cache`)), 'a command line without a verb ran from its bundle');
  } finally {
    rmSync(own.root, { recursive: true, force: true });
    rmSync(whole.root, { recursive: true, force: true });
  }
});

test('a verb whose bundle is missing, or from another build, runs from the whole bundle', () => {
  const { root, bundles, kiln } = launcherCopy('all');
  try {
    rmSync(join(bundles, verbBundleName('ps')));
    const ps = kiln('ps', '--help');
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /List containers/);
    assert.ok(existsSync(join(bundles, 'kiln.cjs.ps.cache')));
    // Another build's bundle of kiln stop (its help changed, so its output would show): not run.
    const stop = join(bundles, verbBundleName('stop'));
    const text = readFileSync(stop, 'latin1');
    const changed = text.replace('Stop one or more running containers', 'STOP ONE OR MORE RUNNING CONTAINERS');
    assert.notEqual(changed, text);
    writeFileSync(stop, stamped(changed, 'f'.repeat(64)), 'latin1');
    const r = kiln('stop', '--help');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Stop one or more running containers/);
    assert.ok(existsSync(join(bundles, 'kiln.cjs.stop.cache')));
    assert.ok(!existsSync(join(bundles, `${verbBundleName('stop')}.stop.cache`)));
    // Without the whole bundle, kiln is not built, whatever verb bundles are left.
    rmSync(join(bundles, 'kiln.cjs'));
    const missing = kiln('exec', '--help');
    assert.equal(missing.status, 70);
    assert.match(missing.stderr, /kiln\.cjs is missing: kiln is not built here \(run npm run build in /);
    assert.doesNotMatch(missing.stderr, /\n\s+at /);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a bundle asked for a verb it does not hold fails as an internal error, naming both', () => {
  const { root, bundles, kiln } = launcherCopy('all');
  try {
    // The bundle of the store's verbs under exec's name: bin/kiln would start it for exec.
    writeFileSync(join(bundles, verbBundleName('exec')), readFileSync(join(bundles, verbBundleName('images'))));
    const r = kiln('exec', '--help');
    assert.equal(r.status, 70);
    assert.match(r.stderr, /this bundle holds kiln check, .*kiln images.*, not kiln exec: bin\/kiln started the wrong bundle/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a replay bundle that is damaged, from another build or missing leaves kiln build to the build bundle', (t) => {
  const { root, bundles, kiln } = launcherCopy('all');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const replay = join(bundles, REPLAY_BUNDLE);
  const good = readFileSync(replay, 'latin1');
  const variants: [string, () => void][] = [
    ['damaged', () => writeFileSync(replay, stamped('this is not javascript (', bundleId(readFileSync(join(bundles, 'kiln.cjs'), 'latin1'))), 'latin1')],
    ['from another build', () => writeFileSync(replay, stamped(good, 'f'.repeat(64)), 'latin1')],
    ['missing', () => rmSync(replay)],
  ];
  for (const [what, change] of variants) {
    change();
    const r = kiln('build', '--help');
    assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    assert.match(r.stdout, /Usage:\s+kiln build/, what);
  }
});
