/**
 * A build plan as scheduler tasks. A stage that reads another one (COPY --from, RUN --mount
 * from=, an inherited ONBUILD trigger) is two tasks: its steps up to that read wait only for its
 * base; the rest waits for the stages it reads too. So each step waits only for what it depends
 * on, and no task ever waits inside a queue slot.
 */
import type { BuildPlan, PlannedStage } from '../plan/graph.js';
import type { GraphTask } from './scheduler.js';

/** How a stage is run: whole, or in the two parts around its first read of another stage. */
export interface StagePhases<R> {
  whole(index: number, signal: AbortSignal): Promise<R>;
  /** Starts the stage and runs its steps up to the first that reads another stage. */
  beforeReads(index: number, signal: AbortSignal): Promise<R>;
  /** Runs the rest of a stage beforeReads started. */
  afterReads(index: number, signal: AbortSignal): Promise<R>;
}

export function stageTasks<R>(plan: BuildPlan, phases: StagePhases<R>): GraphTask<R>[] {
  const tasks: GraphTask<R>[] = [];
  for (const i of plan.order) {
    const planned = plan.stages[i] as PlannedStage;
    const deps = [...planned.deps];
    const baseDeps = planned.base.kind === 'stage' ? [planned.base.index] : [];
    const reads = deps.filter((d) => !baseDeps.includes(d));
    if (reads.length === 0) {
      tasks.push({ id: String(i), deps: deps.map(String), run: (signal) => phases.whole(i, signal) });
      continue;
    }
    tasks.push({ id: `${i}:before-reads`, deps: baseDeps.map(String), run: (signal) => phases.beforeReads(i, signal) });
    tasks.push({ id: String(i), deps: [`${i}:before-reads`, ...reads.map(String)], run: (signal) => phases.afterReads(i, signal) });
  }
  return tasks;
}
