/**
 * The differential suite: every recipe in recipes/ is built by docker build (BuildKit) and by
 * kiln from the same context, and the two images must agree — config, history and flattened
 * root filesystem (see imageSnapshot.ts) — or both builds must fail, kiln's with a located
 * one-line error and no stack trace. Recipes for features docker 20.10's BuildKit lacks are
 * compared with what BuildKit v0.24 built (fixtures/, written by recordFixtures.ts). A recipe in
 * knownDifferences.ts must still differ: once kiln agrees, the entry has to go. A recipe with a
 * primer (recipes/cache.ts) follows a build of it with one input flipped, into the same caches.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haveBusybox } from '../../harness/busyboxImage.js';
import { dockerAvailable, isRoot, prerequisite } from '../support/env.js';
import { runCommand } from '../support/kilnProcess.js';
import { buildBase } from './baseImage.js';
import { DOCKER, dockerBuild, dockerBuildImage, kilnBuild, removeDockerImages } from './builders.js';
import { differences } from './compare.js';
import { againstBase, snapshotArchive, type Snapshot } from './imageSnapshot.js';
import { knownDifferences } from './knownDifferences.js';
import { readFixture, type Outcome } from './outcome.js';
import { httpFiles } from './httpFiles.js';
import { primerOf, unfill, writeContext, type Placeholders, type Recipe } from './recipe.js';
import { recipes } from './recipes/index.js';

const nonce = `${process.pid}${randomBytes(3).toString('hex')}`;
const canRun = isRoot && haveBusybox;
const haveDocker = canRun && dockerAvailable();
let work = '';
let store = '';
let base: Snapshot;
let server: Server | undefined;
let placeholders: Placeholders;
const baseTag = `kiln-diff-base-${nonce}`;
/** Images docker built for recipes, removed together at the end. */
const dockerImages: string[] = [];

/** Where a kiln error must point: the Dockerfile (or .dockerignore) line, `FILE:LINE:COL`. */
const LOCATED = /(^|\n)[^\n]*(Dockerfile|dockerignore)[^\s:]*:\d+(:\d+)?: /;

async function outcomeOf(kind: 'docker' | 'kiln', recipe: Recipe, ctx: string): Promise<{ outcome: Outcome; output: string; code?: number }> {
  const archive = join(work, 'out', `${recipe.name}.${kind}.tar`);
  const secrets = join(work, 'secrets', recipe.name);
  if (kind === 'docker') {
    const image = `kiln-diff-${nonce}-${recipe.name}`;
    dockerImages.push(image);
    const built = await dockerBuild(recipe, ctx, image, archive, secrets);
    if (!built.ok || !built.snapshot) return { outcome: { fails: true, error: lastLines(built.output) }, output: built.output };
    return { outcome: judged(built.snapshot), output: built.output };
  }
  const built = await kilnBuild(recipe, ctx, store, archive, secrets);
  if (!built.ok) return { outcome: { fails: true, error: lastLines(built.output) }, output: built.output, code: built.result.code };
  try {
    return { outcome: judged(await snapshotArchive(archive)), output: built.output };
  } finally {
    await rm(archive, { force: true });
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join('\n');
}

function judged(snapshot: Snapshot): Outcome {
  return { fails: false, image: unfill(againstBase(snapshot, base), placeholders) };
}

async function expectedOutcome(recipe: Recipe, ctx: string): Promise<Outcome> {
  if (recipe.oracle === 'buildkit-0.24') {
    const fixture = readFixture(recipe.name);
    assert.ok(fixture, `no fixture for ${recipe.name}: record it with BuildKit v0.24 (node dist/test/differential/recordFixtures.js ${recipe.name})`);
    return fixture.outcome;
  }
  return (await outcomeOf('docker', recipe, ctx)).outcome;
}

/** What differs between the expected outcome and kiln's; empty when they agree. */
function disagreement(expected: Outcome, actual: Outcome, kilnOutput: string, kilnCode: number | undefined, recipe: Recipe): string[] {
  if (expected.fails && actual.fails) {
    const problems: string[] = [];
    if (/\n\s+at .+:\d+:\d+\)?\n/.test(kilnOutput) || kilnCode === 70) problems.push(`kiln failed with an internal error (exit ${kilnCode}):\n${kilnOutput}`);
    else if (!(recipe.errorMatches ?? LOCATED).test(kilnOutput)) problems.push(`kiln's error does not match ${String(recipe.errorMatches ?? LOCATED)}:\n${kilnOutput}`);
    return problems;
  }
  if (expected.fails) return [`the expected build fails (${expected.error}) but kiln's succeeds`];
  if (actual.fails) return [`kiln fails but the expected build succeeds:\n${kilnOutput}`];
  return differences(expected.image, actual.image);
}

