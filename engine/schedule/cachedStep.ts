/**
 * The build cache wrapped around each step of a build. Keys chain: a stage's first step
 * chains from its base (image config, scratch, or the FROM stage's last key), every step
 * from the one before. A step's key covers its instruction as written (and heredoc bodies),
 * the ENV and ARG values in scope (which fix what the text expands to), the platform, and
 * what it reads from outside the stage: a content digest of the context files a COPY/ADD or
 * a RUN bind mount selects, the last key of a stage it copies or mounts from.
 *
 * COPY, ADD, RUN and WORKDIR make layers: on a hit they are not run at all, the stage state
 * is restored from the record. The other instructions are cheap and change the stage's
 * ARG scope, so they always run; their records only mark them seen: their result is already
 * determined by their key (history times come from the stage's clock, not the wall's).
 */
import type { StageInstruction } from '../../grammar/recipe.js';
import { StepCache, type CacheLookup, type TreeSelection } from '../../cache/stepCache.js';
import type { CacheRecord } from '../../cache/record.js';
import type { StagedFile } from '../store/atomicFile.js';
import type { SourcesDigest } from '../../cache/contentHash.js';
import { imageBaseKey, scratchBaseKey, uncacheableKey } from '../../cache/key.js';
import { stepDefinition } from '../../cache/stepDefinition.js';
import { IgnoreMatcher } from '../context/dockerignore.js';
import type { ImageConfig } from '../image/config.js';
import type { SourceRef } from '../plan/graph.js';
import { formatPlatform } from '../image/platform.js';
import type { Progress, StepRef } from '../progress/progress.js';
import { SingleFlight } from './scheduler.js';
import type { Store } from '../store/store.js';
import { recordLeaseName } from '../store/leases.js';
import type { LayerRef, StageState } from '../steps/state.js';
import type { SourceTree } from '../context/sourceTree.js';
import type { StepReads } from '../steps/stepReads.js';
import { instructionText } from '../plan/stepNames.js';

export interface BuildCacheOptions {
  store: Store;
  contextDir: string;
  ignorePatterns: readonly string[];
  dockerfileName: string;
  progress: Progress;
  /** --no-cache */
  noCache?: boolean;
  /** --no-cache-filter: stage names (or indices) whose steps always run. */
  noCacheFilter?: readonly string[];
  /** --explain: a HIT or MISS line (with reasons) under every step. */
  explain?: boolean;
  /** Also told every step's HIT or MISS line, printed or not (kiln build --report). */
  onVerdict?: (step: StepRef, verdict: string) => void;
  /** The Dockerfile's escape character: the same text means something else under another one. */
  escape: string;
  /** SOURCE_DATE_EPOCH: every time a step records (layer mtimes, history) depends on it. */
  sourceDateEpoch?: number;
}

/**
 * What a step's record holds, to continue the stage without running it: the image config,
 * the layer stack, and every other field of the stage state except the ARG scope and the
 * platform (which the build re-derives) — so a field the engine adds later is restored too.
 */
interface RecordedState {
  image: ImageConfig;
  layers: string[];
  cmdSetInStage: boolean;
  rest?: Record<string, unknown>;
}

const NOT_RECORDED = new Set(['config', 'layers', 'args', 'platform', 'cmdSetInStage']);

export interface CachedStepInput {
  instr: StageInstruction;
  before: StageState;
  parentKey: string;
  /** Whether the step before was a hit (sharpens --explain). */
  parentHit: boolean;
  stageLabel: string;
  /** Position of the instruction in the stage, 1-based (the FROM is 0). */
  position: number;
  onbuild: boolean;
  step: StepRef;
  /**
   * What the step reads from outside its stage, its paths expanded with the step's scope by the
   * caller (the cache expands nothing); undefined when they could not be worked out (a bad
   * expansion or --from, which the step reports when it runs).
   */
  reads: StepReads | undefined;
  /** Runs the step for real. */
  execute: () => Promise<StageState>;
  /** The image a name (`COPY --from=image`, `--mount from=image`) stands for now: its ID. */
  imageId: (ref: string) => Promise<string>;
}

