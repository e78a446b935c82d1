/**
 * `kiln build --progress=plain` against BuildKit's own plain log for the same recipes
 * (test/plain/recipes.json): the steps it lists (FROM of an image, RUN, COPY, ADD, WORKDIR other
 * than /), their `[stage k/n]` names and numbers, the internal steps around them and the `#N`
 * order. BuildKit v0.24.0's logs are fixtures (test/plain/oracle-v0.24.json, recorded with
 * `buildctl build --progress=plain --no-cache`); docker 20.10's BuildKit builds each recipe here,
 * except where the recipe says why it cannot (its older frontend disagrees with v0.24, which kiln
 * follows, or lacks the feature). Both logs are normalised by test/support/plainLog.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerAvailable, isRoot, prerequisite, repoRoot } from '../support/env.js';
import { runCommand, runKiln, succeeds, writeFiles } from '../support/kilnProcess.js';
import { normalizePlain } from '../support/plainLog.js';

interface Recipe { name: string; dockerfile: string; target?: string; docker20?: string }

const recipes = JSON.parse(readFileSync(join(repoRoot, 'test/plain/recipes.json'), 'utf8')) as Recipe[];
const v024 = JSON.parse(readFileSync(join(repoRoot, 'test/plain/oracle-v0.24.json'), 'utf8')) as Record<string, { exit: number; stderr: string }>;
const DOCKER = '/usr/bin/docker';
const rootfs = join(repoRoot, 'examples/busybox/rootfs.tar');

let work = '';
let store = '';
let canBuild = false;
let haveDocker = false;
const tags: string[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-plain-'));
  store = join(work, 'store');
  canBuild = isRoot;
  if (!canBuild) return;
  execFileSync('sh', [join(repoRoot, 'examples/busybox/make-rootfs.sh')], { stdio: 'ignore' });
  haveDocker = dockerAvailable();
});

after(async () => {
  for (const t of tags) await runCommand(DOCKER, ['rmi', '-f', t]);
  if (work !== '') await rm(work, { recursive: true, force: true });
});

async function context(r: Recipe, who: string): Promise<string> {
  const dir = join(work, `${r.name}-${who}`);
  await writeFiles(dir, { Dockerfile: r.dockerfile, 'a.txt': 'a\n' });
  await copyFile(rootfs, join(dir, 'rootfs.tar'));
  return dir;
}

async function kilnLog(r: Recipe): Promise<string> {
  const res = await succeeds(runKiln(store, ['build', '--progress=plain', '--no-cache', ...(r.target ? ['--target', r.target] : []), await context(r, 'kiln')]));
  return res.stderr;
}

for (const r of recipes) {
  test(`--progress=plain lists the steps as BuildKit v0.24 does: ${r.name}`, async (t) => {
    if (!prerequisite(t, canBuild, 'kiln build needs root')) return;
    const want = v024[r.name];
    assert.ok(want, `no v0.24 log recorded for ${r.name}`);
    const got = normalizePlain(await kilnLog(r));
    const expected = normalizePlain(want.stderr);
    assert.deepEqual(got.lines, expected.lines);
    // BuildKit's plain log drops a warning that arrives after its vertex ended: kiln has them all.
    for (const w of expected.warnings) assert.ok(got.warnings.includes(w), `missing ${w}`);
  });

  // Where docker 20.10's older frontend differs from v0.24 (which kiln follows), the recipe says so and is compared with v0.24 only.
  if (r.docker20 !== undefined) continue;
  test(`--progress=plain lists the steps as docker 20.10's BuildKit does: ${r.name}`, async (t) => {
    if (!prerequisite(t, canBuild && haveDocker, 'needs root and a docker daemon')) return;
    const tag = `kiln-plain-${process.pid}-${r.name}`;
    tags.push(tag);
    const docker = await runCommand(DOCKER, ['build', '--progress=plain', '--no-cache', '-t', tag, ...(r.target ? ['--target', r.target] : []), await context(r, 'docker')], { env: { ...process.env, DOCKER_BUILDKIT: '1' } });
    assert.equal(docker.code, 0, docker.stderr);
    // docker 20.10 numbers vertices by its solver's order, not by when they start, and its client
    // loads the Dockerfile and .dockerignore in either order: compare the rest in order of appearance.
    const same = { renumber: true, dropRacing: true };
    assert.deepEqual(normalizePlain(await kilnLog(r), same).lines, normalizePlain(docker.stderr, same).lines);
  });
}
