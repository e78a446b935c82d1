/**
 * What every step is handed by the build: where layers go, the store, the build context and
 * named contexts, the expander, the clock, secrets, the container runner, the snapshotter, the
 * stages and how to reach their results. Also the few things every step does with it: name the
 * line a failure belongs to, expand a word in the stage's scope, read the stage's clock.
 */
import type { Stage, StageInstruction } from '../../grammar/recipe.js';
import type { SourceTree } from '../context/sourceTree.js';
import { KilnError } from '../errors/kilnError.js';
import type { Platform } from '../image/platform.js';
import type { Lookup, WordExpander } from '../plan/expander.js';
import type { Isolation } from '../runtime/isolation.js';
import type { Store } from '../store/store.js';
import { epochOf } from './clock.js';
import type { ContainerRunner } from './runProcess.js';
import type { Snapshotter, StageView } from './snapshotter.js';
import type { LayerStorage, StageState } from './state.js';

export interface StepEnvironment {
  storage: LayerStorage;
  store: Store;
  context: SourceTree;
  namedTrees: ReadonlyMap<string, SourceTree>;
  namedContextNames: ReadonlySet<string>;
  dockerfileName: string;
  expander: WordExpander;
  /** When set, every time in the image is this (seconds); else the stage's newest input time. */
  sourceDateEpoch: number | undefined;
  secrets: ReadonlyMap<string, string>;
  runner: ContainerRunner | undefined;
  /** How stage views, RUN roots and RUN layers are laid out (overlay or copy), settled at first use. */
  snapshotter: () => Promise<Snapshotter>;
  /** The isolation RUN steps get (settled at the first RUN: a cached build never asks the kernel). */
  isolation: () => Promise<Isolation>;
  /** What `--allow` granted (BuildKit's entitlements). */
  entitlements: ReadonlySet<string>;
  signal: AbortSignal;
  platform: Platform;
  buildPlatform: Platform;
  stageIndex: number;
  stages: readonly Stage[];
  stageResult(index: number): Promise<StageState>;
  imageState(ref: string, where: StageInstruction): Promise<StageState>;
  output(stream: 'stdout' | 'stderr', chunk: Buffer): void;
}

/** A user's mistake in `instr`: a KilnError located at its line. */
export function located(env: StepEnvironment, instr: StageInstruction, code: string, message: string, exitCode = 1): KilnError {
  return new KilnError(code, message, { location: { file: env.dockerfileName, line: instr.range.start.line, column: instr.range.start.column }, exitCode });
}

/** How a step expands its words: in the stage's scope (ENV, then declared ARGs), errors located at its line. */
export interface StepWords {
  lookup: Lookup;
  /** One word (BuildKit ProcessWord). */
  word(text: string): string;
  /** A value whose check throws a plain Error: that error as a located INVALID_INSTRUCTION. */
  checked(fn: () => string): string;
}

export function stepWords(state: StageState, env: StepEnvironment, instr: StageInstruction): StepWords {
  const lookup: Lookup = state.args.lookup(state.config.config?.Env ?? undefined);
  return {
    lookup,
    word: (text) => {
      try { return env.expander.word(text, lookup); } catch (e) { throw located(env, instr, 'EXPANSION', (e as Error).message); }
    },
    checked: (fn) => {
      try { return fn(); } catch (e) { if (e instanceof KilnError) throw e; throw located(env, instr, 'INVALID_INSTRUCTION', (e as Error).message); }
    },
  };
}

/**
 * A step's clock. With SOURCE_DATE_EPOCH, that. Without it, not the wall clock (which would
 * make every build differ) but the newest time among the stage's inputs: the base image's
 * `created`, raised by the mtimes of what COPY/ADD bring in. So an unchanged recipe and
 * context rebuild to the same bytes, and `created` says how new the newest input is.
 */
export function stepTime(state: StageState, env: StepEnvironment): Date {
  return new Date((env.sourceDateEpoch ?? epochOf(state.config)) * 1000);
}

/** Runs `fn` on a read-only view of the stage's files, closed afterwards. */
export async function withView<T>(state: StageState, env: StepEnvironment, fn: (view: StageView) => Promise<T>): Promise<T> {
  const view = await (await env.snapshotter()).openView(state.layers);
  try { return await fn(view); } finally { await view.close(); }
}
