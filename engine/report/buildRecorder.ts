/**
 * Listens to a build (progress events, the engine's observer calls, the cache's verdicts) and
 * turns what it saw into a BuildReport — also for a build that failed part-way, whose steps
 * not reached are reported as skipped. It only records; sizes are looked up once, at the end.
 */
import type { StageInstruction } from '../../grammar/recipe.js';
import type { BuildObserver } from '../build.js';
import { instructionText } from '../plan/stepNames.js';
import { fromValues, resolveFromRef, type BuildPlan, type PlannedStage } from '../plan/graph.js';
import type { ProgressEvent, StepRef } from '../progress/progress.js';
import { markCriticalPath } from './criticalPath.js';
import {
  BUILD_REPORT_KIND, BUILD_REPORT_VERSION, type BuildReport, type EdgeKind, type ReportEdge, type ReportSource,
  type ReportStage, type ReportStep, type StageBase,
} from './buildReport.js';

/** Output kept per step, in characters: the tail, so a chatty step cannot make the report huge. */
export const OUTPUT_KEPT = 256 * 1024;

export interface RecorderOptions {
  dockerfile: string;
  context: string;
  target?: string;
  tags: readonly string[];
  /** `--build-context` names that are directories (they resolve before images do). */
  namedContexts: ReadonlySet<string>;
  now?: () => number;
}

/** What the recorder knows of a step that began. */
interface SeenStep {
  ref: StepRef;
  stage: number;
  position: number;
  instruction?: StageInstruction;
  onbuild: boolean;
  started?: number;
  finished?: number;
  status?: 'cached' | 'ran' | 'failed' | 'canceled';
  verdict?: string;
  output: string[];
  outputChars: number;
  outputDropped: number;
  error?: string;
  diffIds: string[];
}

/** How the finished build ended, for the report's totals. */
export interface BuildEnding {
  error?: unknown;
  imageId?: string;
  /** Looks up a layer's size (undefined: unknown, e.g. its blob was not written). */
  layerSize: (diffId: string) => Promise<number | undefined>;
  imageSize?: number;
}

export class BuildRecorder implements BuildObserver {
  private readonly start: number;
  private readonly now: () => number;
  private plan: BuildPlan | undefined;
  private readonly seen = new Map<number, SeenStep>();
  private failedFirst: number | undefined;

  constructor(private readonly o: RecorderOptions) {
    this.now = o.now ?? Date.now;
    this.start = this.now();
  }

  planned(plan: BuildPlan): void {
    this.plan = plan;
  }

  step(ref: StepRef, where: { stage: number; position: number; instruction?: StageInstruction; onbuild: boolean }): void {
    this.seen.set(ref.id, { ref, ...where, output: [], outputChars: 0, outputDropped: 0, diffIds: [] });
  }

  layers(ref: StepRef, diffIds: readonly string[]): void {
    const s = this.seen.get(ref.id);
    if (s) s.diffIds = [...diffIds];
  }

  verdict = (ref: StepRef, text: string): void => {
    const s = this.seen.get(ref.id);
    if (s) s.verdict = text;
  };

  /** Hand to Progress.onEvent. */
  event = (e: ProgressEvent): void => {
    const s = this.seen.get(e.step.id);
    if (!s) return; // e.g. a platform note on a step of its own
    switch (e.type) {
      case 'started':
        s.started = e.time - this.start;
        break;
      case 'output':
        this.keepOutput(s, e.data);
        break;
      case 'cached':
      case 'done':
        s.finished = e.time - this.start;
        s.status = e.type === 'cached' ? 'cached' : 'ran';
        break;
      case 'error':
        s.finished = e.time - this.start;
        // The first error stopped the build; steps stopped with it were canceled.
        s.status = this.failedFirst === undefined ? 'failed' : 'canceled';
        this.failedFirst ??= e.step.id;
        s.error = e.message;
        break;
      case 'note':
        break;
    }
  };

