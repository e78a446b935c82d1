/**
 * Reads an image's layers (streamed, bottom first) into an ImageReport: each layer's entries
 * classified against the image as the layers below leave it (overlay semantics: a whiteout
 * removes a path and what is under it, an opaque marker empties a directory), the bytes later
 * layers waste of each layer, and dive's efficiency figures over the same layers.
 */
import { KilnError } from '../errors/kilnError.js';
import type { ImageRecord, Store } from '../store/store.js';
import { diveEfficiency, LayerTree } from './diveEfficiency.js';
import { layerEntries, type TarEntryHeader } from './layerEntries.js';
import {
  IMAGE_REPORT_KIND, IMAGE_REPORT_VERSION, type EntryKind, type ImageReport, type LayerEntry, type LayerSummary,
} from './imageReport.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** A path in the image as it stands after the layers read so far. */
interface Present { kind: EntryKind; size: number; layer: number; mode: number; uid: number; gid: number }

function kindOf(t: TarEntryHeader['type']): EntryKind {
  return t === 'file' ? 'f' : t === 'directory' ? 'd' : t === 'symlink' ? 'l' : t === 'link' ? 'h' : 'o';
}

/** The image's files by path; removal of a directory takes everything under it. */
class ImageFiles {
  readonly files = new Map<string, Present>();

  /** Removes `path` (or only what is under it) and returns what went, path by path. */
  take(path: string, underOnly: boolean): Present[] {
    const gone: Present[] = [];
    const self = this.files.get(path);
    if (self && !underOnly) {
      gone.push(self);
      this.files.delete(path);
    }
    if (underOnly || self?.kind === 'd') {
      const prefix = `${path}/`;
      for (const [p, f] of this.files) {
        if (p.startsWith(prefix)) {
          gone.push(f);
          this.files.delete(p);
        }
      }
    }
    return gone;
  }
}

async function layerSize(store: Store, record: ImageRecord, diffId: string): Promise<number> {
  try {
    return await store.blobs.size(diffId);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new KilnError('LAYER_MISSING', `${record.tags[0] ?? record.id}: layer ${diffId} is not in the store`, { cause: e });
  }
}

function historyOf(record: ImageRecord): { createdBy: string; created?: string }[] {
  return (record.config.history ?? []).filter((h) => !h.empty_layer).map((h) => ({ createdBy: h.created_by ?? '', ...(h.created ? { created: h.created } : {}) }));
}

export async function analyzeImage(store: Store, record: ImageRecord): Promise<ImageReport> {
  const files = new ImageFiles();
  const trees: LayerTree[] = [];
  const layers: LayerSummary[] = [];
  const history = historyOf(record);
  const diffIds = record.config.rootfs.diff_ids;
  for (let index = 0; index < diffIds.length; index++) {
    const diffId = diffIds[index] as string;
    const summary: LayerSummary = {
      index, diffId, tarSize: await layerSize(store, record, diffId), contentSize: 0,
      createdBy: history[index]?.createdBy ?? '', ...(history[index]?.created ? { created: history[index]?.created } : {}),
      added: { files: 0, bytes: 0 }, changed: { files: 0, bytes: 0 }, removed: { files: 0, bytes: 0 }, wastedLater: 0, entries: [],
    };
    const tree = new LayerTree();
    const wasted = (gone: readonly Present[]): void => {
      for (const g of gone) {
        const owner = layers[g.layer];
        if (owner) owner.wastedLater += g.size;
      }
    };
    for await (const e of layerEntries(store.blobPath(diffId), `layer ${index} (${diffId})`)) {
      if (e.path === '') continue;
      summary.contentSize += e.size;
      tree.add(e.path, { size: e.size, isDir: e.type === 'directory' });
      summary.entries.push(...classify(e, index, files, summary, wasted));
    }
    trees.push(tree);
    layers.push(summary);
  }
  const dive = diveEfficiency(trees);
  const sizeBytes = layers.reduce((a, l) => a + l.contentSize, 0);
  const userSizeBytes = sizeBytes - (layers[0]?.contentSize ?? 0);
  return {
    kind: IMAGE_REPORT_KIND,
    version: IMAGE_REPORT_VERSION,
    image: {
      id: record.id, tags: record.tags,
      ...(record.config.created ? { created: record.config.created } : {}),
      ...(record.config.os ? { os: record.config.os } : {}),
      ...(record.config.architecture ? { architecture: record.config.architecture } : {}),
    },
    layers,
    files: files.files.size,
    efficiency: dive.efficiency,
    wastedBytes: dive.wastedBytes,
    sizeBytes,
    userSizeBytes,
    wastedUserPercent: userSizeBytes === 0 ? 0 : dive.wastedBytes / userSizeBytes,
    inefficiencies: dive.inefficient.map((p) => ({ path: p.path, layers: p.layers, bytes: p.cumulative })),
    rules: [],
  };
}

/** What one tar entry does to the image, as report entries (a whiteout: the paths it removes). */
function classify(e: TarEntryHeader, layer: number, files: ImageFiles, summary: LayerSummary, wasted: (gone: readonly Present[]) => void): LayerEntry[] {
  const slash = e.path.lastIndexOf('/');
  const dir = slash < 0 ? '' : e.path.slice(0, slash);
  const name = e.path.slice(slash + 1);
  if (name === OPAQUE) {
    const gone = files.take(dir, true);
    wasted(gone);
    const bytes = gone.reduce((a, g) => a + g.size, 0);
    summary.removed.files += gone.length;
    summary.removed.bytes += bytes;
    return [[dir, 'd', bytes, 'o']];
  }
  if (name.startsWith(WHITEOUT)) {
    const target = `${dir === '' ? '' : `${dir}/`}${name.slice(WHITEOUT.length)}`;
    const before = files.files.get(target);
    const gone = files.take(target, false);
    wasted(gone);
    const bytes = gone.reduce((a, g) => a + g.size, 0);
    summary.removed.files += gone.length;
    summary.removed.bytes += bytes;
    return [[target, before?.kind ?? 'o', bytes, 'r']];
  }
  const kind = kindOf(e.type);
  const previous = files.files.get(e.path);
  const now: Present = { kind, size: e.size, layer, mode: e.mode, uid: e.uid, gid: e.gid };
  let change: LayerEntry[3] = 'a';
  if (previous) {
    const sameDir = kind === 'd' && previous.kind === 'd' && previous.mode === e.mode && previous.uid === e.uid && previous.gid === e.gid;
    change = sameDir ? 'u' : 'c';
    if (!sameDir) {
      // A directory stays a directory (its children stay); anything else replaces what was there.
      wasted(kind === 'd' && previous.kind === 'd' ? [previous] : files.take(e.path, false));
      summary.changed.files++;
      summary.changed.bytes += e.size;
    }
  } else {
    summary.added.files++;
    summary.added.bytes += e.size;
  }
  files.files.set(e.path, now);
  return [[e.path, kind, e.size, change, ...(e.linkname !== undefined ? [e.linkname] : [])] as LayerEntry];
}