export interface CachedStepOutput {
  state: StageState;
  key: string;
  hit: boolean;
}

const LAYER_KINDS = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);

export class BuildCache {
  private readonly flights = new SingleFlight<CacheRecord | undefined>();
  /** The key of each finished stage's last step. */
  private readonly stageKeys = new Map<number, string>();
  private readonly ignore: IgnoreMatcher;
  /** The records this build's hits came from; undefined once a step missed (ran, or could not be cached). */
  private answeredBy: Set<string> | undefined = new Set();

  private constructor(private readonly cache: StepCache, private readonly o: BuildCacheOptions) {
    this.ignore = new IgnoreMatcher(o.ignorePatterns);
  }

  static async open(o: BuildCacheOptions): Promise<BuildCache> {
    const cache = await StepCache.open({
      storeRoot: o.store.root,
      contextDir: o.contextDir,
      ...(o.noCache ? { noCache: true } : {}),
      ...(o.noCacheFilter ? { noCacheStages: [...o.noCacheFilter].map((s) => s.toLowerCase()) } : {}),
    });
    return new BuildCache(cache, o);
  }

  /** The key a stage's first step chains from. */
  baseKey(base: SourceRef, state: StageState): string {
    switch (base.kind) {
      case 'scratch':
        return scratchBaseKey(formatPlatform(state.platform));
      case 'stage': {
        const k = this.stageKeys.get(base.index);
        if (k === undefined) throw new Error(`stage ${base.index} has no cache key yet`);
        return k;
      }
      case 'context':
      case 'image':
        // The config names every layer by digest: the same config is the same base.
        return imageBaseKey(state.config);
    }
  }

  /** The cache records every step of this build was answered from; undefined when a step ran. */
  answeredFrom(): string[] | undefined {
    return this.answeredBy === undefined ? undefined : [...this.answeredBy];
  }

  private answered(key: string): void {
    this.answeredBy?.add(key);
  }

  /** Records the key of a finished stage's last step (for FROM stage, COPY --from, mounts). */
  finishStage(index: number, key: string): void {
    this.stageKeys.set(index, key);
  }

  async step(i: CachedStepInput): Promise<CachedStepOutput> {
    const { instr, before } = i;
    // ARG declares from build args the key cannot see beforehand: cheap steps run first and
    // are keyed with the ARG scope they leave behind.
    const lookupFor = async (argsFrom: StageState, env: Record<string, string>): Promise<CacheLookup | undefined> => {
      const reads = await this.reads(i);
      if (reads === 'uncacheable') return undefined;
      return this.cache.lookup({
        identity: { stage: i.stageLabel, index: i.position, text: instructionText(instr), file: this.o.dockerfileName },
        parent: i.parentKey,
        ...(i.parentHit ? {} : { parentHit: false }),
        definition: stepDefinition({
          kind: instr.kind, source: instr.source, onbuild: i.onbuild, escape: this.o.escape, sourceDateEpoch: this.o.sourceDateEpoch,
          workdir: before.config.config?.WorkingDir, user: before.config.config?.User, shell: before.config.config?.Shell ?? undefined,
        }),
        env,
        args: Object.fromEntries(argsFrom.args.list.map((a) => [a.key, a.value])),
        platform: formatPlatform(before.platform),
        ...(reads.sources ? { sources: reads.sources } : {}),
        ...(reads.inputs.length > 0 ? { inputs: reads.inputs } : {}),
      });
    };

    if (!LAYER_KINDS.has(instr.kind)) {
      // Cheap steps always run (ARG changes the stage's scope). What they make is a function of
      // the state before them and what the key covers (their clock is the stage's, not the
      // wall's), so their record holds no state: it marks the step as seen, for --explain and
      // the report. A record of the whole config here made a long recipe's cache quadratic.
      const state = await i.execute();
      const lookup = (await lookupFor(state, envChanges(before, state))) as CacheLookup;
      if (lookup.hit) {
        this.explain(i.step, 'HIT');
        this.answered(lookup.key);
        await this.cache.remember(lookup);
        return { state, key: lookup.key, hit: true };
      }
      this.answeredBy = undefined;
      this.explainMiss(i.step, lookup);
      this.storeBehind(lookup, { diffIds: [], config: { metadata: true } });
      return { state, key: lookup.key, hit: false };
    }

    try {
      return await this.layerStep(i, await lookupFor(before, envRecord(before.config.config?.Env ?? undefined)));
    } finally {
      // What the key's digest read and the step did not take (a hit, or files it did not copy).
      for (const sel of i.reads?.selections ?? []) if (sel.source.kind === 'tree') sel.source.tree.kept.clear();
    }
  }

