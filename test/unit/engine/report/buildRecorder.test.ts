/**
 * The build recorder behind `kiln build --report`: fed a real plan and progress events on a
 * clock the test controls, it reports every planned step (reached or not) with its status,
 * the graph's edges, when each step could start, the critical path and the totals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../../../grammar/parser.js';
import { toRecipe } from '../../../../grammar/instructions.js';
import { planStages } from '../../../../engine/plan/graph.js';
import { shellExpander } from '../../../../engine/plan/shellExpander.js';
import { Progress } from '../../../../engine/progress/progress.js';
import { BuildRecorder, OUTPUT_KEPT } from '../../../../engine/report/buildRecorder.js';
import type { StageInstruction } from '../../../../grammar/recipe.js';

const RECIPE = [
  'FROM base AS a',        // 1
  'RUN sleep 1',           // 2
  'FROM base AS b',        // 3
  'RUN sleep 2',           // 4
  'FROM a',                // 5
  'COPY --from=b /x /x',   // 6
  'RUN --mount=type=bind,from=other:img,target=/m true', // 7
  'CMD ["x"]',             // 8
].join('\n');

function setUp() {
  const recipe = toRecipe(parseDockerfile(RECIPE));
  const plan = planStages(recipe, { globals: new Map(), namedContexts: new Set(), expander: shellExpander('\\'), dockerfileName: 'Dockerfile' });
  let clock = 1000;
  const now = (): number => clock;
  const progress = new Progress(undefined, now);
  const recorder = new BuildRecorder({ dockerfile: 'Dockerfile', context: '.', tags: ['t:1'], namedContexts: new Set(), now });
  progress.onEvent(recorder.event);
  recorder.planned(plan);
  const instr = (stage: number, i: number): StageInstruction => recipe.stages[stage]?.instructions[i] as StageInstruction;
  const stepOf = (stage: number, position: number) => {
    const ref = progress.step(`step ${stage}.${position}`, String(stage));
    recorder.step(ref, { stage, position, ...(position > 0 ? { instruction: instr(stage, position - 1) } : {}), onbuild: false });
    return ref;
  };
  return { progress, recorder, stepOf, at: (t: number) => { clock = 1000 + t; } };
}

test('a build that ran: statuses, edges, queued times, the critical path and totals', async () => {
  const { progress, recorder, stepOf, at } = setUp();
  // Stages a and b side by side; stage 2 waits for both.
  const a0 = stepOf(0, 0); const b0 = stepOf(1, 0);
  at(0); progress.started(a0); progress.started(b0);
  at(5); progress.done(a0); progress.done(b0);
  const a1 = stepOf(0, 1); const b1 = stepOf(1, 1);
  at(5); progress.started(a1); progress.started(b1);
  recorder.verdict(a1, 'HIT');
  recorder.verdict(b1, 'MISS: instruction changed: RUN sleep 1 → RUN sleep 2');
  at(10); progress.cached(a1);
  const c0 = stepOf(2, 0);
  at(12); progress.started(c0); progress.done(c0);
  at(2005); progress.output(b1, 'stdout', 'slept\n'); progress.done(b1);
  recorder.layers(b1, ['sha256:bb']);
  const c1 = stepOf(2, 1);
  at(2006); progress.started(c1);
  at(2010); progress.done(c1);
  recorder.layers(c1, ['sha256:cc']);
  const c2 = stepOf(2, 2); progress.started(c2); at(2020); progress.done(c2);
  const c3 = stepOf(2, 3); progress.started(c3); progress.done(c3);
  const sizes: Record<string, number> = { 'sha256:bb': 100, 'sha256:cc': 20 };
  const r = await recorder.finish({ imageId: 'sha256:img', imageSize: 1234, layerSize: async (d) => sizes[d] });

  assert.equal(r.outcome, 'succeeded');
  assert.deepEqual(r.stages.map((s) => [s.index, s.label, s.target]), [[0, 'a', false], [1, 'b', false], [2, '2', true]]);
  assert.equal(r.steps.length, 8);
  const byNumber = (n: number) => r.steps.find((s) => s.number === n);
  assert.equal(byNumber(a1.id)?.status, 'cached');
  assert.equal(byNumber(a1.id)?.verdict, 'HIT');
  assert.equal(byNumber(b1.id)?.status, 'ran');
  assert.equal(byNumber(b1.id)?.line, 4);
  assert.equal(byNumber(b1.id)?.output, 'slept\n');
  assert.deepEqual(byNumber(b1.id)?.layers, [{ diffId: 'sha256:bb', size: 100 }]);
  // The COPY --from=b waited for b's RUN, not just for the step before it.
  assert.equal(byNumber(c1.id)?.queued, 2005);
  assert.deepEqual(r.sources.map((s) => s.id), ['image:base', 'image:other:img']);
  const kinds = r.edges.map((e) => `${e.from}>${e.to}:${e.kind}`);
  assert.ok(kinds.includes(`image:base>#${a0.id}:base-image`));
  assert.ok(kinds.includes(`#${a1.id}>#${c0.id}:base-stage`));
  assert.ok(kinds.includes(`#${b1.id}>#${c1.id}:copy-from`));
  assert.ok(kinds.includes(`image:other:img>#${c2.id}:mount-from`));
  assert.ok(kinds.includes(`#${c1.id}>#${c2.id}:order`));
  // The slow stage b decided the end; stage a's cached RUN did not.
  const critical = r.steps.filter((s) => s.critical).map((s) => s.number);
  assert.deepEqual(critical.sort(), [b0.id, b1.id, c1.id, c2.id, c3.id].sort());
  assert.deepEqual({ ...r.totals, durationMs: 0 }, {
    durationMs: 0, steps: 8, cached: 1, ran: 7, failed: 0, canceled: 0, skipped: 0, bytesWritten: 120, imageId: 'sha256:img', imageSize: 1234,
  });
});

test('a failed build: the failing step, the ones stopped with it, and the ones never reached', async () => {
  const { progress, recorder, stepOf, at } = setUp();
  const a0 = stepOf(0, 0); const b0 = stepOf(1, 0);
  progress.started(a0); progress.started(b0); progress.done(a0); progress.done(b0);
  const a1 = stepOf(0, 1); const b1 = stepOf(1, 1);
  progress.started(a1); progress.started(b1);
  at(50); progress.error(b1, 'process "/bin/sh -c sleep 2" exited 1');
  progress.error(a1, 'build canceled');
  const r = await recorder.finish({ error: new Error('process "/bin/sh -c sleep 2" exited 1'), layerSize: async () => undefined });
  assert.equal(r.outcome, 'failed');
  assert.match(r.error ?? '', /exited 1/);
  const status = (n: number) => r.steps.find((s) => s.number === n)?.status;
  assert.equal(status(b1.id), 'failed');
  assert.equal(status(a1.id), 'canceled');
  // Stage 2 never began: all four of its steps are there, skipped, still linked in the graph.
  const skipped = r.steps.filter((s) => s.status === 'skipped');
  assert.deepEqual(skipped.map((s) => [s.stage, s.position, s.line]), [[2, 0, 5], [2, 1, 6], [2, 2, 7], [2, 3, 8]]);
  assert.ok(r.edges.some((e) => e.from === `#${b1.id}` && e.to === skipped[1]?.id && e.kind === 'copy-from'));
  assert.equal(r.totals.skipped, 4);
  assert.equal(r.totals.failed, 1);
  assert.equal(r.totals.canceled, 1);
});

test('a step\'s output is kept up to a bound, its tail, and the report says how much was left out', async () => {
  const { progress, recorder, stepOf } = setUp();
  const a0 = stepOf(0, 0);
  progress.started(a0);
  const chunk = `${'x'.repeat(1023)}\n`;
  const chunks = Math.ceil((OUTPUT_KEPT * 2) / chunk.length);
  for (let i = 0; i < chunks; i++) progress.output(a0, 'stdout', chunk);
  progress.output(a0, 'stderr', 'the end\n');
  progress.done(a0);
  const r = await recorder.finish({ layerSize: async () => 0 });
  const step = r.steps.find((s) => s.number === a0.id);
  assert.ok(step);
  assert.ok(step.output.length <= OUTPUT_KEPT, `kept ${step.output.length}`);
  assert.ok(step.output.endsWith('the end\n'));
  assert.equal(step.output.length + step.outputDropped, chunks * chunk.length + 'the end\n'.length);
});
