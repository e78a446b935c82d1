/**
 * kiln's one atomic writer: a temp file beside the target (named by its writer, so the temp
 * file of a killed writer is recognised as such), fsync, rename over the target, fsync the
 * directory. A crash leaves the old file or the new one, never half of either. The store's
 * records and blobs, the build cache's records and the archives `kiln save` writes all go
 * through here.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomHex } from '../host/randomHex.js';
import { parseTag, selfTag, tagAlive } from '../host/processIdentity.js';

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try { await fd.sync(); } finally { await fd.close(); }
}

/** Flushes a file written and closed earlier (fsync works on the file, whichever descriptor asks). */
export async function fsyncFile(path: string): Promise<void> {
  const fd = await open(path, 'r');
  try { await fd.sync(); } finally { await fd.close(); }
}

/** `.NAME.PID-START.HEX.tmp` beside `path`: hidden, and naming the process writing it. */
export function tempNameBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${selfTag()}.${randomHex(6)}.tmp`);
}

/**
 * The writer of a temp file this module names, or undefined for any other file. Also knows the
 * names earlier kilns gave: cache records' `NAME.tmp-PID-START-HEX` and archives'
 * `.NAME.kiln-PID-START.tmp`, so what they left is swept too.
 */
function tempFileWriter(name: string): { pid: number; start: string | undefined } | undefined {
  // Most names a sweep sees are not temp files (a store's thousands of records): one look at the
  // name spares them the patterns.
  if (!name.endsWith('.tmp') && !name.includes('.tmp-')) return undefined;
  const m = /^\..+\.(\d+-\d+)\.[0-9a-f]+\.tmp$/.exec(name) ?? /\.tmp-(\d+-\d+)-/.exec(name) ?? /^\..+\.kiln-(\d+-\d+)\.tmp$/.exec(name);
  return m ? parseTag(m[1] as string) : undefined;
}

/** Whether `name` is a temp file of an atomic write whose writer no longer runs (a live writer's never is). */
export function deadWritersTemp(name: string): boolean {
  const writer = tempFileWriter(name);
  return writer !== undefined && !tagAlive(writer);
}

/** Whether `name` is a temp file a running writer is about to rename into place. */
export function liveWritersTemp(name: string): boolean {
  const writer = tempFileWriter(name);
  return writer !== undefined && tagAlive(writer);
}

/** Removes the temp files dead writers left in `dir` (SIGKILL skips every clean-up). */
export async function sweepDeadTemps(dir: string): Promise<void> {
  for (const path of await deadWritersTemps(dir)) await unlink(path).catch(() => undefined);
}

/**
 * Paths of the temp files dead writers left in `dir`, and with `deep` in every dir below it: one
 * listing of each directory (a store of 10,000 cache records keeps 20,000 files of --explain's
 * inputs in one directory).
 */
export async function deadWritersTemps(dir: string, deep = false): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (deep && e.isDirectory()) found.push(...(await deadWritersTemps(join(dir, e.name), true)));
    else if (deadWritersTemp(e.name)) found.push(join(dir, e.name));
  }
  return found;
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

/**
 * Renames a complete temp file over `target` and makes the rename durable (with `durable: false`,
 * only whole to every reader); on failure the temp file goes.
 */
export async function publishTempFile(tmp: string, target: string, opts: { durable?: boolean } = {}): Promise<void> {
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (opts.durable ?? true) await fsyncDir(dirname(target));
}

/** A file written and fsynced beside its target, not yet renamed over it. */
export interface StagedFile {
  /** Renames it over the target (and fsyncs the directory). */
  publish(): Promise<void>;
  /** Removes it instead. */
  discard(): Promise<void>;
}

/**
 * The first half of writeFileAtomic: the temp file, complete and durable (its directory made if
 * need be). Several can be staged at once (their fsyncs share the disk's journal commits) and
 * published later, in order. With `durable: false` neither the file nor its rename is flushed:
 * every reader still sees the old file or the new one whole, but a crash may lose it or leave it
 * empty. Only for what readers take as a hint and check (--explain's memory of the last build).
 */
export async function stageFileAtomic(target: string, data: string | Uint8Array, mode = 0o644, opts: { durable?: boolean } = {}): Promise<StagedFile> {
  const durable = opts.durable ?? true;
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempNameBeside(target);
  await writeTempFile(tmp, mode, (fd) => fd.writeFile(data), { sync: durable });
  return {
    publish: () => publishTempFile(tmp, target, { durable }),
    discard: () => unlink(tmp).catch(() => undefined),
  };
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await (await stageFileAtomic(path, data, mode)).publish();
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

/**
 * Creates `path` (which must not exist) holding `data`, with sync calls and no fsync: for small
 * files, where a thread-pool round trip costs more than the write. A failed write leaves the
 * file for the caller to remove.
 */
export function writeNewFileSync(path: string, data: Uint8Array, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
  } finally {
    closeSync(fd);
  }
}

/**
 * The same, synchronously: for writes on the way out of a process. With `durable: false`, not
 * flushed (still whole or not at all to every reader): for a file that checks itself against
 * the store when read, whose loss in a crash only costs the next command time (a build's
 * replay record), where two fsyncs would cost the command writing it more than the file saves.
 */
export function writeFileAtomicSync(target: string, data: Uint8Array, mode = 0o644, opts: { durable?: boolean } = {}): void {
  const durable = opts.durable ?? true;
  mkdirSync(dirname(target), { recursive: true });
  const tmp = tempNameBeside(target);
  const fd = openSync(tmp, 'wx', mode);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    if (durable) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (!durable) return;
  const dir = openSync(dirname(target), 'r');
  try { fsyncSync(dir); } finally { closeSync(dir); }
}
