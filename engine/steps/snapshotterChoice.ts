/**
 * Which snapshotter a build uses: `--snapshotter` / KILN_SNAPSHOTTER, else auto — the copy
 * snapshotter under chroot isolation (nothing can be mounted there), else overlay when the kernel
 * mounts an overlay on the store's filesystem (tried once, at the first step that needs files),
 * the copy snapshotter when it refuses, said once. The layers are the same either way.
 */
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { nativeBinding } from '../../native/index.js';
import type { Isolation } from '../runtime/isolation.js';
import { inUserNamespace } from '../host/privilege.js';
import { CopySnapshotter, type CopyDirs } from './copySnapshotter.js';
import { OverlaySnapshotter } from './overlaySnapshotter.js';
import type { ViewDirs } from './rootfsView.js';
import type { Snapshotter, SnapshotterRequest } from './snapshotter.js';
import { writeStderr } from '../host/standardStreams.js';

/** Why an overlay cannot be mounted on the store's filesystem here; undefined when it can. */
async function overlayRefused(scratchDir: () => Promise<string>): Promise<string | undefined> {
  const dir = await scratchDir();
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(dir, d));
    const data = `lowerdir=${join(dir, 'lower')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}${inUserNamespace() ? ',userxattr' : ''}`;
    const native = nativeBinding();
    try {
      native.mount('overlay', join(dir, 'merged'), 'overlay', [], data);
    } catch (e) {
      return (e as Error).message;
    }
    native.unmount(join(dir, 'merged'), true);
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function chooseSnapshotter(request: SnapshotterRequest, dirs: ViewDirs & CopyDirs, isolation: () => Promise<Isolation>): () => Promise<Snapshotter> {
  let chosen: Promise<Snapshotter> | undefined;
  const decide = async (): Promise<Snapshotter> => {
    const copy = (): Snapshotter => new CopySnapshotter(dirs);
    if (request === 'copy') return copy();
    const chroot = (await isolation()) === 'chroot';
    if (request === 'overlay') {
      if (chroot) throw new KilnError('USAGE', '--snapshotter overlay needs mounts, which chroot isolation has none of: use --snapshotter copy (or auto)', { exitCode: 2 });
      return new OverlaySnapshotter(dirs);
    }
    if (chroot) return copy();
    const refused = await overlayRefused(() => dirs.scratchDir());
    if (refused === undefined) return new OverlaySnapshotter(dirs);
    writeStderr(`kiln: snapshotter copy: the kernel refused an overlay mount on the store's filesystem (${refused}); stage roots are copied instead (the same layers, more disk and time)\n`);
    return copy();
  };
  return () => (chosen ??= decide());
}
