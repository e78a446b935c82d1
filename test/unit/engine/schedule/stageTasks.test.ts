import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGraph } from '../../../../engine/schedule/scheduler.js';
import { stageTasks, type StagePhases } from '../../../../engine/schedule/stageTasks.js';
import type { BuildPlan, PlannedStage } from '../../../../engine/plan/graph.js';

/** A plan of image-based stages; `reads[i]` are the stages stage i reads, in order. */
function plan(reads: number[][]): BuildPlan {
  const stages = reads.map((r): PlannedStage => ({
    stage: { index: 0, from: {} as PlannedStage['stage']['from'], instructions: [] },
    baseName: 'busybox', base: { kind: 'image', ref: 'busybox' }, platform: undefined, deps: new Set(r), reads: r,
  }));
  return { stages, target: reads.length - 1, order: reads.map((_, i) => i) };
}

/** Phases that log what runs; stage `slow` finishes only when `release` is called. */
function phases(log: string[], slow: number): { phases: StagePhases<string>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  return {
    release,
    phases: {
      whole: async (i) => { log.push(`start ${i}`); if (i === slow) await gate; log.push(`end ${i}`); return String(i); },
      beforeReads: async (i) => { log.push(`before ${i}`); return String(i); },
      readsFrom: async (i, ready) => { log.push(`part ${i} [${[...ready].join(',')}]`); return String(i); },
      afterReads: async (i) => { log.push(`rest ${i}`); return String(i); },
    },
  };
}

test('a stage reading three others goes on with each part as soon as the stage it reads is done', async () => {
  const log: string[] = [];
  const { phases: p, release } = phases(log, 2);
  const done = runGraph(stageTasks(plan([[], [], [], [0, 1, 2]]), p));
  // Stage 2 is still running: the parts reading stages 0 and 1 have run meanwhile.
  for (let i = 0; i < 50 && !log.includes('part 3 [0,1]'); i++) await new Promise((r) => setImmediate(r));
  assert.ok(log.includes('part 3 [0]') && log.includes('part 3 [0,1]'), log.join('; '));
  assert.ok(!log.includes('rest 3') && !log.includes('end 2'), log.join('; '));
  release();
  await done;
  assert.ok(log.indexOf('rest 3') > log.indexOf('end 2'), log.join('; '));
});

test('the parts of a stage run in order, one queue slot at a time (--jobs 1 never deadlocks)', async () => {
  const log: string[] = [];
  const { phases: p, release } = phases(log, -1);
  release();
  await runGraph(stageTasks(plan([[], [], [1, 0]]), p), { jobs: 1 });
  const parts = log.filter((l) => l.endsWith(' 2') || l.startsWith('part 2') || l.startsWith('rest 2') || l.startsWith('before 2'));
  assert.deepEqual(parts, ['before 2', 'part 2 [1]', 'rest 2']);
});
