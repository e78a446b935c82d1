/**
 * A build context's directory listings, shared between the two walks a COPY makes of its sources:
 * the content digest that keys the step (cache/contentHash.ts) and, on a miss, the copy itself
 * (sourceTree.ts). Each lists every directory with its entries' lstat; listing once spares the
 * copy one `fstatat` per file and the objects that describe it.
 *
 * A listing is kept from the digest until the copy takes it, and dropped when no copy follows
 * (the step was a cache hit): kept listings are only a shortcut, never what decides what a step
 * sees — a directory not kept is listed again. The digest and the copy then see the context as
 * it was at one moment, as BuildKit's context transfer does.
 */
import { listDirectory, listFoundDirectory, type ListedEntry } from '../host/directoryListing.js';

/** Entries kept at most, so a huge context costs no more memory than its walk already does. */
const KEPT_ENTRIES_LIMIT = 1_000_000;

export class SharedListings {
  private readonly kept = new Map<string, ListedEntry[]>();
  private keptEntries = 0;

  /**
   * The entries of the directory at `abs`, kept for the walk that follows. `found`: a directory
   * met in a walk, which is just empty when it is gone by now (listFoundDirectory).
   */
  list(abs: string, found: boolean): ListedEntry[] {
    const known = this.kept.get(abs);
    if (known !== undefined) return known;
    const entries = found ? listFoundDirectory(abs) : listDirectory(abs);
    if (this.keptEntries + entries.length <= KEPT_ENTRIES_LIMIT) {
      this.kept.set(abs, entries);
      this.keptEntries += entries.length;
    }
    return entries;
  }

  /** The entries of the directory at `abs`: the kept listing (given up), else a fresh one. */
  take(abs: string, found: boolean): ListedEntry[] {
    const known = this.kept.get(abs);
    if (known === undefined) return found ? listFoundDirectory(abs) : listDirectory(abs);
    this.kept.delete(abs);
    this.keptEntries -= known.length;
    return known;
  }

  /** Forgets every kept listing (no walk will take them). */
  clear(): void {
    this.kept.clear();
    this.keptEntries = 0;
  }
}
