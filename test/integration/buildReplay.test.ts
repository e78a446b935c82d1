/**
 * An unchanged rebuild answered from its replay record (engine/cli/replay/), through bin/kiln
 * with real builds: the same output byte for byte, the same image and tags, the cache records
 * marked used, and none of the build's code run; and every kind of input a build reads, changed,
 * makes the build run in full — a context file rewritten with its mtime put back, a file added,
 * the Dockerfile, the environment, a tag moved away, the base image retagged, the cache pruned.
 *
 * Whether the build's code ran is read from the store: a full build keeps the parsed recipe in
 * cache/recipes/ (the parse cache), which a replay never touches, so a test removes that
 * directory before a build and looks whether it came back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, symlinkSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Store } from '../../engine/store/store.js';
import { commitBusyboxImage, haveBusybox } from '../../harness/busyboxImage.js';
import { isRoot, kilnBin, prerequisite } from '../support/env.js';
import { RACY_WINDOW_MS } from '../../cache/statCache.js';

const base = mkdtempSync(join(tmpdir(), 'kiln-replay-it-'));
const storeRoot = join(base, 'store');
const ctx = join(base, 'ctx');
const TAG = 'kiln-test/replay:latest';
const BASE = 'kiln-test/busybox:latest';
const ready = (t: import('node:test').TestContext): boolean =>
  prerequisite(t, isRoot, 'build containers and replay records need root') && prerequisite(t, haveBusybox, 'needs /bin/busybox (busybox-static)');

before(async () => {
  if (!isRoot || !haveBusybox) return;
  await commitBusyboxImage(await Store.open({ root: storeRoot }), BASE);
  mkdirSync(join(ctx, 'sub'), { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${BASE}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n`);
  writeFileSync(join(ctx, 'a.txt'), 'one\n');
  writeFileSync(join(ctx, 'sub', 'c.txt'), 'c\n');
});
after(() => rmSync(base, { recursive: true, force: true }));

interface Run { status: number | null; stdout: string; stderr: string }

function kiln(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [kilnBin, ...args], { encoding: 'utf8', env: { ...process.env, ...env, KILN_ROOT: storeRoot }, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Waits until every entry of the context (and of `also`) was last changed outside the racy window, so a build may record it. */
async function settled(also: readonly string[] = []): Promise<void> {
  const newest = (dir: string): number => Math.max(...[dir, ...readdirSync(dir).map((n) => join(dir, n))].map((p) => {
    const st = lstatSync(p);
    return Math.max(st.mtimeMs, st.ctimeMs, p !== dir && st.isDirectory() ? newest(p) : 0);
  }));
  while (Math.max(...[ctx, ...also].map(newest)) > Date.now() - RACY_WINDOW_MS - 50) await sleep(20);
}

const parseCache = join(storeRoot, 'cache', 'recipes');

