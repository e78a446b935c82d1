/**
 * The files of a COPY (and the local part of an ADD; the step itself is copy.ts): sources
 * matched in a source tree, written straight into a layer built in memory with BuildKit's path
 * rules — a directory's contents are copied, not the directory; a destination ending in `/` (or
 * an existing directory) receives sources by basename; a relative destination is under
 * WORKDIR; `--parents` keeps the source path (from a `/./` pivot if there is one); `--exclude`
 * drops matching paths.
 */
import { lstatSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Heredoc } from '../../grammar/ast.js';
import type { EntryStats } from '../host/directoryListing.js';
import type { DiffTree } from '../layer/diffTree.js';
import { IgnoreMatcher } from '../context/dockerignore.js';
import type { SourceMatch, SourceTree } from '../context/sourceTree.js';
import { hasWildcard } from '../context/wildcard.js';
import type { ModeChange } from './chmod.js';
import type { Owner } from './chown.js';
import { CopyWriter, type EntryAttrs } from './copyTree.js';
import type { StageView } from './snapshotter.js';

export class CopySourceError extends Error {}

export interface CopyPlan {
  /** Sources as written after expansion (not heredocs). */
  sources: string[];
  heredocs: { heredoc: Heredoc; content: string }[];
  /** Destination after expansion, as written. */
  dest: string;
  workdir: string;
  tree: SourceTree;
  /** Files from the build context belong to root unless `--chown` says otherwise. */
  resetOwner: boolean;
  chown: Owner | undefined;
  chmod: ModeChange | undefined;
  parents: boolean;
  exclude: string[];
  /** The destination image, undefined with `--link`. */
  view: StageView | undefined;
  /** The layer being written. */
  layer: DiffTree;
  /** mtime for directories and heredoc files the copy creates. */
  timestamp: Date;
  /** ADD: a local regular file that is an archive is unpacked instead of copied. */
  unpack?: (match: SourceMatch, destDir: string, writer: CopyWriter) => Promise<boolean>;
  instruction: 'COPY' | 'ADD';
}

/** The absolute image path a COPY writes to, keeping whether it names a directory. */
export function destinationPath(dest: string, workdir: string): { path: string; isDir: boolean } {
  const isDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.') || dest === '';
  const abs = posix.isAbsolute(dest) ? dest : posix.join(workdir || '/', dest);
  return { path: posix.normalize(abs).replace(/\/+$/, '') || '/', isDir };
}

/** The path `--parents` keeps for a match: after a `/./` pivot in the source, else all of it. */
export function parentsRelative(source: string, matchRel: string): string {
  const pivot = source.indexOf('/./');
  if (pivot < 0) return matchRel;
  const prefix = posix.normalize(source.slice(0, pivot)).replace(/^\/+/, '').replace(/^\.$/, '');
  return prefix !== '' && matchRel.startsWith(prefix + '/') ? matchRel.slice(prefix.length + 1) : matchRel;
}

