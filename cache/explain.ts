/**
 * Why a step missed the cache. For every step the cache keeps a small record of what
 * went into its key (per-source file digests, ARG and ENV values, the parent's key),
 * filed under the step's identity — the parts that do not change from build to build:
 * context, Dockerfile, stage, position. On a miss, the record of the last build of the
 * same step is compared with this one, and the differences are the reasons.
 *
 * The per-file digests of a step's sources (a megabyte for a 20,000-file COPY) are a file of
 * their own beside the record, `BASE.files`: the sources' digest on its first line, the
 * digests by path as JSON after it. It is written only when the sources changed since it was
 * written, and read only when a miss compares two different sources.
 */
import { readFileSync } from 'node:fs';
import { fileHead } from '../engine/host/fileEnds.js';
import { join } from 'node:path';
import { stageAll, stageFileAtomic, type StagedFile } from '../engine/store/atomicFile.js';
import { canonicalJson } from './canonicalJson.js';
import { digestString, loadHasher } from './hasher.js';

export interface StepIdentity {
  /** Stage name, or its index as a string. */
  stage: string;
  /** Position of the instruction within the stage (0 = the FROM). */
  index: number;
  /** The instruction as written, for messages. */
  text: string;
  /** The Dockerfile's path, when the build has one. */
  file?: string;
}

export interface StepInputs {
  identity: StepIdentity;
  context: string;
  key: string;
  parent: string;
  definition: string;
  args: Record<string, string | null>;
  env: Record<string, string>;
  platform: string;
  sources?: { digest: string; files: Record<string, string> };
  inputs?: string[];
}

export type Explanation = { status: 'HIT' } | { status: 'MISS'; reasons: string[] };

/** How many changed paths a reason names before it just counts the rest. */
const MAX_PATHS = 5;
/** A sources digest's length. */
const DIGEST_CHARS = 32;

export class InputsStore {
  readonly dir: string;
  constructor(storeRoot: string) {
    this.dir = join(storeRoot, 'cache', 'inputs');
  }

  private async base(context: string, id: StepIdentity): Promise<string> {
    await loadHasher();
    return join(this.dir, digestString(canonicalJson({ context, file: id.file ?? null, stage: id.stage, index: id.index })));
  }

  async previous(context: string, id: StepIdentity): Promise<StepInputs | undefined> {
    const base = await this.base(context, id);
    let inputs: StepInputs;
    try {
      inputs = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as StepInputs; // small, read on every miss
    } catch {
      return undefined;
    }
    const sources = inputs.sources as { digest: string; files?: Record<string, string> } | undefined;
    if (sources !== undefined && sources.files === undefined) inputs.sources = filesOnDemand(`${base}.files`, sources.digest);
    return inputs;
  }

  /** Whether the per-file record of sources with `digest` is already written for this step. */
  async hasFiles(context: string, id: StepIdentity, digest: string): Promise<boolean> {
    return filesRecordOf(`${await this.base(context, id)}.files`) === digest;
  }

  /** The key of the last recorded build of the step: a tiny file, cheap to check on a hit. */
  async lastKey(context: string, id: StepIdentity): Promise<string | undefined> {
    try {
      return readFileSync(`${await this.base(context, id)}.key`, 'utf8').trim(); // tiny, read on every hit
    } catch {
      return undefined;
    }
  }

  async record(inputs: StepInputs): Promise<void> {
    for (const f of await this.stage(inputs)) await f.publish();
  }

  /**
   * record()'s files written side by side, to be published in that order. Not flushed: every
   * reader of them takes what it cannot read as no memory (a step then explains its miss as a
   * first build), so a crash costs an explanation, while their fsyncs, queued behind a build's
   * layers and records, made its image wait (three files a step).
   */
  async stage(inputs: StepInputs): Promise<StagedFile[]> {
    const base = await this.base(inputs.context, inputs.identity);
    const { sources } = inputs;
    const hint = { durable: false };
    const files = sources !== undefined && filesRecordOf(`${base}.files`) !== sources.digest
      ? [stageFileAtomic(`${base}.files`, `${sources.digest}\n${JSON.stringify(sources.files)}`, 0o644, hint)]
      : [];
    const record = JSON.stringify({ ...inputs, ...(sources ? { sources: { digest: sources.digest } } : {}) });
    return stageAll([...files, stageFileAtomic(`${base}.json`, record, 0o644, hint), stageFileAtomic(`${base}.key`, inputs.key, 0o644, hint)]);
  }
}

