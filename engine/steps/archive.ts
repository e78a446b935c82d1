/**
 * ADD's archive handling: a local file is unpacked when its content (never its name) is a
 * tar, plain or compressed with gzip, bzip2 or xz. Entries are written into the diff dir
 * under the destination; paths are clamped so nothing lands outside it.
 */
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, rm, symlink, utimes } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { clampRelative } from '../context/scopedPath.js';
import type { Owner } from './chown.js';
import type { CopyWriter } from './copyTree.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz';

function validTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = parseInt(block.subarray(148, 156).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] as number);
  return sum === stored && block[0] !== 0;
}

function compressionOf(head: Buffer): Compression | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return undefined;
}

function decompressed(path: string, compression: Compression): Readable {
  if (compression === 'none') return createReadStream(path);
  if (compression === 'gzip') return createReadStream(path).pipe(createGunzip());
  const child = spawn(compression === 'bzip2' ? 'bzip2' : 'xz', ['-dc', path], { stdio: ['ignore', 'pipe', 'ignore'] });
  return child.stdout;
}

async function firstBlock(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of stream) {
      chunks.push(c as Buffer);
      size += (c as Buffer).length;
      if (size >= 512) break;
    }
  } catch { /* not decompressible: not an archive */ }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, 512);
}

/** The archive kind of a file, or undefined when it is not a (compressed) tar. */
export async function detectArchive(path: string): Promise<Compression | undefined> {
  const fh = await open(path, 'r');
  const head = Buffer.alloc(512);
  const { bytesRead } = await fh.read(head, 0, 512, 0);
  await fh.close();
  const compression = compressionOf(head.subarray(0, bytesRead));
  if (compression === undefined) return validTarHeader(head.subarray(0, bytesRead)) ? 'none' : undefined;
  return validTarHeader(await firstBlock(decompressed(path, compression))) ? compression : undefined;
}

/** Unpacks an archive into `destDir` (an image path) inside the writer's diff dir. */
export async function extractArchive(path: string, compression: Compression, destDir: string, writer: CopyWriter, chown: Owner | undefined): Promise<void> {
  await writer.ensureParents(posix.join(destDir, 'x'));
  if (destDir !== '/') await writer.ensureDir(destDir, undefined);
  const extract = tar.extract();
  const dirTimes: [string, Date][] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const rel = clampRelative(h.name);
      if (rel === '') { entry.resume(); continue; }
      const imagePath = posix.join(destDir, rel);
      const host = join(writer.diffDir, imagePath);
      await writer.ensureParents(imagePath);
      const owner = chown ?? { uid: h.uid ?? 0, gid: h.gid ?? 0 };
      const mtime = h.mtime ?? new Date(0);
      const mode = (h.mode ?? 0o644) & 0o7777;
      if (h.type !== 'directory') await rm(host, { recursive: true, force: true });
      switch (h.type) {
        case 'directory':
          await mkdir(host, { recursive: true });
          await chmod(host, mode);
          await lchown(host, owner.uid, owner.gid);
          dirTimes.push([host, mtime]);
          break;
        case 'file':
        case 'contiguous-file':
          await pipeline(entry, createWriteStream(host, { mode }));
          await chmod(host, mode);
          await lchown(host, owner.uid, owner.gid);
          await utimes(host, mtime, mtime);
          continue;
        case 'symlink':
          await symlink(h.linkname ?? '', host);
          await lchown(host, owner.uid, owner.gid);
          await lutimes(host, mtime, mtime);
          break;
        case 'link': {
          const target = join(writer.diffDir, posix.join(destDir, clampRelative(h.linkname ?? '')));
          await link(target, host);
          break;
        }
        default:
          // Devices, fifos: not representable without mknod; skipped.
          break;
      }
      entry.resume();
    }
  })();
  await Promise.all([pipeline(decompressed(path, compression), extract), done]);
  for (const [d, t] of dirTimes.reverse()) await utimes(d, t, t);
}
