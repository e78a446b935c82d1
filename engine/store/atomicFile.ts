/**
 * Writes that are all-or-nothing: a temp file in the same directory, fsync, rename over the
 * target, fsync the directory. A crash leaves either the old file or the new one, never half.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { randomHex } from '../lazyCrypto.js';
import { selfTag } from '../processIdentity.js';
import { basename, dirname, join } from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try { await fd.sync(); } finally { await fd.close(); }
}

/** Flushes a file written and closed earlier (fsync works on the file, whichever descriptor asks). */
export async function fsyncFile(path: string): Promise<void> {
  const fd = await open(path, 'r');
  try { await fd.sync(); } finally { await fd.close(); }
}

export function tempNameBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${selfTag()}.${randomHex(6)}.tmp`);
}

/**
 * Creates `tmp` (exclusively), lets `fill` write it, fsyncs and closes it. If anything fails the
 * temp file is removed, so the caller only ever renames complete, durable files into place.
 * With `sync: false` the fsync is the caller's, before its rename (see BlobStore.ingestBehind).
 */
export async function writeTempFile(tmp: string, mode: number, fill: (fd: FileHandle) => Promise<void>, opts: { sync?: boolean } = {}): Promise<void> {
  const fd = await open(tmp, 'wx', mode);
  try {
    await fill(fd);
    if (opts.sync ?? true) await fd.sync();
  } catch (err) {
    await fd.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fd.close();
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempNameBeside(path);
  await writeTempFile(tmp, mode, (fd) => fd.writeFile(data));
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}
