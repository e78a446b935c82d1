/**
 * FROM: the state a stage starts from — BuildKit's empty image for scratch (WorkingDir `/`), a
 * copy of an earlier stage's result, a named context's directory as one layer, or an image's
 * config and layers (held by the build until it ends, so a prune meanwhile leaves them).
 */
import { cp, mkdir } from 'node:fs/promises';
import type { SourceTree } from '../context/sourceTree.js';
import { emptyConfig, type ImageConfig } from '../image/config.js';
import type { Platform } from '../image/platform.js';
import type { StageArgs } from '../plan/args.js';
import type { PlannedStage } from '../plan/graph.js';
import type { ImageRecord, Store } from '../store/store.js';
import { newestMtime, rfc3339 } from './clock.js';
import type { LayerRef, LayerStorage, StageState } from './state.js';

/** Where a FROM finds what it names. */
export interface FromSources {
  store: Store;
  storage: LayerStorage;
  sourceDateEpoch: number | undefined;
  /** A finished earlier stage's result. */
  stageResult(index: number): StageState | undefined;
  namedTree(name: string): SourceTree;
  image(ref: string, platform: Platform): Promise<ImageRecord>;
}

export async function fromState(planned: PlannedStage, platform: Platform, args: StageArgs, s: FromSources): Promise<StageState> {
  const base = planned.base;
  switch (base.kind) {
    case 'scratch': {
      const cfg = emptyConfig({ os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) });
      // BuildKit's empty image: WorkingDir "/" (and the default PATH, added for every stage).
      cfg.config = { WorkingDir: '/' };
      return { config: cfg, layers: [], args, platform, cmdSetInStage: false };
    }
    case 'stage': {
      const parent = s.stageResult(base.index);
      if (!parent) throw new Error(`stage ${base.index} was not built before stage ${planned.stage.index}`);
      return cloneState(parent, parent.args.fork());
    }
    case 'context':
      return namedContextState(base.name, platform, args, s);
    case 'image':
      return stateFromImage(s.store, await s.image(base.ref, platform), args, platform);
  }
}

/** A named context as a base: its files as one layer, `created` their newest mtime (or SOURCE_DATE_EPOCH). */
async function namedContextState(name: string, platform: Platform, args: StageArgs, s: FromSources): Promise<StageState> {
  const sde = s.sourceDateEpoch;
  const dir = await s.storage.scratchDir();
  await mkdir(dir, { recursive: true });
  await cp(s.namedTree(name).root, dir, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  const created = rfc3339(sde ?? await newestMtime(dir));
  const layer = await s.storage.commitLayer(dir, 'none', sde);
  const cfg = emptyConfig({ os: platform.os, architecture: platform.architecture });
  cfg.config = { WorkingDir: '/' };
  cfg.created = created;
  cfg.rootfs.diff_ids.push(layer.diffId);
  (cfg.history ??= []).push({ created, created_by: `context ${name}`, comment: 'buildkit.dockerfile.v0' });
  return { config: cfg, layers: [layer], args, platform, cmdSetInStage: false };
}

/** An image's config and layers as a stage state; the build holds the image's content until it ends. */
export async function stateFromImage(store: Store, record: ImageRecord, args: StageArgs, platform: Platform): Promise<StageState> {
  await store.holdImage(record);
  const config = JSON.parse(JSON.stringify(record.config)) as ImageConfig;
  const layers: LayerRef[] = config.rootfs.diff_ids.map((diffId) => ({ diffId }));
  return { config, layers, args, platform, cmdSetInStage: false };
}

export function cloneState(s: StageState, args: StageArgs): StageState {
  return { config: JSON.parse(JSON.stringify(s.config)) as ImageConfig, layers: [...s.layers], args, platform: s.platform, cmdSetInStage: false };
}