  /** A step that makes a layer, its cache lookup done: restored from its record, or run. */
  private async layerStep(i: CachedStepInput, lookup: CacheLookup | undefined): Promise<CachedStepOutput> {
    const { before } = i;
    if (!lookup) {
      this.answeredBy = undefined;
      this.explain(i.step, 'MISS: ADD from a URL without --checksum always runs');
      const state = await i.execute();
      return { state, key: uncacheableKey(i.parentKey), hit: false };
    }
    if (lookup.hit) {
      const restored = await this.restore(before, lookup.hit);
      if (restored) {
        this.explain(i.step, 'HIT');
        this.answered(lookup.key);
        await this.cache.remember(lookup);
        return { state: restored, key: lookup.key, hit: true };
      }
      this.explain(i.step, 'MISS: a cached layer of this step was pruned');
    } else {
      this.explainMiss(i.step, lookup);
    }

    this.answeredBy = undefined;
    // Identical steps in two stages (same key) run once; the other one restores the result.
    let ran: StageState | undefined;
    const record = await this.flights.once(lookup.key, async () => {
      const state = await i.execute();
      ran = state;
      const newLayers = state.layers.slice(before.layers.length).map((l) => l.diffId);
      return this.storeBehind(lookup, { diffIds: newLayers, config: recorded(state) });
    });
    if (ran) return { state: ran, key: lookup.key, hit: false };
    const shared = record ? await this.restore(before, record) : undefined;
    if (!shared) throw new Error(`step ${i.step.name}: the identical step in another stage left no usable result`);
    return { state: shared, key: lookup.key, hit: true };
  }

  /**
   * Lets the records written behind the steps land. A failed write was reported by the build
   * before it committed its image; a build that failed before that reports its own error.
   */
  async close(): Promise<void> {
    await this.o.store.settleWrites().catch(() => undefined);
    await this.cache.close();
  }

  /**
   * Records a missed step on the store's write queue, behind the layer blobs it names (queued
   * when the step committed them), so the next step need not wait for the fsyncs.
   */
  private storeBehind(lookup: CacheLookup, result: { diffIds: string[]; config: Record<string, unknown> }): CacheRecord {
    const record = this.cache.recordOf(lookup, result);
    let staged: StagedFile[] = [];
    this.o.store.writeBehind({
      prepare: async () => {
        await this.o.store.hold([recordLeaseName(record.key)]);
        staged = await this.cache.stage(lookup, record);
      },
      publish: async () => { for (const f of staged) await f.publish(); },
      discard: async () => { for (const f of staged) await f.discard(); },
    });
    return record;
  }

  private explain(step: StepRef, text: string): void {
    this.o.onVerdict?.(step, text);
    if (this.o.explain) this.o.progress.note(step, text);
  }

  private explainMiss(step: StepRef, lookup: CacheLookup): void {
    if (lookup.explanation.status === 'MISS') this.explain(step, `MISS: ${lookup.explanation.reasons.join('; ')}`);
  }

  /** The stage state after a recorded step, or undefined if a layer of it is gone. */
  private async restore(before: StageState, record: CacheRecord): Promise<StageState | undefined> {
    const rec = record.config as unknown as RecordedState;
    if (!rec.image || !Array.isArray(rec.layers)) return undefined;
    const layers: LayerRef[] = [];
    try {
      // Held before they are checked: a prune from here on leaves them (and the record).
      await this.o.store.hold([...rec.layers.filter((d) => typeof d === 'string'), recordLeaseName(record.key)]);
      for (const diffId of rec.layers) {
        const known = before.layers.find((l) => l.diffId === diffId);
        if (!known && !(await this.o.store.hasBlob(diffId))) return undefined;
        layers.push(known ?? { diffId });
      }
    } catch {
      return undefined;
    }
    return { ...before, ...structuredClone(rec.rest ?? {}), config: structuredClone(rec.image), layers, args: before.args, platform: before.platform, cmdSetInStage: rec.cmdSetInStage };
  }

