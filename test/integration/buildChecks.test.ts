/**
 * The build checks as a user meets them through `kiln build`: warnings printed as BuildKit prints
 * them (under the step that loads the Dockerfile, then again after the build; json events) while
 * the build goes on; `# check=error=true` failing before any step runs; `--check` building nothing
 * and exiting 1 when it finds something; a cached rebuild (which parses nothing) still warning;
 * a base image of another platform (InvalidBaseImagePlatform, the rule that needs a real image).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, prerequisite } from '../support/env.js';
import { runKiln, succeeds, writeFiles } from '../support/kilnProcess.js';
import { Store } from '../../engine/store/store.js';
import { makeImage } from '../support/testImage.js';

let work = '';
let store = '';
const kiln = (args: string[]) => runKiln(store, args);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-build-checks-'));
  store = join(work, 'store');
});

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

async function context(name: string, dockerfile: string, files: Record<string, string> = { 'a.txt': 'a\n' }): Promise<string> {
  const dir = join(work, name);
  await writeFiles(dir, { Dockerfile: dockerfile, ...files });
  return dir;
}

const WARNED = 'FROM scratch AS Base\ncopy a.txt /a\nCOPY a.txt /b\nCMD echo hi\n';
const WARNINGS = [
  "StageNameCasing: Stage name 'Base' should be lowercase (line 1)",
  "ConsistentInstructionCasing: Command 'copy' should match the case of the command majority (uppercase) (line 2)",
  'JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 4)',
];

test('warnings are printed under the step that loads the Dockerfile and after the build, which goes on; a cached rebuild warns the same', async (t) => {
  if (!prerequisite(t, isRoot, 'kiln build needs root')) return;
  const ctx = await context('warned', WARNED);
  for (const round of ['first build', 'cached rebuild']) {
    const r = await succeeds(kiln(['build', '--progress=plain', '-t', 'checks-warned', ctx]));
    const lines = r.stderr.split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('#1 WARN: ')), WARNINGS.map((w) => `#1 WARN: ${w}`), `${round}:\n${r.stderr}`);
    assert.deepEqual(lines.filter((l) => l.startsWith('WARN: ')), WARNINGS.map((w) => `WARN: ${w}`), round);
    assert.match(r.stderr, /#\d+ \[2\/2\] COPY a\.txt \/b/, round);
  }
  const json = await succeeds(kiln(['build', '--progress=json', ctx]));
  const events = json.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const warnings = events.filter((e) => e.event === 'warning');
  assert.deepEqual(warnings.map((w) => w.warning), WARNINGS);
  assert.deepEqual(warnings[0], { ...warnings[0], id: 1, rule: 'StageNameCasing', line: 1, url: 'https://docs.docker.com/go/dockerfile/rule/stage-name-casing/' });
  assert.ok(!json.stderr.split('\n').some((l) => l.startsWith('WARN: ')), 'json progress has no text summary');
});

test('# check=error=true fails before any step runs, naming the rules; skip and BUILDKIT_DOCKERFILE_CHECK change it', async (t) => {
  if (!prerequisite(t, isRoot, 'kiln build needs root')) return;
  const ctx = await context('error', `# check=error=true\n${WARNED}`);
  const r = await kiln(['build', '--progress=plain', '-t', 'checks-error', ctx]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Dockerfile: lint violation found for rules: StageNameCasing, ConsistentInstructionCasing, JSONArgsRecommended$/m);
  assert.doesNotMatch(r.stderr, /COPY a\.txt/, 'a step ran');
  assert.equal((await kiln(['inspect', 'checks-error'])).code, 1, 'an image was made');

  const skipped = await context('skipped', `# check=skip=StageNameCasing,ConsistentInstructionCasing,JSONArgsRecommended;error=true\n${WARNED}`);
  const ok = await succeeds(kiln(['build', '--progress=plain', skipped]));
  assert.doesNotMatch(ok.stderr, /WARN/);

  const overridden = await succeeds(kiln(['build', '--progress=plain', '--build-arg', 'BUILDKIT_DOCKERFILE_CHECK=skip=all', ctx]));
  assert.doesNotMatch(overridden.stderr, /WARN/);
  const bad = await kiln(['build', '--build-arg', 'BUILDKIT_DOCKERFILE_CHECK=nope', ctx]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Dockerfile: failed to parse build-arg:BUILDKIT_DOCKERFILE_CHECK: invalid check option "nope"$/m);
});

test('an invalid instruction: the warnings of the lines before it, then its located error', async (t) => {
  if (!prerequisite(t, isRoot, 'kiln build needs root')) return;
  const ctx = await context('invalid', 'FROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n');
  const r = await kiln(['build', '--progress=plain', ctx]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^WARN: StageNameCasing: Stage name 'BadStageName' should be lowercase \(line 1\)\nWARN: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label \(line 2\)\n.*Dockerfile:3:1: unknown instruction: BADCMD/s);
});

test('kiln build --check reports as docker build --check does, builds nothing, exits 1 when it finds something', async (t) => {
  if (!prerequisite(t, isRoot, 'kiln build needs root')) return;
  const ctx = await context('check', WARNED);
  const r = await kiln(['build', '--check', '-t', 'checks-only', ctx]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^Check complete, 3 warnings have been found!\n\nWARNING: StageNameCasing - https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/stage-name-casing\/\nStage name 'Base' should be lowercase\nDockerfile:1\n-{20}\n {3}1 \| >>> FROM scratch AS Base\n/);
  assert.equal((await kiln(['inspect', 'checks-only'])).code, 1, '--check made an image');

  const clean = await context('clean', 'FROM scratch\nCOPY a.txt /a\n');
  const c = await kiln(['build', '--check', clean]);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout, 'Check complete, no warnings found.\n');

  // Without --target every stage is checked, as BuildKit's lint request does; with one, the stages it needs.
  const stages = await context('stages', 'FROM scratch AS a\nCMD run me\nFROM scratch AS b\nCOPY a.txt /a\n');
  assert.match((await kiln(['build', '--check', stages])).stdout, /JSONArgsRecommended/);
  const targeted = await kiln(['build', '--check', '--target', 'b', stages]);
  assert.equal(targeted.code, 0, targeted.stdout);

  // A base image that cannot be found stops the check, after the findings that need no image.
  const missing = await context('missing', 'FROM localhost:1/kiln-no-such-image:1 AS Base\nCOPY a.txt /a\n');
  const m = await kiln(['build', '--check', missing]);
  assert.equal(m.code, 1);
  assert.match(m.stdout, /^Check complete, 1 warning has been found!\n\nWARNING: StageNameCasing/);
  assert.match(m.stderr, /Dockerfile:1:1: .*image not found/);
});

test('a base image of another platform than the build is warned about (InvalidBaseImagePlatform)', async (t) => {
  if (!prerequisite(t, isRoot, 'kiln build needs root')) return;
  const s = await Store.open({ root: store });
  const other = process.arch === 'arm64' ? 'amd64' : 'arm64';
  await makeImage(s, [{ 'etc/os': 'other\n' }], { tag: 'checks-other-arch', architecture: other });
  const ctx = await context('platform', 'FROM checks-other-arch\nCOPY a.txt /a\n');
  const r = await succeeds(kiln(['build', '--progress=plain', ctx]));
  const host = process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64';
  assert.match(r.stderr, new RegExp(`^#1 WARN: InvalidBaseImagePlatform: Base image checks-other-arch was pulled with platform "linux/${other}", expected "${host}" for current build \\(line 1\\)$`, 'm'));
  assert.match(r.stderr, /^#\d+ \[1\/2\] FROM docker\.io\/library\/checks-other-arch:latest$/m);
});
