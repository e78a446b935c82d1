/**
 * Runs a build graph: each task starts as soon as the tasks it depends on are done, at
 * most `jobs` at a time (p-queue). The first failure aborts the signal every running task
 * holds (containers are killed, mounts undone in their finally blocks), waits for them all
 * to settle, and is the error the caller gets — never a secondary "aborted" error.
 */
import { availableParallelism } from 'node:os';
import PQueue from 'p-queue';
import { KilnError } from '../errors/kilnError.js';

export interface GraphTask<R> {
  id: string;
  /** Ids of the tasks whose results this one needs. */
  deps: string[];
  run(signal: AbortSignal, deps: ReadonlyMap<string, R>): Promise<R>;
}

export interface RunGraphOptions {
  /** Most tasks running at once; default: defaultJobs(). */
  jobs?: number;
  /** Aborting it cancels the build (Ctrl-C). Its reason becomes the error. */
  signal?: AbortSignal;
  /** Called when a task starts and ends (tests, tracing). */
  onTask?: (id: string, phase: 'start' | 'end') => void;
}

/**
 * Build steps mostly wait (on a container, on the disk), not compute: twice the cores,
 * and never fewer than four, keeps independent stages running side by side on small
 * machines without oversubscribing big ones.
 */
export function defaultJobs(): number {
  return Math.max(4, 2 * availableParallelism());
}

class Cancelled extends Error {}

export async function runGraph<R>(tasks: readonly GraphTask<R>[], options: RunGraphOptions = {}): Promise<Map<string, R>> {
  const byId = new Map<string, GraphTask<R>>();
  for (const t of tasks) {
    if (byId.has(t.id)) throw new Error(`duplicate task id ${t.id}`);
    byId.set(t.id, t);
  }
  const dependents = new Map<string, string[]>();
  const waiting = new Map<string, number>();
  for (const t of tasks) {
    const deps = new Set(t.deps);
    for (const d of deps) {
      if (!byId.has(d)) throw new Error(`task ${t.id} depends on unknown task ${d}`);
      dependents.set(d, [...(dependents.get(d) ?? []), t.id]);
    }
    waiting.set(t.id, deps.size);
  }
  assertAcyclic(tasks, byId);

  const jobs = options.jobs ?? defaultJobs();
  if (!Number.isInteger(jobs) || jobs < 1) throw new KilnError('USAGE', `--jobs must be a positive whole number, not ${jobs}`, { exitCode: 2 });
  const queue = new PQueue({ concurrency: jobs });
  const controller = new AbortController();
  const results = new Map<string, R>();
  let firstError: { error: unknown } | undefined;

  const fail = (error: unknown): void => {
    if (firstError) return;
    firstError = { error };
    controller.abort(error);
  };
  const outer = options.signal;
  const onOuterAbort = (): void => fail(outer?.reason ?? new KilnError('INTERRUPTED', 'build canceled', { exitCode: 130 }));
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });

  const schedule = (id: string): void => {
    const task = byId.get(id) as GraphTask<R>;
    void queue.add(async () => {
      if (controller.signal.aborted) return;
      options.onTask?.(id, 'start');
      try {
        const deps = new Map(task.deps.map((d) => [d, results.get(d) as R]));
        const result = await task.run(controller.signal, deps);
        if (controller.signal.aborted) throw new Cancelled();
        results.set(id, result);
      } catch (err) {
        if (!(err instanceof Cancelled)) fail(err);
        return;
      } finally {
        options.onTask?.(id, 'end');
      }
      for (const next of dependents.get(id) ?? []) {
        const left = (waiting.get(next) as number) - 1;
        waiting.set(next, left);
        if (left === 0) schedule(next);
      }
    });
  };

  try {
    for (const t of tasks) if (waiting.get(t.id) === 0) schedule(t.id);
    await queue.onIdle();
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
  if (firstError) throw firstError.error;
  return results;
}

function assertAcyclic<R>(tasks: readonly GraphTask<R>[], byId: Map<string, GraphTask<R>>): void {
  const state = new Map<string, 1 | 2>(); // 1: on the path, 2: finished
  const visit = (id: string, path: string[]): void => {
    const s = state.get(id);
    if (s === 2) return;
    if (s === 1) throw new Error(`build graph has a cycle: ${[...path, id].join(' -> ')}`);
    state.set(id, 1);
    for (const d of (byId.get(id) as GraphTask<R>).deps) visit(d, [...path, id]);
    state.set(id, 2);
  };
  for (const t of tasks) visit(t.id, []);
}

/**
 * Runs identical work once: the first caller of `once(key, fn)` runs fn, everyone asking
 * for the same key meanwhile (or later, within this build) shares its result. Two stages
 * with the same step (same cache key) thus run it once, as BuildKit's solver does.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  once(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.flights.get(key);
    if (!p) {
      p = fn();
      this.flights.set(key, p);
      // A failed flight is not remembered: a later caller may try again.
      p.catch(() => this.flights.delete(key));
    }
    return p;
  }

  /** Whether `key` has been (or is being) run by someone. */
  has(key: string): boolean {
    return this.flights.has(key);
  }
}

/**
 * An AbortSignal that SIGINT/SIGTERM abort with a KilnError (exit 130), so Ctrl-C cancels a
 * build the way a failure does: containers killed, mounts undone, store left consistent.
 * A second Ctrl-C while that cleanup runs exits at once.
 */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new KilnError('INTERRUPTED', `build canceled (${sig})`, { exitCode: 130 }));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