  private keepOutput(s: SeenStep, data: string): void {
    s.output.push(data);
    s.outputChars += data.length;
    while (s.outputChars > OUTPUT_KEPT) {
      const first = s.output[0] as string;
      const excess = s.outputChars - OUTPUT_KEPT;
      const dropped = Math.min(first.length, excess);
      if (dropped === first.length) s.output.shift();
      else s.output[0] = first.slice(dropped);
      s.outputChars -= dropped;
      s.outputDropped += dropped;
    }
  }

  async finish(ending: BuildEnding): Promise<BuildReport> {
    const stages = this.stages();
    const { steps, edges, sources } = this.graph();
    for (const step of steps) {
      const sizes = await Promise.all(step.layers.map(async (l) => (await ending.layerSize(l.diffId)) ?? 0));
      step.layers.forEach((l, i) => { l.size = sizes[i] as number; });
    }
    markCriticalPath(steps, edges);
    const count = (status: ReportStep['status']): number => steps.filter((s) => s.status === status).length;
    const written = new Map<string, number>();
    for (const s of steps) if (s.status === 'ran') for (const l of s.layers) written.set(l.diffId, l.size);
    const failed = ending.error !== undefined;
    return {
      kind: BUILD_REPORT_KIND,
      version: BUILD_REPORT_VERSION,
      dockerfile: this.o.dockerfile,
      context: this.o.context,
      ...(this.o.target !== undefined ? { target: this.o.target } : {}),
      tags: [...this.o.tags],
      startedAt: new Date(this.start).toISOString(),
      outcome: failed ? 'failed' : 'succeeded',
      ...(failed ? { error: ending.error instanceof Error ? ending.error.message : String(ending.error) } : {}),
      stages,
      sources,
      steps,
      edges,
      totals: {
        durationMs: this.now() - this.start,
        steps: steps.length,
        cached: count('cached'),
        ran: count('ran'),
        failed: count('failed'),
        canceled: count('canceled'),
        skipped: count('skipped'),
        bytesWritten: [...written.values()].reduce((a, b) => a + b, 0),
        ...(ending.imageId !== undefined ? { imageId: ending.imageId } : {}),
        ...(ending.imageSize !== undefined ? { imageSize: ending.imageSize } : {}),
      },
    };
  }

  private stages(): ReportStage[] {
    const plan = this.plan;
    if (!plan) return [];
    return plan.order.map((i) => {
      const p = plan.stages[i] as PlannedStage;
      return {
        index: i,
        ...(p.stage.name !== undefined ? { name: p.stage.name } : {}),
        label: p.stage.name ?? String(i),
        base: baseOf(p),
        line: p.stage.from.range.start.line,
        target: i === plan.target,
      };
    });
  }

