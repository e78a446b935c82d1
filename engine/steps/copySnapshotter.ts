/**
 * The copy snapshotter (docker's and buildah's `vfs`): a stack of layers is one directory holding
 * its whole root (store/rootfsCopies.ts); a stage view is that directory as it is, a RUN root a
 * copy of it. Before the command starts, the identity of every entry of the copy is noted; after
 * it, the layer is what changed (layer/treeDiff.ts), written exactly as the overlay path writes
 * an upper dir, and the step's root becomes the new stack's directory. Nothing is mounted here.
 *
 * Stubs are what kiln puts into the root for the run: mount points the runtime needs, or (with
 * nothing to mount, chroot isolation) the mounts' content. They are made before the identities
 * are noted, left out of the layer, and taken out again afterwards, with the times of the
 * directories they were made in put back as they were.
 */
import { chmodSync, chownSync, copyFileSync, lstatSync, lutimesSync, mkdirSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { resolveInRoot } from '../context/scopedPath.js';
import { diffTrees, recordIdentities, visitTree, type Identity, type OwnerOf } from '../layer/treeDiff.js';
import { imageOwner, noteLedger, noted, OwnerLedger, type OwnerPair } from '../store/ownerLedger.js';
import { makeNodes } from '../host/specialFiles.js';
import type { RootfsCopies } from '../store/rootfsCopies.js';
import { copyTree } from '../store/treeCopy.js';
import { DirectoryView } from './rootfsView.js';
import type { CapturedLayer, RootStub, RunRoot, Snapshotter, StageView } from './snapshotter.js';
import type { LayerRef } from './state.js';
import { canOwnFiles } from '../host/privilege.js';

/** A directory as a read-only stage view (nothing to unmount). */
export class DirView extends DirectoryView implements StageView {}

/** Where the copy snapshotter gets its directories. */
export interface CopyDirs {
  copies: RootfsCopies;
  scratchDir(): Promise<string>;
  /** The extended attributes a layer records, of a path. */
  xattrs(path: string): ReadonlyMap<string, Buffer> | undefined;
}

/** What a stub changed, to be undone. */
interface MadeStub { rel: string; moveBackTo?: string; aside?: string }

export class CopySnapshotter implements Snapshotter {
  readonly kind = 'copy' as const;

  constructor(private readonly dirs: CopyDirs) {}

  async openView(layers: readonly LayerRef[]): Promise<StageView> {
    const dir = await this.dirs.copies.get(layers.map((l) => l.diffId));
    this.noteOwners(dir, dir);
    return new DirView(dir);
  }

  private readonly notedRoots = new Set<string>();

  /** Where owners live in ledgers: the owners of `stackDir`'s ledger, noted for the tree at `tree`. */
  private noteOwners(stackDir: string, tree: string): OwnerLedger | undefined {
    const ledger = this.dirs.copies.ownersOf(stackDir);
    if (ledger && !this.notedRoots.has(tree)) {
      noteLedger(tree, ledger);
      this.notedRoots.add(tree);
    }
    return ledger;
  }

  async prepareRun(layers: readonly LayerRef[], stubs: readonly RootStub[]): Promise<RunRoot> {
    const diffIds = layers.map((l) => l.diffId);
    const before = await this.dirs.copies.get(diffIds);
    const dir = await this.dirs.copies.copyOf(diffIds);
    let made: MadeStub[] = [];
    try {
      made = await placeStubs(dir, stubs, () => this.dirs.scratchDir());
    } catch (e) {
      await undoStubs(dir, made);
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    const ledger = this.noteOwners(before, dir);
    let identities: Map<string, Identity> | undefined;
    let stepOwner: OwnerPair = { uid: 0, gid: 0 };
    let undone = false;
    const undo = async (): Promise<void> => {
      if (undone) return;
      undone = true;
      await undoStubs(dir, made);
    };
    return {
      rootfs: { kind: 'dir', dir },
      files: new DirView(dir),
      watch: (owner) => {
        identities = recordIdentities(dir);
        if (owner) stepOwner = owner;
      },
      capture: async (): Promise<CapturedLayer> => {
        const ids = identities ?? recordIdentities(dir);
        const ownerOf = ledger ? ledgerOwners(ids, stepOwner) : undefined;
        const diff = diffTrees({ before, after: dir, identities: ids, stubs: new Set(made.map((m) => m.rel)), xattrs: this.dirs.xattrs, ...(ownerOf ? { ownerOf } : {}) });
        return {
          diff: diff.root,
          empty: diff.empty,
          clamp: async (seconds) => {
            const limit = new Date(seconds * 1000);
            for (const rel of diff.included) {
              const p = join(dir, rel);
              const st = lstatSync(p);
              if (st.mtimeMs > seconds * 1000) {
                if (st.isSymbolicLink()) lutimesSync(p, limit, limit);
                else utimesSync(p, limit, limit);
              }
            }
          },
          keep: async (stack) => {
            await undo();
            await this.dirs.copies.adopt(stack.map((l) => l.diffId), dir, ownerOf ? ledgerOfTree(dir, ownerOf) : undefined);
          },
        };
      },
      discard: async () => {
        await undo();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

/**
 * Owners of a step's root where the disk holds none (every file is kiln's): what the ledger
 * noted for an entry that was there before, root's for the rest of those, and the step's user's
 * for what the step made — as the files a step makes belong to its user.
 */
function ledgerOwners(identities: ReadonlyMap<string, Identity>, stepOwner: OwnerPair): OwnerOf {
  const before = new Set<string>();
  for (const id of identities.values()) before.add(`${id.ino}:${id.birthNs}`);
  return (st) => {
    if (noted(st) || Number(st.uid) !== process.getuid?.()) return imageOwner(st);
    return before.has(`${st.ino}:${st.birthtimeNs}`) ? { uid: 0, gid: 0 } : stepOwner;
  };
}

/** The ledger of a step's finished root: every entry's owner, as `ownerOf` gives it. */
function ledgerOfTree(root: string, ownerOf: OwnerOf): OwnerLedger {
  const ledger = OwnerLedger.empty();
  visitTree(root, (rel, st) => ledger.set(rel, ownerOf(st)));
  return ledger;
}

/** Makes the stubs (parents first), keeping the times of the directories they go into. */
async function placeStubs(root: string, stubs: readonly RootStub[], scratch: () => Promise<string>): Promise<MadeStub[]> {
  const made: MadeStub[] = [];
  const parentTimes = new Map<string, { atime: Date; mtime: Date }>();
  const keepTimes = (abs: string): void => {
    if (parentTimes.has(abs)) return;
    const st = lstatSync(abs);
    parentTimes.set(abs, { atime: st.atime, mtime: st.mtime });
  };
  const devices: { path: string; stub: RootStub }[] = [];
  for (const stub of [...stubs].sort((a, b) => a.path.length - b.path.length)) {
    // The target as the container would reach it: symlinks in it resolved inside the root.
    const real = await resolveInRoot(root, stub.path);
    const rel = posix.relative(root, real);
    if (rel === '' || rel.startsWith('..')) continue;
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parentRel = parts.slice(0, i).join('/');
      const abs = join(root, parentRel);
      if (lstatSync(abs, { throwIfNoEntry: false }) !== undefined) continue;
      keepTimes(join(root, parts.slice(0, i - 1).join('/')));
      mkdirSync(abs, { mode: 0o755 });
      chmodSync(abs, 0o755);
      made.push({ rel: parentRel });
    }
    const abs = join(root, rel);
    const existing = lstatSync(abs, { throwIfNoEntry: false });
    if (existing !== undefined && stub.fill === undefined) continue; // a mount point that is there already
    keepTimes(join(root, parts.slice(0, -1).join('/')));
    const entry: MadeStub = { rel };
    if (existing !== undefined) {
      // What the image has there is hidden for the run, as a mount would hide it.
      entry.aside = join(await scratch(), 'aside');
      renameSync(abs, entry.aside);
    }
    if (stub.kind === 'dir') mkdirSync(abs, { mode: 0o755 });
    else if (stub.kind === 'file') writeFileSync(abs, '', { mode: 0o644 });
    else devices.push({ path: abs, stub });
    made.push(entry);
    const fill = stub.fill;
    if (fill !== undefined && 'text' in fill) writeFileSync(abs, fill.text);
    else if (fill?.how === 'copy') {
      if (stub.kind === 'dir') await copyTree(fill.from, abs);
      else copyFileSync(fill.from, abs);
    } else if (fill?.how === 'move') {
      for (const name of readdirSync(fill.from)) renameSync(join(fill.from, name), join(abs, name));
      entry.moveBackTo = fill.from;
    }
    if (stub.kind !== 'char-device') {
      if (stub.mode !== undefined) chmodSync(abs, stub.mode);
      if ((stub.uid !== undefined || stub.gid !== undefined) && canOwnFiles()) chownSync(abs, stub.uid ?? 0, stub.gid ?? 0);
    }
  }
  if (devices.length > 0) {
    try {
      await makeNodes(devices.map((d) => ({ path: d.path, kind: 'c' as const, major: d.stub.device?.major ?? 0, minor: d.stub.device?.minor ?? 0 })));
      for (const d of devices) chmodSync(d.path, d.stub.mode ?? 0o666);
    } catch {
      // No mknod here (not root): empty files hold the places, so what gives the step its
      // devices (proot's binds, see runtime/tracedRoot.ts) finds them and changes no directory.
      for (const d of devices) if (lstatSync(d.path, { throwIfNoEntry: false }) === undefined) writeFileSync(d.path, '', { mode: 0o666 });
    }
  }
  for (const [abs, t] of parentTimes) if (lstatSync(abs, { throwIfNoEntry: false })) utimesSync(abs, t.atime, t.mtime);
  return made;
}

/** Takes the stubs out (deepest first), moving moved content back and hidden entries in again. */
async function undoStubs(root: string, made: readonly MadeStub[]): Promise<void> {
  const parentTimes = new Map<string, { atime: Date; mtime: Date }>();
  for (const m of [...made].reverse()) {
    const abs = join(root, m.rel);
    const parent = join(root, posix.dirname(m.rel));
    const pst = lstatSync(parent, { throwIfNoEntry: false });
    if (pst && !parentTimes.has(parent)) parentTimes.set(parent, { atime: pst.atime, mtime: pst.mtime });
    if (m.moveBackTo !== undefined && lstatSync(abs, { throwIfNoEntry: false })?.isDirectory()) {
      for (const name of readdirSync(abs)) renameSync(join(abs, name), join(m.moveBackTo, name));
    }
    rmSync(abs, { recursive: true, force: true });
    if (m.aside !== undefined) renameSync(m.aside, abs);
  }
  for (const [abs, t] of parentTimes) if (lstatSync(abs, { throwIfNoEntry: false })) utimesSync(abs, t.atime, t.mtime);
}
