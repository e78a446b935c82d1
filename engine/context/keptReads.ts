/**
 * What a COPY's cache key read of its source tree, kept for the copy that follows: each
 * directory's listing with its entries' lstat, and the bytes of the small files it had to hash.
 * The content digest (cache/contentHash.ts) walks the sources first; on a miss the copy
 * (sourceTree.ts, steps/copyFiles.ts) walks them again and the layer writer reads every file.
 * With what the digest kept, the copy stats no file again and the writer reads no file the
 * digest read.
 *
 * A listing or a file's bytes are kept from the digest until the copy takes them, and dropped
 * when no copy follows (the step was a cache hit): they are only a shortcut, never what decides
 * what a step sees — what is not kept is read again. The digest and the copy then see the tree
 * as it was at one moment, as BuildKit's context transfer does.
 */
import { readDirectory, readFoundDirectory, type DirectoryRead, type ListedEntry } from '../host/directoryListing.js';

/** File bytes kept at most. */
const KEPT_BYTES_LIMIT = 64 * 1024 * 1024;

/** The directory at `abs` read now; `found`: met in a walk, empty when it is gone by now. */
function readAt(abs: string, found: boolean): DirectoryRead {
  return found ? readFoundDirectory(abs) : readDirectory(abs);
}

export class KeptReads {
  /** Directories as read, not their entries: a no-op rebuild keeps them for nothing, cheaply. */
  private readonly listings = new Map<string, DirectoryRead>();
  private readonly files = new Map<string, Buffer>();
  private keptBytes = 0;

  /**
   * The entries of the directory at `abs`, kept for the walk that follows. `found`: a directory
   * met in a walk, which is just empty when it is gone by now (readFoundDirectory).
   */
  list(abs: string, found: boolean): ListedEntry[] {
    return this.read(abs, found).entries();
  }

  /** The directory at `abs` as read (list()'s read, before its entries are made), kept the same way. */
  read(abs: string, found: boolean): DirectoryRead {
    let read = this.listings.get(abs);
    if (read === undefined) {
      read = readAt(abs, found);
      this.listings.set(abs, read);
    }
    return read;
  }

  /** The entries of the directory at `abs`: the kept listing (given up), else a fresh one. */
  take(abs: string, found: boolean): ListedEntry[] {
    const read = this.listings.get(abs);
    if (read === undefined) return readAt(abs, found).entries();
    this.listings.delete(abs);
    return read.entries();
  }

  /** Keeps the bytes read of the file at `abs`, while they fit. */
  keepBytes(abs: string, bytes: Buffer): void {
    if (this.keptBytes + bytes.length > KEPT_BYTES_LIMIT || this.files.has(abs)) return;
    this.files.set(abs, bytes);
    this.keptBytes += bytes.length;
  }

  /** The kept bytes of the file at `abs` (given up), when they are `size` bytes as its lstat says. */
  takeBytes(abs: string, size: number): Buffer | undefined {
    const bytes = this.files.get(abs);
    if (bytes === undefined) return undefined;
    this.files.delete(abs);
    this.keptBytes -= bytes.length;
    return bytes.length === size ? bytes : undefined;
  }

  /** Forgets everything kept (no copy will take it). */
  clear(): void {
    this.listings.clear();
    this.files.clear();
    this.keptBytes = 0;
  }
}