  /** What the step reads from outside its stage, as the cache keys it: context files, other stages, images. */
  private async reads(i: CachedStepInput): Promise<{ sources?: SourcesDigest; inputs: string[] } | 'uncacheable'> {
    const { instr } = i;
    if (instr.kind !== 'COPY' && instr.kind !== 'ADD' && instr.kind !== 'RUN') return { inputs: [] };
    // A bad --from or expansion: let the step run and report it with its location.
    if (!i.reads) return { inputs: [`unresolved ${Math.random()}`] };
    const inputs: string[] = [];
    if (i.reads.urls.length > 0) {
      if (instr.kind !== 'RUN' && instr.checksum === undefined) return 'uncacheable';
      inputs.push(...i.reads.urls);
    }
    const selections: { tree: SourceTree; isContext: boolean; sources: string[]; parents: boolean }[] = [];
    try {
      for (const { source, paths, parents } of i.reads.selections) {
        switch (source.kind) {
          case 'tree':
            if (paths.length > 0) selections.push({ tree: source.tree, isContext: !source.named, sources: paths, parents });
            break;
          case 'stage':
            inputs.push(`stage ${this.stageKeys.get(source.index) ?? `unbuilt ${source.index}`}`);
            break;
          case 'image':
            // What the name stands for now, not the name: a tag moved to another image is another input.
            inputs.push(`image ${await i.imageId(source.ref)}`);
            break;
          case 'scratch':
            inputs.push('scratch');
            break;
        }
      }
    } catch {
      return { inputs: [`unresolved ${Math.random()}`] };
    }
    if (selections.length === 0) return { inputs };
    const trees: TreeSelection[] = [];
    for (const sel of selections) {
      const paths: string[] = [];
      for (const s of sel.sources) {
        const { matches } = sel.parents ? await sel.tree.matchParents(s) : await sel.tree.match(s);
        for (const m of matches) paths.push(m.rel);
      }
      const { isContext } = sel;
      trees.push({
        paths,
        ...(isContext ? {} : { root: sel.tree.root, label: sel.tree.label }),
        exclude: (rel, isDir) => sel.tree.excluded(rel) && (!isDir || !isContext || !this.ignore.hasExceptions),
        excludeRules: JSON.stringify([sel.tree.ignoreRules, isContext && this.ignore.hasExceptions]),
        keep: { read: (abs) => sel.tree.kept.read(abs, true), keepBytes: (abs, bytes) => sel.tree.kept.keepBytes(abs, bytes) },
      });
    }
    return { sources: await this.cache.selected(trees), inputs };
  }
}

function recorded(state: StageState): Record<string, unknown> {
  const rest = Object.fromEntries(Object.entries(state).filter(([k]) => !NOT_RECORDED.has(k)));
  const r: RecordedState = { image: state.config, layers: state.layers.map((l) => l.diffId), cmdSetInStage: state.cmdSetInStage, rest };
  return r as unknown as Record<string, unknown>;
}

/**
 * What a cheap step did to the environment, for its key. The environment before it is already
 * fixed by the key it chains from (a base's config, the steps before), so the change is all a
 * key must add; hashing the whole environment at every ENV made a long recipe quadratic.
 * Layer steps, which run with the environment, key all of it.
 */
function envChanges(before: StageState, after: StageState): Record<string, string> {
  const was = before.config.config?.Env ?? [];
  const now = after.config.config?.Env ?? [];
  if (was === now) return {};
  return envRecord(now.filter((kv, at) => was[at] !== kv));
}

function envRecord(env: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of env ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 0) out[kv] = '';
    else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}
