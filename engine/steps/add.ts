/**
 * What ADD does beyond COPY (the step is copy.ts): http(s) sources downloaded into scratch
 * space and checked against `--checksum` (a download is unpacked only with `--unpack`), and
 * local tar archives (plain, gzip, bzip2, xz, known by content) unpacked instead of copied.
 * Git sources are refused: kiln does not clone.
 */
import { posix } from 'node:path';
import type { DiffTree } from '../layer/diffTree.js';
import { extractArchive, isTarArchive } from './archive.js';
import type { ModeChange } from './chmod.js';
import type { Owner } from './chown.js';
import { destinationPath, type CopyPlan } from './copyFiles.js';
import { CopyWriter } from './copyTree.js';
import { download } from './fetchUrl.js';
import type { StageView } from './snapshotter.js';


/** Git sources BuildKit's ADD clones (kiln does not). */
export function isGitSource(source: string): boolean {
  return /^git@[^:]+:/.test(source) || /^(git|ssh):\/\//.test(source) || (/^https?:\/\//.test(source) && /\.git(#.*)?$/.test(source));
}

/** Where ADD's downloads land and how they are written: the step's destination, owner, mode and clock. */
export interface UrlTarget {
  dest: string;
  workdir: string;
  layer: DiffTree;
  /** The destination image, undefined with `--link`. */
  view: StageView | undefined;
  owner: Owner | undefined;
  chmod: ModeChange | undefined;
  checksum: string | undefined;
  /** `--unpack`: true unpacks a downloaded archive (never by default). */
  unpack: boolean | undefined;
  timestamp: Date;
  /** A fresh scratch dir, removed when the step ends. */
  scratch: () => Promise<string>;
}

/** Downloads each URL and writes it into the layer (a DownloadError when a fetch or checksum fails). */
export async function addUrls(urls: readonly string[], t: UrlTarget): Promise<void> {
  const owner = t.owner ?? { uid: 0, gid: 0 };
  for (const url of urls) {
    const dl = await download(url, await t.scratch(), t.checksum);
    const { path: destPath, isDir: saysDir } = destinationPath(t.dest, t.workdir);
    const writer = new CopyWriter(t.layer, t.view, owner, t.timestamp, t.chmod?.octal ?? 0o755);
    // Without a trailing slash the file goes into the destination only if that is a directory already.
    const made = t.layer.get(destPath);
    const isDir = saysDir || (made ? made.type === 'directory' : (await t.view?.statIn(destPath))?.isDirectory() === true);
    if (t.unpack === true && await isTarArchive(dl.path)) {
      await extractArchive(dl.path, destPath, writer, t.owner, await t.scratch());
      continue;
    }
    const target = isDir ? posix.join(destPath, dl.name) : destPath;
    await writer.ensureParents(target);
    await writer.writeFromPath(target, dl.path, t.chmod ? t.chmod(0o600, false) : 0o600, owner, dl.mtime ?? t.timestamp);
  }
}

/** ADD's unpacking of a local source: a tar archive is extracted into the destination, anything else copied. */
export function unpackArchives(owner: Owner | undefined, scratch: () => Promise<string>): NonNullable<CopyPlan['unpack']> {
  return async (m, destDir, writer) => {
    if (!await isTarArchive(m.abs)) return false;
    await extractArchive(m.abs, destDir, writer, owner, await scratch());
    return true;
  };
}