export async function runCopy(plan: CopyPlan): Promise<void> {
  const { path: destRaw, isDir: destSaysDir } = destinationPath(plan.dest, plan.workdir);
  // The destination as the image resolves it (a `/bin` symlink to `usr/bin` is followed).
  let dest = destRaw;
  if (plan.view) {
    const resolved = await plan.view.resolve(destRaw);
    dest = '/' + posix.relative(plan.view.root, resolved.split('\\').join('/'));
    if (dest === '/.' || dest === '/') dest = '/';
  }
  const existingDest = plan.view ? await plan.view.statIn(destRaw) : undefined;
  const rootOwner = { uid: 0, gid: 0 };
  const writer = new CopyWriter(plan.layer, plan.view, plan.chown ?? rootOwner, plan.timestamp, plan.chmod?.octal ?? 0o755);
  const attrs: EntryAttrs = { owner: plan.chown ?? (plan.resetOwner ? rootOwner : undefined), chmod: plan.chmod };
  const exclude = new IgnoreMatcher(plan.exclude);
  // As BuildKit copies each source in turn: a destination without a trailing slash is a
  // directory only while it is one (in this layer, else in the image); otherwise each source
  // lands on that name and the last one stays. Nothing is made for a wildcard matching nothing.
  const intoDir = async (): Promise<boolean> => {
    if (destSaysDir || dest === '/') return true;
    const made = plan.layer.get(dest);
    return made ? made.type === 'directory' : existingDest?.isDirectory() === true;
  };
  const ensureDest = async (): Promise<void> => {
    if (dest === '/') return;
    await writer.ensureParents(dest);
    await writer.ensureDir(dest, undefined);
  };

  for (const source of plan.sources) {
    const { wildcard, matches } = plan.parents ? await plan.tree.matchParents(source) : await plan.tree.match(source);
    const kept = matches.filter((m) => !(exclude.empty ? false : exclude.excludes(wildcardRelative(source, m.rel))));
    if (!wildcard && kept.length === 0) {
      throw new CopySourceError(`failed to compute cache key: "${source.replace(/^\/+/, '')}": not found`);
    }
    for (const m of kept) {
      const keepPath = plan.parents ? parentsRelative(source, m.rel) : undefined;
      if (m.stats.isDirectory()) {
        const targetDir = keepPath !== undefined ? posix.join(dest, keepPath) : dest;
        await copyDirectory(plan, writer, m, targetDir, attrs, exclude);
        continue;
      }
      if (plan.unpack && m.stats.isFile()) {
        if (await plan.unpack(m, dest, writer)) continue;
      }
      let target: string;
      if (keepPath !== undefined) target = posix.join(dest, keepPath);
      else if (await intoDir()) { await ensureDest(); target = posix.join(dest, posix.basename(m.rel)); }
      else target = dest;
      await writer.ensureParents(target);
      await writer.copyEntry(m.abs, m.stats, target, attrs, keptBytes(plan.tree, m.abs, m.stats));
    }
  }

  // Heredoc sources come after the others, as BuildKit adds them.
  for (const { heredoc, content } of plan.heredocs) {
    const dir = await intoDir();
    if (dir) await ensureDest();
    const target = dir ? posix.join(dest, heredoc.name) : dest;
    await writer.ensureParents(target);
    const mode = plan.chmod ? plan.chmod(0o644, false) : 0o644;
    await writer.writeFile(target, Buffer.from(content, 'utf8'), mode, plan.chown ?? rootOwner, plan.timestamp);
  }
}

/** For `--exclude`: a wildcard match is judged by its path below the pattern's fixed prefix. */
function wildcardRelative(source: string, rel: string): string {
  const segs = source.replace(/^\/+/, '').split('/');
  const fixed: string[] = [];
  for (const s of segs) { if (hasWildcard(s)) break; fixed.push(s); }
  if (fixed.length === segs.length) return posix.basename(rel);
  const prefix = fixed.join('/');
  return prefix !== '' && rel.startsWith(prefix + '/') ? rel.slice(prefix.length + 1) : rel;
}

async function copyDirectory(plan: CopyPlan, writer: CopyWriter, m: SourceMatch, targetDir: string, attrs: EntryAttrs, exclude: IgnoreMatcher): Promise<void> {
  if (targetDir !== '/') {
    await writer.ensureParents(targetDir);
    // The contents are copied, not the directory: an existing destination keeps its own
    // attributes, a new one is made like any directory the copy creates (0755, root or --chown).
    await writer.ensureDir(targetDir, undefined);
  }
  const entries = await plan.tree.walk(m.rel, m.abs, exclude);
  // Directories of the source known to be in the layer (relative to it): their children need nothing more.
  const present = new Set<string>(['']);
  for (const e of entries) {
    const target = posix.join(targetDir, e.rel);
    const st: EntryStats = e.stats;
    const parent = posix.dirname(e.rel);
    if (!present.has(parent === '.' ? '' : parent)) await ensureSourceParents(writer, m, targetDir, e.rel, present, attrs);
    if (st.isDirectory()) {
      await writer.ensureDir(target, { stats: st, attrs });
      present.add(e.rel);
    } else await writer.copyEntry(e.abs, st, target, attrs, keptBytes(plan.tree, e.abs, st));
  }
}

/** A file's bytes as the step's cache key read them, when it kept them. */
function keptBytes(tree: SourceTree, abs: string, stats: EntryStats): Buffer | undefined {
  return stats.isFile() ? tree.kept.takeBytes(abs, stats.size) : undefined;
}

/**
 * Parents the walk left out — an ignored directory with a `!` exception re-including something
 * below it — are copied like the directories they are (their own mode; owner as the copy sets
 * it), as BuildKit's context transfer sends them; one the layer already has keeps its attributes.
 */
async function ensureSourceParents(writer: CopyWriter, m: SourceMatch, targetDir: string, rel: string, present: Set<string>, attrs: EntryAttrs): Promise<void> {
  const parts = rel.split('/');
  parts.pop();
  let cur = '';
  for (const p of parts) {
    cur = cur === '' ? p : `${cur}/${p}`;
    if (present.has(cur)) continue;
    const target = posix.join(targetDir, cur);
    if (!(await writer.hasDir(target))) await writer.ensureDir(target, { stats: lstatSync(join(m.abs, cur)), attrs });
    present.add(cur);
  }
}
