/**
 * The cache, scheduler and progress wired into the build engine, driven with a fake
 * container runner (no namespaces needed): RUN "work NAME MS" writes /NAME after MS
 * milliseconds, RUN "fail MS" exits 1 after MS milliseconds; both honour the abort signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from '../../../../engine/build.js';
import { BuildCache } from '../../../../engine/schedule/cachedStep.js';
import { Progress } from '../../../../engine/progress/progress.js';
import type { ProgressEvent } from '../../../../engine/progress/events.js';
import { Store } from '../../../../engine/store/store.js';
import { extractTar } from '../../../../engine/layer/extract.js';
import type { ContainerRunner } from '../../../../engine/steps/runProcess.js';
import { shellExpander } from '../../../../engine/plan/shellExpander.js';
import type { Recipe } from '../../../../grammar/recipe.js';
import { outsideRacyWindow } from '../../../support/racyWindow.js';
import { parseDockerfile } from '../../../../grammar/parser.js';
import { toRecipe } from '../../../../grammar/instructions.js';

function dockerfile(text: string): Recipe {
  return toRecipe(parseDockerfile(text));
}

const expander = shellExpander('\\');

interface Harness {
  store: Store;
  context: string;
  runs: string[];
  /** Runs the abort signal ended before their time was up. */
  aborted: string[];
  runner: ContainerRunner;
}

async function harness(): Promise<Harness> {
  const base = mkdtempSync(join(tmpdir(), 'kiln-buildcache-'));
  const store = await Store.open({ root: join(base, 'store'), unpackLayer: extractTar });
  const context = join(base, 'ctx');
  mkdirSync(join(context, 'src'), { recursive: true });
  writeFileSync(join(context, 'src', 'a.c'), 'int a;');
  writeFileSync(join(context, 'src', 'b.c'), 'int b;');
  const old = Date.now() / 1000 - 60;
  for (const f of ['src/a.c', 'src/b.c']) utimesSync(join(context, f), old, old);
  await outsideRacyWindow(context);
  const runs: string[] = [];
  const aborted: string[] = [];
  const runner: ContainerRunner = async (spec, io) => {
    const text = spec.argv[spec.argv.length - 1] ?? '';
    const [verb, a, b] = text.split(' ');
    runs.push(text);
    const ms = Number(verb === 'work' ? b : a);
    try {
      await sleep(ms, undefined, io?.signal ? { signal: io.signal } : {});
    } catch (err) {
      aborted.push(text);
      throw err;
    }
    if (verb === 'fail') {
      io?.onStderr?.(Buffer.from('it failed\n'));
      return { exitCode: 1 };
    }
    spec.beforeStart?.();
    await writeFile(join(spec.rootfs.kind === 'dir' ? spec.rootfs.dir : spec.rootfs.upperDir, a as string), `${text}\n${spec.env.join('\n')}\n`);
    io?.onStdout?.(Buffer.from(`wrote ${a}\n`));
    return { exitCode: 0 };
  };
  return { store, context, runs, aborted, runner };
}

async function kilnBuild(h: Harness, r: Recipe, options: { buildArgs?: Record<string, string>; explain?: boolean; noCache?: boolean } = {}): Promise<ProgressEvent[]> {
  const events: ProgressEvent[] = [];
  const progress = new Progress(undefined);
  progress.onEvent((e) => events.push(e));
  const cache = await BuildCache.open({
    store: h.store, contextDir: h.context, ignorePatterns: [], dockerfileName: 'Dockerfile', progress, escape: r.escape,
    explain: options.explain ?? true, ...(options.noCache ? { noCache: true } : {}),
  });
  try {
    await build({
      store: h.store, recipe: r, dockerfileName: 'Dockerfile', contextDir: h.context, ignorePatterns: [],
      buildArgs: new Map(Object.entries(options.buildArgs ?? {})), namedContexts: new Map(), secrets: new Map(),
      progress, expander, runner: h.runner, parseTrigger: () => [], cache,
    });
  } finally {
    await cache.close();
  }
  return events;
}

/** "#N name: HIT" / "#N name: MISS: reasons" for every step that has a note. */
function verdicts(events: ProgressEvent[]): string[] {
  return events.filter((e): e is Extract<ProgressEvent, { type: 'note' }> => e.type === 'note').map((e) => `${e.step.name.replace(/^\[[^\]]*\] /, '')}: ${e.text}`);
}

