/**
 * A build plan as scheduler tasks. A stage that reads others (COPY --from, RUN --mount from=,
 * an inherited ONBUILD trigger) is a chain of tasks: its steps up to its first read wait only
 * for its base; each next part, up to the next step that reads a stage not read yet, waits for
 * the part before it and for that one stage. So a step waits only for what it depends on (a
 * stage copying from four others starts on the first one done), and no task ever waits inside
 * a queue slot.
 */
import type { BuildPlan, PlannedStage } from '../plan/graph.js';
import type { GraphTask } from './scheduler.js';

/** How a stage is run: whole, or in parts between its reads of other stages. */
export interface StagePhases<R> {
  whole(index: number, signal: AbortSignal): Promise<R>;
  /** Starts the stage and runs its steps up to the first that reads another stage. */
  beforeReads(index: number, signal: AbortSignal): Promise<R>;
  /** Goes on with a stage beforeReads started, up to the first step reading a stage not in `ready`. */
  readsFrom(index: number, ready: ReadonlySet<number>, signal: AbortSignal): Promise<R>;
  /** Runs the rest of a stage beforeReads started, every stage it reads now done. */
  afterReads(index: number, signal: AbortSignal): Promise<R>;
}

export function stageTasks<R>(plan: BuildPlan, phases: StagePhases<R>): GraphTask<R>[] {
  const tasks: GraphTask<R>[] = [];
  for (const i of plan.order) {
    const planned = plan.stages[i] as PlannedStage;
    const baseDeps = planned.base.kind === 'stage' ? [String(planned.base.index)] : [];
    const { reads } = planned;
    if (reads.length === 0) {
      tasks.push({ id: String(i), deps: baseDeps, run: (signal) => phases.whole(i, signal) });
      continue;
    }
    tasks.push({ id: `${i}:before-reads`, deps: baseDeps, run: (signal) => phases.beforeReads(i, signal) });
    reads.forEach((stage, k) => {
      const last = k === reads.length - 1;
      const previous = k === 0 ? `${i}:before-reads` : `${i}:reads-${k}`;
      const ready = new Set(reads.slice(0, k + 1));
      tasks.push({
        id: last ? String(i) : `${i}:reads-${k + 1}`,
        deps: [previous, String(stage)],
        run: (signal) => (last ? phases.afterReads(i, signal) : phases.readsFrom(i, ready, signal)),
      });
    });
  }
  return tasks;
}
