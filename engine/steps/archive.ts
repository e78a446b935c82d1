/**
 * ADD's archive handling: a local file is unpacked when its content (never its name) is a
 * tar, plain or compressed (gzip, bzip2, xz, zstd). Decompression and the safe extraction
 * itself are engine/layer's; this file only decides whether a file is an archive and makes
 * the destination's parent directories the way the rest of COPY/ADD does (with the image's
 * existing attributes), so directories the archive does not list keep theirs.
 */
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import * as tar from 'tar-stream';
import { clampRelative } from '../context/scopedPath.js';
import { decompress } from '../layer/compression.js';
import { extractArchiveFile } from '../layer/extract.js';
import { noteOwner, ownersInLedgers } from '../store/ownerLedger.js';
import { feedTar } from '../layer/feedTar.js';
import type { Owner } from './chown.js';
import type { CopyWriter } from './copyTree.js';

function validTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = parseInt(block.subarray(148, 156).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] as number);
  return sum === stored && block[0] !== 0;
}

/** Whether the file's content, once decompressed, starts with a tar header. */
export async function isTarArchive(path: string): Promise<boolean> {
  let head = Buffer.alloc(0);
  let it: AsyncIterator<Buffer> | undefined;
  try {
    const { stream } = await decompress(createReadStream(path), { what: path });
    it = stream[Symbol.asyncIterator]();
    while (head.length < 512) {
      const r = await it.next();
      if (r.done) break;
      head = Buffer.concat([head, r.value]);
    }
  } catch {
    return false; // not decompressible (or its tool is missing): copied as a plain file
  } finally {
    await it?.return?.().catch(() => undefined);
  }
  return validTarHeader(head.subarray(0, 512));
}

/** Every entry's image path (the archive's root entry, `./`, is `destDir`), read from the headers only. */
async function entryPaths(path: string, destDir: string): Promise<string[]> {
  const { stream } = await decompress(createReadStream(path), { what: path });
  const paths: string[] = [];
  const extract = tar.extract();
  const feeding = feedTar(stream, extract);
  for await (const entry of extract) {
    const rel = clampRelative(entry.header.name);
    paths.push(rel === '' ? destDir : posix.join(destDir, rel));
    entry.resume();
  }
  await feeding;
  return paths;
}

/**
 * Unpacks an archive into `destDir` (an image path) of the writer's layer: extracted into
 * `unpackDir` (an empty scratch dir, kept until the layer is written: the files are read from
 * there), then taken into the layer.
 */
export async function extractArchive(path: string, destDir: string, writer: CopyWriter, chown: Owner | undefined, unpackDir: string): Promise<void> {
  await writer.ensureParents(posix.join(destDir, 'x'));
  if (destDir !== '/') await writer.ensureDir(destDir, undefined);
  const listed = await entryPaths(path, destDir);
  const named = new Set(listed);
  // Parents the archive only implies are followed through the image's symlinks (var/run -> /run).
  for (const p of listed) await writer.ensureParents(posix.join(writer.resolvePath(posix.dirname(p), named), posix.basename(p)));
  // Where kiln may not chown, the archive's owners are noted by inode for the layer instead.
  const ledgered = ownersInLedgers();
  await extractArchiveFile(path, unpackDir, {
    whiteouts: 'keep', owners: !ledgered, ...(chown && !ledgered ? { chown } : {}),
    ...(ledgered ? { recordOwner: (rel: string, uid: number, gid: number) => noteOwner(posix.join(unpackDir, rel), chown ?? { uid, gid }) } : {}),
  });
  await writer.takeUnpacked(unpackDir, destDir, named);
}