function fourStages(): Recipe {
  return dockerfile(`FROM scratch AS s1
RUN work one 300
FROM scratch AS s2
RUN work two 300
FROM scratch AS s3
RUN work three 300
FROM scratch AS s4
RUN work four 300
FROM scratch
COPY --from=s1 /one /
COPY --from=s2 /two /
COPY --from=s3 /three /
COPY --from=s4 /four /
`);
}

test('independent stages run at the same time: every RUN starts before any ends', async () => {
  const h = await harness();
  const events = await kilnBuild(h, fourStages());
  const runSteps = events.filter((e) => (e.type === 'started' || e.type === 'done') && / RUN /.test(e.step.name));
  const order = runSteps.map((e) => e.type);
  assert.deepEqual(order, ['started', 'started', 'started', 'started', 'done', 'done', 'done', 'done']);
  // Each COPY of the final stage starts once the stage it copies from is done (not every one).
  for (const word of ['one', 'two', 'three', 'four']) {
    const copy = events.findIndex((e) => e.type === 'started' && new RegExp(` COPY --from=s\\d /${word} `).test(e.step.name));
    const ran = events.findIndex((e) => e.type === 'done' && new RegExp(` RUN work ${word} `).test(e.step.name));
    assert.ok(copy > ran && ran >= 0, `COPY /${word} after its stage's RUN`);
  }
  rmSync(join(h.context, '..'), { recursive: true });
});

test('a rebuild is all cache hits and runs nothing; --no-cache runs everything again', async () => {
  const h = await harness();
  await kilnBuild(h, fourStages());
  assert.equal(h.runs.length, 4);
  const again = await kilnBuild(h, fourStages());
  assert.equal(h.runs.length, 4, 'no RUN executed on the rebuild');
  assert.equal(again.filter((e) => e.type === 'cached').length, 8);
  assert.ok(verdicts(again).every((v) => v.endsWith(': HIT')), verdicts(again).join('\n'));
  const forced = await kilnBuild(h, fourStages(), { noCache: true });
  assert.equal(h.runs.length, 8);
  assert.ok(verdicts(forced).every((v) => v.endsWith('MISS: --no-cache')));
  rmSync(join(h.context, '..'), { recursive: true });
});

function copyRecipe(): Recipe {
  return dockerfile('FROM scratch\nARG VERSION=1\nRUN work first 1\nCOPY src /src\nRUN work after 1\n');
}

test('one changed byte misses the COPY and what follows, nothing before; --explain names the file', async () => {
  const h = await harness();
  await kilnBuild(h, copyRecipe());
  writeFileSync(join(h.context, 'src', 'b.c'), 'int c;');
  const events = await kilnBuild(h, copyRecipe());
  assert.deepEqual(verdicts(events), [
    'ARG VERSION=1: HIT',
    'RUN work first 1: HIT',
    'COPY src /src: MISS: file changed: src/b.c',
    'RUN work after 1: MISS: parent step missed',
  ]);
  assert.deepEqual(h.runs, ['work first 1', 'work after 1', 'work after 1']);
  rmSync(join(h.context, '..'), { recursive: true });
});

test('touched but unchanged files stay cached', async () => {
  const h = await harness();
  await kilnBuild(h, copyRecipe());
  const now = Date.now() / 1000;
  utimesSync(join(h.context, 'src', 'a.c'), now, now);
  writeFileSync(join(h.context, 'src', 'b.c'), readFileSync(join(h.context, 'src', 'b.c')));
  const events = await kilnBuild(h, copyRecipe());
  assert.ok(verdicts(events).every((v) => v.endsWith(': HIT')), verdicts(events).join('\n'));
  assert.equal(h.runs.length, 2);
  rmSync(join(h.context, '..'), { recursive: true });
});

test('--explain names a changed ARG', async () => {
  const h = await harness();
  await kilnBuild(h, copyRecipe());
  const events = await kilnBuild(h, copyRecipe(), { buildArgs: { VERSION: '2' } });
  const v = verdicts(events);
  assert.equal(v[0], 'ARG VERSION=1: MISS: ARG VERSION changed: "1" → "2"');
  assert.equal(v[1], 'RUN work first 1: MISS: parent step missed; ARG VERSION changed: "1" → "2"');
  rmSync(join(h.context, '..'), { recursive: true });
});

