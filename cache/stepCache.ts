/**
 * What the build calls, step by step: compute the key, look it up, say why it missed,
 * and store the result. Knows nothing of how a step runs.
 */
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { canonicalJson, type JsonValue } from './canonicalJson.js';
import { lazySourcesDigest, SourceHasher, type SourceSelection, type SourcesDigest } from './contentHash.js';
import { explainMiss, InputsStore, type Explanation, type StepIdentity, type StepInputs } from './explain.js';
import { stageAll, type StagedFile } from '../engine/store/atomicFile.js';
import { digestString, loadHasher } from './hasher.js';
import { CacheIndex } from './recordIndex.js';
import type { CacheRecord } from './record.js';
import { keyedArgs, keyedEnv, stepKey } from './key.js';
import { DigestMemo } from './digestMemo.js';
import { StatCache } from './statCache.js';

export type { Explanation, StepIdentity, SourcesDigest };

export interface StepLookup {
  identity: StepIdentity;
  parent: string;
  definition: JsonValue;
  env: Record<string, string>;
  args: Record<string, string | undefined>;
  platform: string;
  sources?: SourcesDigest;
  inputs?: string[];
  /** Whether the parent step was a hit (sharpens --explain's wording). */
  parentHit?: boolean;
}

export interface CacheLookup {
  key: string;
  hit?: CacheRecord;
  explanation: Explanation;
  /** What store() records for the next build's --explain. */
  readonly inputs: StepInputs;
}

/** Files a step selects under one root (the context's when none), and the label other roots' paths carry. */
export interface TreeSelection extends SourceSelection {
  root?: string;
  label?: string;
}

export interface StepResult {
  diffIds: string[];
  config: Record<string, unknown>;
  history?: Record<string, unknown>;
}

export interface StepCacheOptions {
  storeRoot: string;
  contextDir: string;
  /** --no-cache: every step misses (results are still recorded for later builds). */
  noCache?: boolean;
  /** --no-cache-filter: steps of these stages miss. */
  noCacheStages?: string[];
}

export class StepCache {
  readonly index: CacheIndex;
  private readonly inputsStore: InputsStore;
  private readonly contextStat: StatCache;
  private readonly contextMemo: DigestMemo;
  private readonly contextHasher: SourceHasher;
  private readonly otherHashers = new Map<string, SourceHasher>();
  private readonly context: string;

  private constructor(private readonly options: StepCacheOptions) {
    this.index = new CacheIndex(options.storeRoot);
    this.inputsStore = new InputsStore(options.storeRoot);
    this.context = realpathOr(options.contextDir);
    const stat = join(options.storeRoot, 'cache', 'stat', digestString(this.context));
    this.contextStat = StatCache.load(`${stat}.bin`);
    this.contextMemo = DigestMemo.load(`${stat}.memo`);
    this.contextHasher = new SourceHasher(this.context, this.contextStat, this.contextMemo);
  }

  static async open(options: StepCacheOptions): Promise<StepCache> {
    await loadHasher();
    return new StepCache(options);
  }

  /** Files whose bytes were read (not served by the stat cache) so far. */
  get filesHashed(): number {
    return this.contextHasher.filesHashed;
  }

  /** Content digest of exactly the selected sources, under the context or another root. */
  async sources(selection: SourceSelection & { root?: string }): Promise<SourcesDigest> {
    const root = selection.root === undefined ? this.context : realpathOr(selection.root);
    if (root === this.context) return this.contextHasher.hash(selection);
    let h = this.otherHashers.get(root);
    if (!h) {
      h = new SourceHasher(root, StatCache.inMemory());
      this.otherHashers.set(root, h);
    }
    return h.hash(selection);
  }