/**
 * Builds the recipe's cache primer just before it: with kiln into the suite's store, and with
 * docker when docker is the oracle (a v0.24 fixture was recorded after the same primer).
 */
async function prime(recipe: Recipe): Promise<void> {
  const primed = primerOf(recipe);
  if (primed === undefined) return;
  const ctx = join(work, 'ctx', primed.name);
  await writeContext(ctx, primed, placeholders);
  const secrets = join(work, 'secrets', primed.name);
  const archive = join(work, 'out', `${primed.name}.kiln.tar`);
  const image = `kiln-diff-${nonce}-${primed.name}`;
  if (recipe.oracle !== 'buildkit-0.24') dockerImages.push(image);
  const [docker, kiln] = await Promise.all([
    recipe.oracle === 'buildkit-0.24' ? undefined : dockerBuildImage(primed, ctx, image, secrets),
    kilnBuild(primed, ctx, store, archive, secrets),
  ]);
  await rm(archive, { force: true });
  if (docker) assert.equal(docker.code, 0, `docker build of the primer of ${recipe.name}: ${docker.stderr}`);
  assert.ok(kiln.ok, `kiln build of the primer of ${recipe.name}: ${kiln.output}`);
}

async function check(t: TestContext, recipe: Recipe): Promise<void> {
  const ctx = join(work, 'ctx', recipe.name);
  await writeContext(ctx, recipe, placeholders);
  await prime(recipe);
  const [expected, kiln] = await Promise.all([expectedOutcome(recipe, ctx), outcomeOf('kiln', recipe, ctx)]);
  const diffs = disagreement(expected, kiln.outcome, kiln.output, kiln.code, recipe);
  const known = knownDifferences[recipe.name];
  if (known !== undefined) {
    assert.ok(diffs.length > 0, `${recipe.name} now agrees: remove it from knownDifferences.ts`);
    t.diagnostic(`known difference (${known}): ${diffs.join('; ')}`);
    return;
  }
  if (diffs.length > 0) assert.fail(`${recipe.name} (${recipe.checks}):\n  ${diffs.join('\n  ')}`);
}

describe('differential: docker build (BuildKit) and kiln build of the same recipe', { concurrency: 6 }, () => {
  before(async () => {
    if (!haveDocker) return;
    work = await mkdtemp(join(tmpdir(), 'kiln-differential-'));
    store = join(work, 'store');
    await mkdir(join(work, 'out'));
    server = createServer((req, res) => {
      const file = httpFiles[req.url ?? ''];
      if (!file) { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'Last-Modified': 'Tue, 02 Jan 2024 03:04:05 GMT', 'Content-Length': String(file.length) });
      res.end(req.method === 'HEAD' ? undefined : file);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    placeholders = { BASE: baseTag, NONCE: nonce, URL: `http://127.0.0.1:${port}` };
    const built = await buildBase(work, store, baseTag);
    const loaded = await runCommand(DOCKER, ['load', '-i', built.archive]);
    assert.equal(loaded.code, 0, loaded.stderr);
    base = await snapshotArchive(built.archive);
  });

  after(async () => {
    if (!haveDocker) return;
    await removeDockerImages([...dockerImages, baseTag]);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  // DIFFERENTIAL_ONLY=prefix,… runs the recipes whose names start with one of the prefixes.
  const only = process.env.DIFFERENTIAL_ONLY?.split(',').filter((p) => p !== '');
  for (const recipe of recipes.filter((r) => !only || only.some((p) => r.name.startsWith(p)))) {
    test(recipe.name, async (t) => {
      if (!prerequisite(t, canRun, 'needs root and /bin/busybox (busybox-static)')) return;
      if (!prerequisite(t, haveDocker, 'needs a running dockerd (.ci/setup starts one)')) return;
      await check(t, recipe);
    });
  }
});
