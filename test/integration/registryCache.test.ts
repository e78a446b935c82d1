/**
 * The shared build cache through a real registry, as `kiln build --cache-to/--cache-from
 * type=registry,ref=R` does it: a build on one store exports the cache records it made and their
 * layers (exportBuildCache); a second, empty store imports them (importBuildCaches) and its cold
 * build of the same recipe is all cache hits, running nothing. Steps run through a fake
 * container runner, so no root is needed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from '../../engine/build.js';
import { BuildCache } from '../../engine/schedule/cachedStep.js';
import { Progress } from '../../engine/progress/progress.js';
import type { ProgressEvent } from '../../engine/progress/events.js';
import { Store } from '../../engine/store/store.js';
import { extractTar } from '../../engine/layer/extract.js';
import type { ContainerRunner } from '../../engine/steps/runProcess.js';
import { CacheIndex } from '../../cache/recordIndex.js';
import { shellExpander } from '../../engine/plan/shellExpander.js';
import { parseDockerfile } from '../../grammar/parser.js';
import { toRecipe } from '../../grammar/instructions.js';
import { exportBuildCache, importBuildCaches } from '../../engine/cli/buildCacheExchange.js';
import { parseRegistryCacheSpec } from '../../engine/registry/cacheSpec.js';
import { prerequisite } from '../support/env.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../../harness/registry.js';

const expander = shellExpander('\\');

const RECIPE = `FROM scratch AS tools
RUN work tool 10
FROM scratch
COPY src/ /src/
RUN work compiled 10
COPY --from=tools /tool /bin/tool
WORKDIR /app
RUN work packaged 10
`;

const available = registryAvailable();
let reg: TestRegistry | undefined;
const dirs: string[] = [];

before(async () => {
  if (available) reg = await startRegistry();
});
after(async () => {
  await reg?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function machine(context: string): Promise<{ store: Store; runs: string[]; runner: ContainerRunner }> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-machine-'));
  dirs.push(dir);
  const store = await Store.open({ root: join(dir, 'store'), unpackLayer: extractTar });
  const runs: string[] = [];
  const runner: ContainerRunner = async (spec) => {
    const text = spec.argv[spec.argv.length - 1] ?? '';
    runs.push(text);
    const [, name] = text.split(' ');
    spec.beforeStart?.();
    await writeFile(join(spec.rootfs.kind === 'dir' ? spec.rootfs.dir : spec.rootfs.upperDir, name as string), `${text}\n`);
    return { exitCode: 0 };
  };
  void context;
  return { store, runs, runner };
}

async function cachedBuild(store: Store, context: string, runner: ContainerRunner): Promise<{ events: ProgressEvent[]; id: string }> {
  const events: ProgressEvent[] = [];
  const progress = new Progress(undefined);
  progress.onEvent((e) => events.push(e));
  const cache = await BuildCache.open({ store, contextDir: context, ignorePatterns: [], dockerfileName: 'Dockerfile', progress, explain: true, escape: '\\' });
  try {
    const result = await build({
      store, recipe: toRecipe(parseDockerfile(RECIPE)), dockerfileName: 'Dockerfile', contextDir: context, ignorePatterns: [],
      buildArgs: new Map(), namedContexts: new Map(), secrets: new Map(), progress, expander, runner, parseTrigger: () => [], cache,
    });
    return { events, id: result.record.id };
  } finally {
    await cache.close();
  }
}

function makeContext(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ctx-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'main.c'), 'int main(void) { return 0; }\n');
  writeFileSync(join(dir, 'src', 'util.c'), 'int util;\n');
  const old = Date.now() / 1000 - 120;
  for (const f of ['src/main.c', 'src/util.c', 'src']) utimesSync(join(dir, f), old, old);
  return dir;
}

test('--cache-from on an empty store turns a cold build into all cache hits', async (t) => {
  if (!prerequisite(t, available, 'docker-registry, htpasswd and openssl are needed')) return;
  const contextA = makeContext();
  await sleep(150); // past the stat cache's racy window
  const a = await machine(contextA);
  // A record from an older build, untouched by this one, must not be exported.
  const indexA = new CacheIndex(a.store.root);
  await indexA.put({ key: 'e'.repeat(32), diffIds: [], config: {}, createdAt: '2020-01-01T00:00:00.000Z' });
  const past = new Date(Date.now() - 3600_000);
  await utimes(join(indexA.dir, 'ee', `${'e'.repeat(32)}.json`), past, past);
  const started = new Date();
  const first = await cachedBuild(a.store, contextA, a.runner);
  assert.equal(a.runs.length, 3, 'the first machine runs every RUN');

  // --cache-to type=registry,ref=R,mode=max: every record this build made or used.
  const keys = (await indexA.list()).map((r) => r.key).filter((k) => k !== 'e'.repeat(32));
  assert.ok(keys.length >= 6, `records for the layer-making steps (${keys.length})`);
  const ref = `${reg?.host}/team/app:buildcache`;
  const exported = await exportBuildCache(a.store, parseRegistryCacheSpec('--cache-to', `type=registry,ref=${ref},mode=max`), started);
  assert.equal(exported, keys.length);

  // Another machine: its own checkout of the same sources, an empty store.
  const contextB = mkdtempSync(join(tmpdir(), 'kiln-ctx-'));
  dirs.push(contextB);
  cpSync(contextA, contextB, { recursive: true, preserveTimestamps: false });
  await sleep(150);
  const b = await machine(contextB);
  const imported = await importBuildCaches(b.store, [parseRegistryCacheSpec('--cache-from', `type=registry,ref=${ref}`)]);
  assert.equal(imported, keys.length);
  assert.equal(await new CacheIndex(b.store.root).get('e'.repeat(32)), undefined);
  const second = await cachedBuild(b.store, contextB, b.runner);
  assert.deepEqual(b.runs, [], 'nothing ran on the second machine');
  const notes = second.events.filter((e): e is Extract<ProgressEvent, { type: 'note' }> => e.type === 'note').map((e) => `${e.step.name}: ${e.text}`);
  assert.ok(notes.length >= 6 && notes.every((n) => n.endsWith(': HIT')), notes.join('\n'));
  assert.equal(second.events.filter((e) => e.type === 'cached').length, first.events.filter((e) => e.type === 'done' && / (RUN|COPY|WORKDIR) /.test(e.step.name)).length);
  // Same layers and history. (The image's top-level `created` is the build's own time, so the
  // image ID matches only when SOURCE_DATE_EPOCH pins it; that is the build engine's rule.)
  const [ca, cb] = [await a.store.getImage(first.id), await b.store.getImage(second.id)];
  assert.deepEqual(cb?.config.rootfs, ca?.config.rootfs);
  assert.deepEqual(cb?.config.history, ca?.config.history);
  assert.deepEqual(cb?.config.config, ca?.config.config);
});
