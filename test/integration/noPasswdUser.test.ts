/**
 * kiln run by a uid with no passwd entry, a home it cannot write ($HOME=/, as docker sets it for
 * `--user 1000:1000`) and no $XDG_DATA_HOME, as a CI job often is: it picks a store of its own
 * in the temp dir and says so once, and what needs more than the machine gives (a build with no
 * user namespace) is one clear line with its exit code, never an internal error.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';

let work = '';
let uid = 0;

/** A uid no passwd entry names. */
function unnamedUid(): number {
  const taken = new Set(readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => Number(l.split(':')[2])));
  let id = 64000 + (process.pid % 1000);
  while (taken.has(id)) id++;
  return id;
}

function kilnAs(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [kilnBin, ...args], { uid, gid: uid, cwd: work, env: { PATH: '/usr/bin:/bin', ...env }, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-nopasswd-'));
  chmodSync(work, 0o1777);
  uid = unnamedUid();
});

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

test('no passwd entry, read-only $HOME, no $XDG_DATA_HOME: the store goes to a private temp dir, said once', async (t) => {
  if (!prerequisite(t, isRoot, 'needs root to run kiln as another uid')) return;
  const env = { HOME: '/', TMPDIR: work };
  const r = await kilnAs(['images'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^REPOSITORY/);
  const store = join(work, `kiln-${uid}`);
  assert.equal(r.stderr, `kiln: note: the home directory (/) is not writable: the store is ${store} (give --root DIR or set KILN_ROOT to keep images elsewhere)\n`);
  const st = lstatSync(store);
  assert.equal(st.uid, uid);
  assert.equal(st.mode & 0o777, 0o700);
  assert.ok(existsSync(join(store, 'blobs')));
  // A writable XDG_DATA_HOME is used as it is, with nothing said.
  mkdirSync(join(work, 'data'), { mode: 0o777 });
  chmodSync(join(work, 'data'), 0o777);
  const xdg = await kilnAs(['images'], { ...env, XDG_DATA_HOME: join(work, 'data') });
  assert.equal(xdg.code, 0, xdg.stderr);
  assert.equal(xdg.stderr, '');
  assert.ok(existsSync(join(work, 'data', 'kiln', 'blobs')));
});

test('a private temp store someone else made first is not used', async (t) => {
  if (!prerequisite(t, isRoot, 'needs root to run kiln as another uid')) return;
  const tmp = join(work, 'hostile');
  mkdirSync(tmp, { mode: 0o1777 });
  chmodSync(tmp, 0o1777);
  mkdirSync(join(tmp, `kiln-${uid}`), { mode: 0o777 }); // root's, not the user's
  const r = await kilnAs(['images'], { HOME: '/', TMPDIR: tmp });
  assert.equal(r.code, 73, r.stderr);
  assert.match(r.stderr, /^kiln: no place for the image store: the home directory \(\/\) is not writable, .*give --root DIR or set KILN_ROOT/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('kiln build with no user namespace to keep owners in and no proot: one line naming what is needed, exit 71', async (t) => {
  if (!prerequisite(t, isRoot, 'needs root to run kiln as another uid')) return;
  mkdirSync(join(work, 'ctx'));
  const r = await kilnAs(['build', join(work, 'ctx')], { HOME: '/', TMPDIR: work, PATH: '/nonexistent' });
  assert.equal(r.code, 71, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, new RegExp(`^kiln: kiln build as uid ${uid} needs root, or a user namespace of its own, .*no range for ${uid} in /etc/subuid.*or else proot \\(Debian package proot\\) on PATH: run the job as root in its container`));
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
});