test('a COPY is keyed by the files its sources select as the step expands them (a build arg), and a word that does not expand fails the step, not the cache', async () => {
  const h = await harness();
  const r = dockerfile('FROM scratch\nARG SRC\nCOPY src/${SRC} /in/\n');
  await kilnBuild(h, r, { buildArgs: { SRC: 'a.c' } });
  writeFileSync(join(h.context, 'src', 'b.c'), 'int c;');
  assert.deepEqual(verdicts(await kilnBuild(h, r, { buildArgs: { SRC: 'a.c' } })).at(-1), 'COPY src/a.c /in/: HIT', 'b.c is not what it copies');
  const other = verdicts(await kilnBuild(h, r, { buildArgs: { SRC: 'b.c' } }));
  assert.match(other.at(-1) ?? '', /^COPY src\/b\.c \/in\/: MISS: .*ARG SRC changed: "a\.c" → "b\.c".*file added: src\/b\.c/);
  const unset = dockerfile('FROM scratch\nARG SRC\nCOPY src/${SRC:?unset} /in/\n');
  await assert.rejects(kilnBuild(h, unset), (e: Error) => /SRC: unset|unset/.test(e.message) && !/cache/i.test(e.message));
  rmSync(join(h.context, '..'), { recursive: true });
});

test('identical steps in two stages run once', async () => {
  const h = await harness();
  await kilnBuild(h, dockerfile('FROM scratch AS x\nRUN work same 200\nFROM scratch AS y\nRUN work same 200\nFROM scratch\nCOPY --from=x /same /\nCOPY --from=y /same /y\n'));
  assert.deepEqual(h.runs, ['work same 200']);
  rmSync(join(h.context, '..'), { recursive: true });
});

test('a failing stage cancels its running siblings, is the error reported, and leaves no mount behind', async () => {
  const h = await harness();
  const r = dockerfile(`FROM scratch AS ok1
RUN work base 1
RUN work slow 600000
FROM scratch AS bad
RUN fail 100
FROM scratch AS ok2
RUN work base2 1
RUN work slow2 600000
FROM scratch
COPY --from=ok1 /slow /
COPY --from=bad /x /
COPY --from=ok2 /slow2 /
`);
  let events: ProgressEvent[] = [];
  const progress = new Progress(undefined);
  progress.onEvent((e) => events.push(e));
  await assert.rejects(
    build({
      store: h.store, recipe: r, dockerfileName: 'Dockerfile', contextDir: h.context, ignorePatterns: [], buildArgs: new Map(),
      namedContexts: new Map(), secrets: new Map(), progress, expander, runner: h.runner, parseTrigger: () => [],
    }),
    (e: Error) => /fail 100/.test(e.message) || /exit code: 1/.test(e.message),
  );
  // The ten-minute siblings either never started or were aborted: none ran to its end.
  const slowStarted = h.runs.filter((r) => r.startsWith('work slow'));
  assert.deepEqual(h.aborted.filter((r) => r.startsWith('work slow')).sort(), slowStarted.sort(), 'every slow sibling that started was aborted');
  const errors = events.filter((e) => e.type === 'error').map((e) => e.step.name);
  assert.ok(errors.some((n) => / RUN fail 100/.test(n)), errors.join(', '));
  assert.equal(events.filter((e) => e.type === 'done' && /slow/.test(e.step.name)).length, 0);
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  assert.ok(!mounts.includes(h.store.root), 'no mount under the store');
  events = [];
  rmSync(join(h.context, '..'), { recursive: true });
});

test('a stage that copies from another runs its earlier steps without waiting for it', async () => {
  const h = await harness();
  const events = await kilnBuild(h, dockerfile('FROM scratch AS a\nRUN work a 300\nFROM scratch\nRUN work early 300\nCOPY --from=a /a /a\nRUN work late 1\n'));
  const order = events.filter((e) => (e.type === 'started' || e.type === 'done') && / (RUN|COPY) /.test(e.step.name)).map((e) => `${e.type} ${e.step.name.replace(/^\[[^\]]*\] /, '')}`);
  assert.deepEqual(order.slice(0, 2).sort(), ['started RUN work a 300', 'started RUN work early 300']);
  assert.ok(order.indexOf('started COPY --from=a /a /a') > order.indexOf('done RUN work a 300'));
  assert.deepEqual(order.slice(-2), ['started RUN work late 1', 'done RUN work late 1']);
  rmSync(join(h.context, '..'), { recursive: true });
});
