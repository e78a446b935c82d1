/** How the CLI turns a command's end into the process's exit code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { kilnBin, repoRoot } from '../../../support/env.js';

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

test('output to a reader that has gone ends the command quietly: exit 0, nothing on stderr', async () => {
  // kiln writes its output straight to descriptor 1 (engine/host/standardStreams.ts): the EPIPE
  // is thrown where it writes and ends the command as `kiln … | head` expects, not as a crash.
  const child = spawn(process.execPath, [kilnBin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // closed long before kiln has started and written
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(stderr, '');
  assert.equal(code, 0);
});

test('work a command leaves behind it (a removal, a flush) finishes before the process exits, and the exit listeners run once', () => {
  // The process ends by process.exit() once the event loop is empty, not by Node's own teardown:
  // nothing that was still to run may be cut short, and the command's code stands.
  const r = run(`
    process.on('exit', (code) => { process.stdout.write('exit listener ' + code + '\\n'); });
    void runToExitCode(async () => {
      setTimeout(() => { process.stdout.write('behind, 1\\n'); setTimeout(() => process.stdout.write('behind, 2\\n'), 30); }, 30);
      return 4;
    });`);
  assert.equal(r.status, 4);
  assert.equal(r.stdout, 'behind, 1\nbehind, 2\nexit listener 4\n');
  assert.equal(r.stderr, '');
});
