/**
 * What a RUN step reads of its stage's root before the container starts (/etc/passwd and
 * /etc/group for USER, whether a mount target exists): looked up in the layers' snapshot dirs
 * as overlayfs would, without mounting the stack. A path that passes through a symlink is read
 * through a mounted view instead (made on the first such path), which resolves it inside the
 * root as the container will.
 */
import { readFileSync, type Stats } from 'node:fs';
import { lookupInLayers, rememberingProbe } from '../runtime/imageFiles.js';
import { RootfsView, type ViewDirs } from './rootfsView.js';
import type { LayerRef } from './state.js';
import { topmostFirst } from '../layer/overlayStack.js';

/**
 * The layers' snapshot dirs never change once made (a layer's snapshot is its content): what
 * one step learned of them holds for every later step of this process.
 */
const snapshotProbe = rememberingProbe();

export class StageFiles {
  private view: Promise<RootfsView> | undefined;

  private constructor(
    private readonly layers: readonly LayerRef[],
    private readonly dirs: ViewDirs,
    /** The layers' snapshot dirs, topmost first (the container's overlay lower dirs); empty for no layers. */
    readonly lowerDirs: readonly string[],
  ) {}

  static async open(layers: readonly LayerRef[], dirs: ViewDirs): Promise<StageFiles> {
    const lowerDirs: string[] = [];
    for (const diffId of topmostFirst(layers.map((l) => l.diffId))) lowerDirs.push(await dirs.snapshotDir(diffId));
    return new StageFiles(layers, dirs, lowerDirs);
  }

  async readText(path: string): Promise<string | undefined> {
    const entry = lookupInLayers(this.lowerDirs, path, snapshotProbe);
    if (entry.kind === 'symlink') return (await this.mounted()).readText(path);
    if (entry.kind !== 'found' || !entry.stats.isFile()) return undefined;
    try { return readFileSync(entry.path, 'utf8'); } catch { return undefined; }
  }

  /** The entry at `path` (a final symlink followed), undefined when there is none. */
  async statIn(path: string): Promise<Stats | undefined> {
    const entry = lookupInLayers(this.lowerDirs, path, snapshotProbe);
    if (entry.kind === 'symlink') return (await this.mounted()).statIn(path);
    return entry.kind === 'found' ? entry.stats : undefined;
  }

  async close(): Promise<void> {
    const view = await this.view?.catch(() => undefined); // a view that failed to mount has nothing to undo
    await view?.close();
  }

  private mounted(): Promise<RootfsView> {
    return (this.view ??= RootfsView.open(this.layers, this.dirs));
  }
}
