/**
 * Writes a file so readers see the old bytes or the new bytes, never a mix: a temp file
 * beside the target, fsync, rename over it.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomHex } from '../engine/lazyCrypto.js';
import { selfTag } from '../engine/processIdentity.js';

function tempName(target: string): string {
  return `${target}.tmp-${selfTag()}-${randomHex(4)}`;
}

/** A file written and fsynced beside its target, not yet renamed over it. */
export interface StagedFile {
  /** Renames it over the target. */
  publish(): Promise<void>;
  /** Removes it instead. */
  discard(): Promise<void>;
}

/**
 * The first half of writeFileAtomic: the temp file, complete and durable. Several can be staged
 * at once (their fsyncs share the disk's journal commits) and published later, in order.
 */
export async function stageFileAtomic(target: string, data: Uint8Array | string): Promise<StagedFile> {
  await mkdir(dirname(target), { recursive: true });
  const temp = tempName(target);
  const fh = await open(temp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(temp, { force: true });
    throw err;
  }
  await fh.close();
  return {
    publish: async () => {
      try {
        await rename(temp, target);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
    },
    discard: () => rm(temp, { force: true }),
  };
}

export async function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  await (await stageFileAtomic(target, data)).publish();
}

/** Waits for several stagings; all their files in order, or (when one failed) none: the others are discarded and the first failure thrown. */
export async function stageAll(stagings: Promise<StagedFile | StagedFile[]>[]): Promise<StagedFile[]> {
  const results = await Promise.allSettled(stagings);
  const staged = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value].flat() : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return staged;
  for (const f of staged) await f.discard().catch(() => undefined);
  throw failed.reason;
}

/** The same, synchronously: for writes on the way out of a process. */
export function writeFileAtomicSync(target: string, data: Uint8Array): void {
  const temp = tempName(target);
  const fd = openSync(temp, 'wx', 0o644);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(temp, target);
}