/** The sources digest the per-file record at `path` is of (its first line), if there is one. */
function filesRecordOf(path: string): string | undefined {
  const head = fileHead(path, DIGEST_CHARS + 1);
  return head?.length === DIGEST_CHARS + 1 && head[DIGEST_CHARS] === 0x0a ? head.toString('latin1', 0, DIGEST_CHARS) : undefined;
}

/** Sources with `digest` whose per-file record is read from `path` when first asked for (none there: an empty one). */
function filesOnDemand(path: string, digest: string): { digest: string; files: Record<string, string> } {
  let files: Record<string, string> | undefined;
  return {
    digest,
    get files(): Record<string, string> {
      files ??= readFilesRecord(path, digest);
      return files;
    },
  };
}

function readFilesRecord(path: string, digest: string): Record<string, string> {
  try {
    const text = readFileSync(path, 'utf8');
    if (!text.startsWith(`${digest}\n`)) return {};
    return JSON.parse(text.slice(DIGEST_CHARS + 1)) as Record<string, string>;
  } catch {
    return {};
  }
}

function quote(v: string | null | undefined): string {
  return v === undefined ? '(unset)' : v === null ? '(no value)' : JSON.stringify(v);
}

function mapChanges(kind: string, before: Record<string, string | null>, after: Record<string, string | null>, skip: Set<string>): string[] {
  const out: string[] = [];
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const name of names) {
    if (skip.has(name)) continue;
    const a = before[name];
    const b = after[name];
    if (a === b) continue;
    out.push(`${kind} ${name} changed: ${quote(a)} → ${quote(b)}`);
  }
  return out;
}

function listPaths(what: string, paths: string[]): string | undefined {
  if (paths.length === 0) return undefined;
  const shown = paths.slice(0, MAX_PATHS).join(', ');
  const more = paths.length > MAX_PATHS ? ` and ${paths.length - MAX_PATHS} more` : '';
  return `${what}: ${shown}${more}`;
}

/** The reasons `current` missed, given the last recorded build of the same step. */
export function explainMiss(previous: StepInputs | undefined, current: StepInputs, parentHit: boolean | undefined): string[] {
  if (!previous) return ['first build of this step (no earlier record)'];
  if (previous.key === current.key) return ['cache record was pruned or made by a build that did not finish'];
  const reasons: string[] = [];
  if (previous.parent !== current.parent) {
    reasons.push(current.identity.index <= 1 && parentHit !== false ? 'base image changed' : 'parent step missed');
  }
  if (previous.definition !== current.definition) {
    reasons.push(
      previous.identity.text !== current.identity.text
        ? `instruction changed: ${previous.identity.text} → ${current.identity.text}`
        : 'instruction changed after variable expansion',
    );
  }
  const argChanges = mapChanges('ARG', previous.args, current.args, new Set());
  reasons.push(...argChanges);
  // An ARG a RUN sees is in its environment too: name it once, as the ARG.
  const changedArgs = new Set(Object.keys({ ...previous.args, ...current.args }).filter((k) => previous.args[k] !== current.args[k]));
  reasons.push(...mapChanges('ENV', previous.env, current.env, changedArgs));
  if (previous.platform !== current.platform) reasons.push(`platform changed: ${previous.platform} → ${current.platform}`);
  const ps = previous.sources;
  const cs = current.sources;
  if (ps?.digest !== cs?.digest) {
    const before = ps?.files ?? {};
    const after = cs?.files ?? {};
    const changed: string[] = [];
    const added: string[] = [];
    const removed: string[] = [];
    for (const [p, h] of Object.entries(after)) {
      const old = before[p];
      if (old === undefined) added.push(p);
      else if (old !== h) changed.push(p);
    }
    for (const p of Object.keys(before)) if (!(p in after)) removed.push(p);
    const found = [listPaths('file changed', changed), listPaths('file added', added), listPaths('file removed', removed)].filter(
      (r): r is string => r !== undefined,
    );
    reasons.push(...(found.length > 0 ? found : ['source files changed']));
  }
  if (canonicalJson(previous.inputs ?? []) !== canonicalJson(current.inputs ?? [])) reasons.push('a stage it copies from changed');
  if (reasons.length === 0) reasons.push('cache key changed (kiln version or key format)');
  return reasons;
}
