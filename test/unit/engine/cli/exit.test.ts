/** How the CLI turns a command's end into the process's exit code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../../support/env.js';

const dispatch = join(repoRoot, 'dist', 'engine', 'cli', 'dispatch.js');
const run = (body: string) => spawnSync(process.execPath, ['--input-type=module', '-e', `const { runToExitCode } = await import(${JSON.stringify(dispatch)});\n${body}`], { encoding: 'utf8' });

test('a command that stops waiting on nothing exits 70 and says so, never 0', () => {
  // The promise never settles and nothing keeps the event loop alive: Node exits on its own.
  const r = run('void runToExitCode(() => new Promise(() => {}));');
  assert.equal(r.status, 70);
  assert.match(r.stderr, /internal error .*stopped before it finished/);
});

test('a command\'s own exit code, and a deliberate process.exit, stand', () => {
  assert.equal(run('void runToExitCode(async () => 3);').status, 3);
  const r = run('void runToExitCode(() => new Promise(() => { setTimeout(() => process.exit(130), 10); }));');
  assert.equal(r.status, 130);
  assert.equal(r.stderr, '');
});
