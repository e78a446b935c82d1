/**
 * A directory tree COPY/ADD read from: the build context (with its ignore rules), a named
 * context, or another stage's root filesystem. Paths are matched with Go's wildcard syntax,
 * resolved without ever leaving the root, and ignored paths do not exist.
 */
import { lstat, readdir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { EntryStats } from '../host/directoryListing.js';
import { IgnoreMatcher, patternRegex } from './dockerignore.js';
import { clampRelative, resolveInRoot } from './scopedPath.js';
import { KeptReads } from './keptReads.js';
import { hasWildcard, segmentMatcher, unescapeLiteral } from './wildcard.js';

export interface SourceMatch {
  /** Path relative to the tree's root, `/`-separated, as matched (symlinks not resolved). */
  rel: string;
  /** Host path with every symlink (including a final one) resolved inside the root. */
  abs: string;
  stats: EntryStats;
}

export interface WalkEntry {
  /** Path relative to the walked directory. */
  rel: string;
  abs: string;
  stats: EntryStats;
}

export class SourceTree {
  /** What the content digest of a step's sources read, for the copy that follows (keptReads.ts). */
  readonly kept = new KeptReads();

  constructor(
    readonly root: string,
    /** How errors name this tree ("build context", "stage builder", "context web"). */
    readonly label: string,
    private readonly ignore: IgnoreMatcher = new IgnoreMatcher([]),
    /** Entries that are not really there (overlay whiteouts in a single-layer view). */
    private readonly hidden: (stats: EntryStats) => boolean = () => false,
  ) {}

  /** What excluded() leaves out, as one string (the same string, the same paths). */
  get ignoreRules(): string {
    return this.ignore.rules;
  }

  excluded(rel: string): boolean {
    return rel !== '' && !this.ignore.empty && this.ignore.excludes(rel);
  }

  /**
   * Resolves one source as written (already variable-expanded). A path without wildcards
   * matches itself or nothing; a wildcard may match nothing.
   */
  async match(source: string): Promise<{ wildcard: boolean; matches: SourceMatch[] }> {
    const wildcard = hasWildcard(source);
    const cleaned = clampRelative(source);
    const candidates = wildcard ? await this.expandWildcards(cleaned) : [unescapeLiteral(cleaned)];
    const matches: SourceMatch[] = [];
    for (const rel of candidates) {
      if (this.excluded(rel)) continue;
      const abs = await resolveInRoot(this.root, rel, true);
      let stats: Stats;
      try { stats = await lstat(abs); } catch { continue; }
      if (this.hidden(stats)) continue;
      matches.push({ rel, abs, stats });
    }
    matches.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    return { wildcard, matches };
  }

  /**
   * A `COPY --parents` source: a pattern below its `/./` pivot (or below the root), matched as
   * BuildKit's include patterns are — `**` spans directories — against every path under the
   * pivot. A matched directory stands for everything in it. Without `**` it is a plain match.
   */
  async matchParents(source: string): Promise<{ wildcard: boolean; matches: SourceMatch[] }> {
    if (!source.includes('**')) return this.match(source);
    const pivot = source.indexOf('/./');
    const rootRel = pivot < 0 ? '' : clampRelative(source.slice(0, pivot));
    const re = patternRegex(clampRelative(pivot < 0 ? source : source.slice(pivot + 3)));
    const matches: SourceMatch[] = [];
    let covered: string | undefined;
    const rootAbs = await resolveInRoot(this.root, rootRel, true);
    for (const e of await this.walk(rootRel, rootAbs)) {
      if (covered !== undefined && e.rel.startsWith(covered + '/')) continue;
      if (!re.test(e.rel)) continue;
      matches.push({ rel: rootRel === '' ? e.rel : `${rootRel}/${e.rel}`, abs: e.abs, stats: e.stats });
      covered = e.stats.isDirectory() ? e.rel : covered;
    }
    return { wildcard: true, matches };
  }

  private async expandWildcards(pattern: string): Promise<string[]> {
    let current: string[] = [''];
    for (const seg of pattern.split('/')) {
      const next: string[] = [];
      if (!hasWildcard(seg)) {
        const lit = unescapeLiteral(seg);
        for (const dir of current) next.push(dir === '' ? lit : `${dir}/${lit}`);
      } else {
        const re = segmentMatcher(seg);
        for (const dir of current) {
          let names: string[];
          try { names = await readdir(await resolveInRoot(this.root, dir, true)); } catch { continue; }
          for (const name of names.sort()) if (re.test(name)) next.push(dir === '' ? name : `${dir}/${name}`);
        }
      }
      current = next;
    }
    return current;
  }

  /**
   * Every entry below a directory (not following symlinks), minus ignored ones, sorted
   * byte-wise so parents come before children. `dirRel` is the directory's path in the tree
   * (for the ignore rules); `dirAbs` where it really is. One synchronous call per directory
   * (directoryListing.ts): a walk is thousands of tiny lstats, each far cheaper than a round
   * trip through the thread pool; none for a directory the step's content digest just listed.
   */
  async walk(dirRel: string, dirAbs: string, exclude?: IgnoreMatcher): Promise<WalkEntry[]> {
    const excluding = exclude !== undefined && !exclude.empty;
    // A pattern also excludes everything below what it matches, so without `!` exceptions an
    // excluded directory need not be read at all.
    const pruneIgnored = !this.ignore.empty && !this.ignore.hasExceptions;
    const pruneExcluded = excluding && !(exclude as IgnoreMatcher).hasExceptions;
    const out: WalkEntry[] = [];
    // Below the walked directory, one removed meanwhile is just gone (listFoundDirectory).
    const visit = (abs: string, rel: string): void => {
      for (const { name, stats } of this.kept.take(abs, rel !== '')) {
        const entryRel = rel === '' ? name : `${rel}/${name}`;
        // Not path.join: abs is clean (below), and join's normalizing cost about a seventh of a 20,000-file walk's CPU.
        const entryAbs = abs === '/' ? `/${name}` : `${abs}/${name}`;
        const ignored = this.excluded(dirRel === '' ? entryRel : `${dirRel}/${entryRel}`);
        const dropped = excluding && (exclude as IgnoreMatcher).excludes(entryRel);
        if (!ignored && !dropped && !this.hidden(stats)) out.push({ rel: entryRel, abs: entryAbs, stats });
        if (stats.isDirectory() && !(ignored && pruneIgnored) && !(dropped && pruneExcluded)) visit(entryAbs, entryRel);
      }
    };
    visit(dirAbs.replace(/(.)\/+$/, '$1'), ''); // no trailing slash: entries are `${abs}/${name}`
    out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    return out;
  }
}

/** Whether a COPY/ADD source is an http(s) URL: a download, no path in any tree. */
export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** Lstat that answers undefined for a missing path. */
export async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try { return await lstat(p); } catch { return undefined; }
}
