/**
 * `kill -9` of `kiln run` at the moment its container runs, through the CLI: with --rm (and
 * --memory 64m, so with a memory cgroup) nothing of it is left once the next command runs — no
 * container in `kiln ps -a`, no writable layer in the store, no state dir, no cgroup — as
 * docker's daemon removes an auto-remove container whatever happened to its client. Without
 * --rm the container stays, shown as exited, as docker keeps it. A container a killed kiln was
 * still creating is removed by the next command; one a live kiln is creating is not.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../engine/store/store.js';
import { selfTag } from '../../engine/host/processIdentity.js';
import { hostCgroupLayout } from '../../engine/runtime/cgroupLayout.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { runKiln } from '../support/kilnProcess.js';
import { cgroupsOwnedBy } from '../support/containers.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-killed-run-it-'));
const storeRoot = join(base, 'store');
const containers = join(storeRoot, 'containers');
const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'containers need root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root: storeRoot }), 'kiln-test/busybox:latest');
});
after(() => rmSync(base, { recursive: true, force: true }));

/** State dirs of a kiln's container starts (`kiln-ctr-PID-…`, in /dev/shm or the temp dir). */
function stateDirsOf(pid: number): string[] {
  return ['/dev/shm', tmpdir()].flatMap((d) => (existsSync(d) ? readdirSync(d) : []).filter((n) => n.startsWith(`kiln-ctr-${pid}-`)).map((n) => join(d, n)));
}

/** Starts `kiln run` and kills it with SIGKILL once its container has printed "started". */
async function killedRun(flags: string[]): Promise<number> {
  const child = spawn(process.execPath, [kilnBin, 'run', ...flags, 'kiln-test/busybox', 'sh', '-c', 'echo started; sleep 60'], {
    env: { ...process.env, KILN_ROOT: storeRoot }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => { if (c.toString().includes('started')) resolve(); });
    child.on('exit', (code) => reject(new Error(`kiln run ended (${code}) before its container started:\n${stderr}`)));
  });
  const pid = child.pid as number;
  if (flags.includes('--memory') && hostCgroupLayout() !== undefined) assert.ok(cgroupsOwnedBy((p) => p === pid).length > 0, 'the container has cgroups while it runs');
  child.kill('SIGKILL');
  await closed;
  return pid;
}

async function psAll(): Promise<string[]> {
  const r = await runKiln(storeRoot, ['ps', '-a', '--no-trunc']);
  assert.equal(r.code, 0, r.stderr);
  const [header, ...rows] = r.stdout.split('\n').filter((l) => l !== '');
  assert.match(header as string, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  return rows.map((l) => l.split(/\s{2,}/)).map((cols) => `${cols[0]} ${cols[4]}`);
}

test('kill -9 of kiln run --rm --memory 64m: the next command leaves no container, writable layer, state dir or cgroup of it', async (t) => {
  if (!ready(t)) return;
  const pid = await killedRun(['--rm', '--memory', '64m']);
  assert.equal(readdirSync(containers).length, 1, 'SIGKILL skipped the clean-up: its container is still in the store');
  assert.deepEqual(await psAll(), [], 'kiln ps -a does not show it (and removes it)');
  assert.deepEqual(readdirSync(containers), [], 'its record and writable layer are gone');
  const next = await runKiln(storeRoot, ['run', '--rm', 'kiln-test/busybox', 'true']);
  assert.equal(next.code, 0, next.stderr);
  assert.deepEqual(cgroupsOwnedBy((p) => p === pid), [], 'its cgroups are swept by the next run');
  assert.deepEqual(stateDirsOf(pid), [], 'its state dir is swept by the next run');
});

test('kill -9 of kiln run without --rm: the container stays, exited, until kiln rm', async (t) => {
  if (!ready(t)) return;
  await killedRun(['--name', 'kept']);
  const listed = await psAll();
  assert.equal(listed.length, 1);
  assert.match(listed[0] as string, /^[0-9a-f]{64} Exited \(/);
  const id = (listed[0] as string).split(' ')[0] as string;
  const removed = await runKiln(storeRoot, ['rm', 'kept']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.ok(!existsSync(join(containers, id)));
});

test('a container a killed kiln was creating is removed by the next command; a live kiln\'s is not', async (t) => {
  if (!ready(t)) return;
  const dead = join(containers, `.${'a'.repeat(64)}.999999999-4242.tmp`);
  const live = join(containers, `.${'b'.repeat(64)}.${selfTag()}.tmp`);
  for (const d of [dead, live]) mkdirSync(join(d, 'upper'), { recursive: true });
  assert.deepEqual(await psAll(), []);
  assert.ok(!existsSync(dead), 'the dead kiln\'s half-made container is gone');
  assert.ok(existsSync(live), 'the live one\'s stays');
  rmSync(live, { recursive: true });
});
