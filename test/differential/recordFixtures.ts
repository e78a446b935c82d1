/**
 * Records what BuildKit v0.24 makes of differential recipes, for the recipes docker 20.10's
 * BuildKit is too old for (oracle 'buildkit-0.24'): their fixtures are that outcome. It talks to a
 * running buildkitd of that version through its own client, buildctl, handing it the suite's base
 * image as an OCI layout (named context `oci-layout://`), so the recipes read exactly as they do
 * for docker and kiln.
 *
 *   BUILDCTL=/path/to/buildctl BUILDKIT_HOST=unix:///path/buildkitd.sock \
 *     node dist/test/differential/recordFixtures.js [--compare] [--write-all] NAME-PREFIX…
 *
 * --compare also builds each recipe with docker 20.10 and prints where the two BuildKits disagree
 * (the reason to make a recipe a fixture). It writes fixtures only for recipes whose oracle is
 * buildkit-0.24 (every selected recipe with --write-all). It does nothing under the test runner.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../support/kilnProcess.js';
import { baseLayout, buildBase } from './baseImage.js';
import { DOCKER, dockerBuild, removeDockerImages, secretFlags } from './builders.js';
import { differences } from './compare.js';
import { againstBase, snapshotArchive, type Snapshot } from './imageSnapshot.js';
import { httpFiles } from './httpFiles.js';
import { writeFixture, type Outcome } from './outcome.js';
import { primerOf, unfill, writeContext, type Placeholders, type Recipe } from './recipe.js';
import { recipes } from './recipes/index.js';

export const RECORDED_WITH = 'BuildKit v0.24.0 (Dockerfile frontend 1.18, labs build), buildctl --output type=docker';

/** buildctl's spelling of a recipe's build options. */
function buildctlFlags(recipe: Recipe, secretsDir: string): string[] {
  const flags: string[] = ['--opt', `filename=${recipe.dockerfileName ?? 'Dockerfile'}`];
  for (const [k, v] of Object.entries(recipe.buildArgs ?? {})) flags.push('--opt', `build-arg:${k}=${v}`);
  if (recipe.target !== undefined) flags.push('--opt', `target=${recipe.target}`);
  return [...flags, ...secretFlags(recipe, secretsDir)];
}

async function buildkitOutcome(recipe: Recipe, ctx: string, work: string, base: { layout: string; digest: string }, baseSnap: Snapshot, p: Placeholders): Promise<Outcome> {
  const out = join(work, `${recipe.name}.bk.tar`);
  const args = [
    'build', '--frontend', 'dockerfile.v0', '--opt', 'cmdline=',
    '--local', `context=${ctx}`, '--local', `dockerfile=${ctx}`,
    '--oci-layout', `base=${base.layout}`, '--opt', `context:${p.BASE}=oci-layout://base@${base.digest}`,
    ...buildctlFlags(recipe, join(work, 'secrets', recipe.name)),
    '--output', `type=docker,name=bk-${recipe.name}:latest,dest=${out}`,
  ];
  const r = await runCommand(process.env.BUILDCTL ?? 'buildctl', args);
  if (r.code !== 0) return { fails: true, error: unfill(r.stderr.trim().split('\n').slice(-3).join('\n'), p) };
  try {
    return { fails: false, image: unfill(againstBase(await snapshotArchive(out), baseSnap), p) };
  } finally {
    rmSync(out, { force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const compare = argv.includes('--compare');
  const writeAll = argv.includes('--write-all');
  const prefixes = argv.filter((a) => !a.startsWith('--'));
  const selected = recipes.filter((r) => prefixes.length === 0 ? r.oracle === 'buildkit-0.24' : prefixes.some((x) => r.name.startsWith(x)));
  const work = mkdtempSync(join(tmpdir(), 'kiln-record-'));
  const server = createServer((req, res) => {
    const file = httpFiles[req.url ?? ''];
    if (!file) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Last-Modified': 'Tue, 02 Jan 2024 03:04:05 GMT', 'Content-Length': String(file.length) });
    res.end(req.method === 'HEAD' ? undefined : file);
  });
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const nonce = `rec${randomBytes(3).toString('hex')}`;
    const p: Placeholders = { BASE: `kiln-diff-base-${nonce}`, NONCE: nonce, URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    const store = join(work, 'store');
    const base = await buildBase(work, store, p.BASE);
    const baseSnap = await snapshotArchive(base.archive);
    const layout = await baseLayout(work, store, p.BASE);
    if (compare) await runCommand(DOCKER, ['load', '-i', base.archive]);
    const one = async (recipe: Recipe): Promise<void> => {
      const ctx = join(work, 'ctx', recipe.name);
      await writeContext(ctx, recipe, p);
      const primed = primerOf(recipe);
      if (primed !== undefined) {
        // Into the same BuildKit cache first, as the suite primes kiln's store.
        const primedCtx = join(work, 'ctx', primed.name);
        await writeContext(primedCtx, primed, p);
        const primedOutcome = await buildkitOutcome(primed, primedCtx, work, layout, baseSnap, p);
        if (primedOutcome.fails) throw new Error(`the primer of ${recipe.name} fails: ${primedOutcome.error}`);
      }
      const bk = await buildkitOutcome(recipe, ctx, work, layout, baseSnap, p);
      let verdict = bk.fails ? `fails: ${bk.error.replace(/\n/g, ' | ')}` : 'builds';
      if (compare && recipe.crashesDocker === undefined) {
        mkdirSync(join(work, 'out'), { recursive: true });
        const image = `kiln-record-${nonce}-${recipe.name}`;
        const d = await dockerBuild(recipe, ctx, image, join(work, 'out', `${recipe.name}.tar`), join(work, 'dsecrets', recipe.name));
        await removeDockerImages([image]);
        const docker: Outcome = d.ok && d.snapshot ? { fails: false, image: unfill(againstBase(d.snapshot, baseSnap), p) } : { fails: true, error: d.output.trim().split('\n').slice(-2).join(' | ') };
        if (docker.fails !== bk.fails) verdict += `; docker 20.10 ${docker.fails ? `fails: ${docker.error}` : 'builds'}`;
        else if (!docker.fails && !bk.fails) {
          const diffs = differences(bk.image, docker.image).map((d2) => d2.replace('kiln', 'docker 20.10'));
          verdict += diffs.length === 0 ? '; docker 20.10 agrees' : `; docker 20.10 differs:\n    ${diffs.join('\n    ')}`;
        } else verdict += '; docker 20.10 fails too';
      }
      console.log(`${recipe.name}: ${verdict}`);
      if (writeAll || recipe.oracle === 'buildkit-0.24') writeFixture(recipe.name, { recordedWith: RECORDED_WITH, outcome: bk });
    };
    // A few at a time: buildkitd and dockerd both build in parallel.
    const queue = [...selected];
    await Promise.all(Array.from({ length: 4 }, async () => { for (let r = queue.shift(); r; r = queue.shift()) await one(r); }));
    if (compare) await runCommand(DOCKER, ['rmi', '-f', p.BASE]);
  } finally {
    server.close();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.env.NODE_TEST_CONTEXT === undefined && process.argv[1]?.endsWith('recordFixtures.js')) {
  main(process.argv.slice(2)).catch((e: unknown) => { console.error(e); process.exitCode = 1; });
}