  /** Every step of the planned stages (seen or not), the edges between them, outside sources. */
  private graph(): { steps: ReportStep[]; edges: ReportEdge[]; sources: ReportSource[] } {
    const plan = this.plan;
    const steps: ReportStep[] = [];
    const edges: ReportEdge[] = [];
    const sources = new Map<string, ReportSource>();
    const lastOfStage = new Map<number, string>();
    const bySeen = [...this.seen.values()];
    let skippedId = 0;
    const source = (kind: 'image' | 'context', ref: string): string => {
      const id = `${kind}:${ref}`;
      if (!sources.has(id)) sources.set(id, { id, kind, ref });
      return id;
    };
    for (const index of plan?.order ?? []) {
      const p = plan?.stages[index] as PlannedStage;
      const ofStage = bySeen.filter((s) => s.stage === index).sort((a, b) => a.position - b.position);
      const from = ofStage.find((s) => s.position === 0);
      const rows: { seen?: SeenStep; instruction?: StageInstruction }[] = [{ ...(from ? { seen: from } : {}) }];
      // Triggers ran before the stage's own instructions; then every instruction, reached or not.
      for (const s of ofStage) if (s.onbuild) rows.push({ seen: s, ...(s.instruction ? { instruction: s.instruction } : {}) });
      for (const instr of p.stage.instructions) {
        const s = ofStage.find((x) => x.instruction === instr && !x.onbuild);
        rows.push({ ...(s ? { seen: s } : {}), instruction: instr });
      }
      let previous: string | undefined;
      rows.forEach((row, at) => {
        // Steps the progress output does not list (metadata instructions) have ids of their own.
        const id = !row.seen ? `skipped-${++skippedId}` : row.seen.ref.hidden ? `unlisted${row.seen.ref.id}` : `#${row.seen.ref.id}`;
        steps.push(this.stepOf(id, index, at, row.seen, row.instruction, p));
        if (previous !== undefined) edges.push({ from: previous, to: id, kind: 'order' });
        else edges.push(...this.baseEdges(p, id, lastOfStage, source));
        if (row.instruction) {
          for (const value of fromValues(row.instruction)) {
            const ref = resolveFromRef(value, index, plan?.stages.map((s) => s.stage) ?? [], this.o.namedContexts);
            const kind: EdgeKind = row.instruction.kind === 'RUN' ? 'mount-from' : 'copy-from';
            if (ref.kind === 'stage') {
              const last = lastOfStage.get(ref.index);
              if (last !== undefined) edges.push({ from: last, to: id, kind });
            } else if (ref.kind === 'image') edges.push({ from: source('image', ref.ref), to: id, kind });
            else if (ref.kind === 'context') edges.push({ from: source('context', ref.name), to: id, kind });
          }
        }
        previous = id;
      });
      if (previous !== undefined) lastOfStage.set(index, previous);
    }
    return { steps, edges, sources: [...sources.values()] };
  }

  private baseEdges(p: PlannedStage, to: string, lastOfStage: ReadonlyMap<number, string>, source: (kind: 'image' | 'context', ref: string) => string): ReportEdge[] {
    switch (p.base.kind) {
      case 'stage': {
        const last = lastOfStage.get(p.base.index);
        return last === undefined ? [] : [{ from: last, to, kind: 'base-stage' }];
      }
      case 'image':
        return [{ from: source('image', p.base.ref), to, kind: 'base-image' }];
      case 'context':
        return [{ from: source('context', p.base.name), to, kind: 'base-image' }];
      case 'scratch':
        return [];
    }
  }

  private stepOf(id: string, stage: number, position: number, seen: SeenStep | undefined, instr: StageInstruction | undefined, p: PlannedStage): ReportStep {
    const onbuild = seen?.onbuild ?? false;
    const text = instr ? `${onbuild ? 'ONBUILD ' : ''}${instructionText(instr)}` : `FROM ${p.baseName}${p.stage.name ? ` AS ${p.stage.name}` : ''}`;
    const range = onbuild ? undefined : (instr ?? p.stage.from).range;
    const kept = seen ? seen.output.join('') : '';
    return {
      id,
      ...(seen && !seen.ref.hidden ? { number: seen.ref.id } : {}),
      stage,
      position,
      instruction: text,
      ...(range ? { line: range.start.line, endLine: range.end.line } : {}),
      onbuild,
      status: seen?.status ?? (seen?.started !== undefined ? 'canceled' : 'skipped'),
      ...(seen?.started !== undefined ? { started: seen.started } : {}),
      ...(seen?.finished !== undefined ? { finished: seen.finished } : {}),
      ...(seen?.verdict !== undefined ? { verdict: seen.verdict } : {}),
      output: kept,
      outputDropped: seen?.outputDropped ?? 0,
      ...(seen?.error !== undefined ? { error: seen.error } : {}),
      layers: (seen?.diffIds ?? []).map((diffId) => ({ diffId, size: 0 })),
      critical: false,
    };
  }
}

function baseOf(p: PlannedStage): StageBase {
  switch (p.base.kind) {
    case 'scratch': return { kind: 'scratch' };
    case 'stage': return { kind: 'stage', stage: p.base.index };
    case 'context': return { kind: 'context', name: p.base.name };
    case 'image': return { kind: 'image', ref: p.base.ref };
  }
}