/** Builds with the parse cache removed first; `ran` says whether the build's code ran (it parsed again). */
function build(args: string[] = [], env: NodeJS.ProcessEnv = {}): Run & { ran: boolean; id: string } {
  rmSync(parseCache, { recursive: true, force: true });
  const r = kiln(['build', '--progress=plain', '-t', TAG, ...args, ctx], env);
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}`);
  const id = /writing image (sha256:[0-9a-f]{64})/.exec(r.stderr)?.[1] ?? r.stdout.trim();
  return { ...r, ran: existsSync(parseCache), id };
}

function taggedId(name: string): string | undefined {
  const refs = JSON.parse(readFileSync(join(storeRoot, 'refs.json'), 'utf8')) as { tags: Record<string, string> };
  return refs.tags[`docker.io/${name}`];
}

function recordFiles(): string[] {
  const dir = join(storeRoot, 'cache', 'records');
  return readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).filter((f) => f.endsWith('.json')).map((f) => join(dir, d, f)));
}

/**
 * Builds until a full no-op has recorded itself (unless one had), then shows the next build is a
 * replay. A build that moved its tag keeps no record (the store's tags changed while it ran): the
 * full no-op after it does.
 */
async function recorded(also: readonly string[] = []): Promise<Run & { id: string }> {
  await settled(also);
  let full = build();
  if (!full.ran) return full;
  let replayed = build();
  if (replayed.ran) [full, replayed] = [replayed, build()];
  assert.equal(replayed.ran, false, `the rebuild after an unchanged full one ran the build:\n${replayed.stderr}`);
  assert.equal(replayed.stderr, full.stderr, 'a replay prints what the build it repeats printed');
  assert.equal(replayed.id, full.id);
  return replayed;
}

test('an unchanged rebuild is answered from its record: the same output and image, the cache records marked used, no build code run', async (t) => {
  if (!ready(t)) return;
  const cold = build();
  assert.ok(cold.ran);
  assert.doesNotMatch(cold.stderr, /CACHED/);
  await settled();
  const noop = build();
  assert.ok(noop.ran, 'the first unchanged rebuild is a full one (it records itself)');
  assert.match(noop.stderr, /#\d+ CACHED/);
  assert.equal(readdirSync(join(storeRoot, 'cache', 'replay')).length, 1);

  // Records aged as prune ages them: a replay marks them used, as a hit does.
  const day = Date.now() / 1000 - 86_400;
  for (const f of recordFiles()) utimesSync(f, day, day);
  const replayed = build();
  assert.equal(replayed.ran, false);
  assert.equal(replayed.stdout, noop.stdout);
  assert.equal(replayed.stderr, noop.stderr);
  assert.equal(taggedId(TAG), cold.id);
  const used = recordFiles().filter((f) => statSync(f).mtimeMs > Date.now() - 3_600_000);
  assert.equal(used.length, 2, 'the COPY and the RUN');

  // -q is another command line: its own record, printing the ID alone.
  await settled();
  const quiet = kiln(['build', '-q', '-t', TAG, ctx]);
  rmSync(parseCache, { recursive: true, force: true });
  const quietAgain = kiln(['build', '-q', '-t', TAG, ctx]);
  assert.equal(quietAgain.status, 0);
  assert.equal(existsSync(parseCache), false);
  assert.equal(quietAgain.stdout, `${cold.id}\n`);
  assert.equal(quietAgain.stdout, quiet.stdout);
  assert.equal(quietAgain.stderr, '');
});

test('whatever a build reads, changed, makes it run in full: context files, the Dockerfile, the environment, tags, the base, the cache', async (t) => {
  if (!ready(t)) return;
  let last = await recorded();

  // The copied file rewritten, same size, its mtime put back: the ctime tells.
  const a = join(ctx, 'a.txt');
  const was = statSync(a);
  writeFileSync(a, 'two\n');
  utimesSync(a, was.atime, was.mtime);
  await settled();
  let r = build();
  assert.ok(r.ran);
  assert.notEqual(r.id, last.id, 'the changed file is in the image');
  last = await recorded();

  // A file added in a subdirectory the recipe never names.
  writeFileSync(join(ctx, 'sub', 'new.txt'), 'new\n');
  await settled();
  r = build();
  assert.ok(r.ran);
  assert.equal(r.id, last.id);
  last = await recorded();

  // The Dockerfile.
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${BASE}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nLABEL replay=1\n`);
  await settled();
  r = build();
  assert.ok(r.ran);
  assert.notEqual(r.id, last.id);
  last = await recorded();

  // The environment (any variable: kiln cannot know which a build reads).
  r = build([], { KILN_REPLAY_TEST: '1' });
  assert.ok(r.ran);
  assert.equal(r.id, last.id);

  // The tag moved to another image: the build gives it back.
  last = await recorded();
  assert.equal(kiln(['tag', BASE, TAG]).status, 0);
  r = build();
  assert.ok(r.ran);
  assert.equal(taggedId(TAG), last.id);

  // The base image's tag moved to another image.
  last = await recorded();
  await commitBusyboxImage(await Store.open({ root: storeRoot }), BASE, 86_400);
  r = build();
  assert.ok(r.ran);
  assert.notEqual(r.id, last.id);

  // The cache pruned: its steps run again.
  last = await recorded();
  assert.equal(kiln(['prune', '--all', '--force']).status, 0);
  assert.equal(readdirSync(join(storeRoot, 'cache', 'replay')).length, 0, 'prune --all takes the replay records too');
  r = build();
  assert.ok(r.ran);
  assert.doesNotMatch(r.stderr, /CACHED/);
  assert.ok(recordFiles().length > 0);
});

test('a Dockerfile that is a symlink to a file outside the context: its target changed, the build runs', async (t) => {
  if (!ready(t)) return;
  const outside = join(base, 'recipes');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'Dockerfile'), `FROM ${BASE}\nCOPY a.txt /a.txt\n`);
  rmSync(join(ctx, 'Dockerfile'));
  symlinkSync(join(outside, 'Dockerfile'), join(ctx, 'Dockerfile'));
  const last = await recorded([outside]);
  writeFileSync(join(outside, 'Dockerfile'), `FROM ${BASE}\nCOPY a.txt /b.txt\n`);
  await settled([outside]);
  const r = build();
  assert.ok(r.ran);
  assert.notEqual(r.id, last.id);
});

test('builds a replay could not repeat keep no record: --no-cache, --output, a JSON progress view', async (t) => {
  if (!ready(t)) return;
  await recorded();
  const replays = join(storeRoot, 'cache', 'replay');
  rmSync(replays, { recursive: true, force: true });
  for (const args of [['--no-cache'], ['--output', `type=docker,dest=${join(base, 'out.tar')}`], ['--progress=json']]) {
    for (let i = 0; i < 2; i++) assert.ok(build(args).ran, args.join(' '));
  }
  assert.equal(existsSync(replays) ? readdirSync(replays).length : 0, 0);
});
