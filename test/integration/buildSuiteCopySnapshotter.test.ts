/**
 * The build suite again, with the copy snapshotter: the integration tests that build recipes
 * through the CLI (RUN, COPY/ADD and their flags, mounts, multi-stage, the cache, reproducible
 * archives, docker parity) run in a child test runner with KILN_SNAPSHOTTER=copy, so every build
 * they make lays stage roots out as copies instead of overlay mounts and must still pass. Tests
 * about overlay mounts themselves (buildMountNamespace) are the overlay path's alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isRoot, prerequisite, repoRoot } from '../support/env.js';
import { runCommand } from '../support/kilnProcess.js';

const SUITE = ['build.test.js', 'build-features.test.js', 'buildCache.test.js', 'copyModes.test.js'];

test('the build suite passes with the copy snapshotter (KILN_SNAPSHOTTER=copy)', async (t) => {
  if (!prerequisite(t, isRoot, 'the build suite needs root')) return;
  const files = SUITE.map((f) => join(repoRoot, 'dist', 'test', 'integration', f));
  // A runner started by a test file's process would report to the outer runner, not to us.
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_SNAPSHOTTER: 'copy' };
  delete env.NODE_TEST_CONTEXT;
  const r = await runCommand(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...files], { env });
  const failed = r.stdout.split('\n').filter((l) => /^\s*not ok\b/.test(l) && !/# SKIP/.test(l));
  const passed = r.stdout.split('\n').filter((l) => /^\s*ok\b/.test(l) && !/# SKIP/.test(l));
  assert.equal(r.code, 0, `failed under the copy snapshotter:\n${failed.join('\n')}\n\n${r.stdout.slice(-8000)}\n${r.stderr.slice(-2000)}`);
  assert.ok(passed.length >= SUITE.length, `the child runner ran no tests:\n${r.stdout}`);
});