  /** One digest of everything a step selects, in order, and every file's by path (label-prefixed off the context). */
  async selected(trees: readonly TreeSelection[]): Promise<SourcesDigest> {
    const digests: SourcesDigest[] = [];
    for (const tree of trees) digests.push(await this.sources(tree));
    const digest = digestString(digests.map((d) => d.digest).join(' '));
    // One tree under its own names (a COPY from the context): its record as it is, not a copy.
    if (trees.length === 1 && trees[0]?.label === undefined) return lazySourcesDigest(digest, () => (digests[0] as SourcesDigest).files);
    return lazySourcesDigest(digest, () => {
      const files: Record<string, string> = {};
      trees.forEach((tree, i) => {
        const prefix = tree.label === undefined ? '' : `${tree.label}:`;
        for (const [p, h] of Object.entries((digests[i] as SourcesDigest).files)) files[`${prefix}${p}`] = h;
      });
      return files;
    });
  }

  async lookup(step: StepLookup): Promise<CacheLookup> {
    const key = await stepKey({
      parent: step.parent,
      definition: step.definition,
      env: step.env,
      args: step.args,
      platform: step.platform,
      ...(step.sources ? { sources: step.sources.digest } : {}),
      ...(step.inputs ? { inputs: step.inputs } : {}),
    });
    const args = keyedArgs(step.args);
    const inputs: StepInputs = {
      identity: step.identity,
      context: this.context,
      key,
      parent: step.parent,
      definition: canonicalJson(step.definition),
      args,
      env: keyedEnv(step.env, step.args),
      platform: step.platform,
      // The digest as it is: its per-file record is built only when written or compared (a miss).
      ...(step.sources ? { sources: step.sources } : {}),
      ...(step.inputs ? { inputs: step.inputs } : {}),
    };
    const forced = this.options.noCache
      ? '--no-cache'
      : this.options.noCacheStages?.includes(step.identity.stage)
        ? `--no-cache-filter ${step.identity.stage}`
        : undefined;
    if (!forced) {
      const hit = await this.index.get(key);
      if (hit) {
        return { key, hit, explanation: { status: 'HIT' }, inputs };
      }
    }
    // A missed step's record needs the per-path record of its sources when they changed since
    // it was written: made now, while the listings the digest read are still kept (the copy
    // that follows takes them), not after the copy.
    if (step.sources !== undefined && !(await this.inputsStore.hasFiles(this.context, step.identity, step.sources.digest))) void step.sources.files;
    const previous = await this.inputsStore.previous(this.context, step.identity);
    const reasons = forced ? [forced] : explainMiss(previous, inputs, step.parentHit);
    return { key, explanation: { status: 'MISS', reasons }, inputs };
  }

  /** Records a missed step's result so later builds (in any process) hit it. */
  async store(lookup: CacheLookup, result: StepResult): Promise<void> {
    await this.write(lookup, this.recordOf(lookup, result));
  }

  /** The record store() writes, for a caller that hands it on before writing it (with write()). */
  recordOf(lookup: CacheLookup, result: StepResult): CacheRecord {
    return {
      key: lookup.key,
      diffIds: result.diffIds,
      config: result.config,
      ...(result.history ? { history: result.history } : {}),
      createdAt: new Date().toISOString(),
    };
  }

  /** Writes a record made by recordOf (and what --explain compares the next build with). */
  async write(lookup: CacheLookup, record: CacheRecord): Promise<void> {
    for (const f of await this.stage(lookup, record)) await f.publish();
  }

  /**
   * write()'s files written and fsynced side by side (their fsyncs share journal commits), to be
   * published in the order returned: the record, then what --explain reads.
   */
  async stage(lookup: CacheLookup, record: CacheRecord): Promise<StagedFile[]> {
    return stageAll([this.index.stage(record), this.inputsStore.stage(lookup.inputs)]);
  }

  /**
   * After a hit: keeps --explain's memory pointing at what was built last, so switching
   * between two variants explains against the latest one. Cheap when nothing changed.
   */
  async remember(lookup: CacheLookup): Promise<void> {
    const last = await this.inputsStore.lastKey(this.context, lookup.inputs.identity);
    if (last !== lookup.key) await this.inputsStore.record(lookup.inputs);
  }

  /** Persists the stat cache and the digest memo. */
  async close(): Promise<void> {
    this.contextStat.save();
    this.contextMemo.save();
  }
}

function realpathOr(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}
