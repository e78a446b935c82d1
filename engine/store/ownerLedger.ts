/**
 * The owners of a copied root's entries, where the disk cannot hold them: kiln running as a uid
 * with no user namespace (an unprivileged CI container's user) may not chown, so every file of
 * the copy snapshotter's roots is its own. What the layers say an entry's owner is lives here
 * instead, beside the root (as fakeroot's database and containers/storage's override_stat keep
 * what the file system refuses), and the layers written from the root take owners from it, so
 * they are byte-identical to a root build's. Only owners other than 0:0 are listed: a root built
 * from image layers is mostly root's. Keyed by path; a RUN step's renames are followed by inode
 * (see CopySnapshotter).
 *
 * Readers of such a tree (a COPY's destination view and --from sources, an unpacked ADD archive)
 * ask imageOwner() for an entry's owner: the inodes noted here carry theirs, and any other file
 * of kiln's own is root's.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomicFile.js';
import { canOwnFiles } from '../host/privilege.js';

export interface OwnerPair { uid: number; gid: number }

const ROOT: OwnerPair = { uid: 0, gid: 0 };

/** Where the ledger of a root directory is kept: beside it, never inside (a step would see it). */
export function ledgerFileOf(rootDir: string): string {
  return `${rootDir}.owners.json`;
}

export class OwnerLedger {
  private constructor(private readonly owners: Map<string, OwnerPair>) {}

  static empty(): OwnerLedger {
    return new OwnerLedger(new Map());
  }

  /** The ledger kept beside `rootDir` (empty when there is none: every entry root's). */
  static of(rootDir: string): OwnerLedger {
    let text: string;
    try {
      text = readFileSync(ledgerFileOf(rootDir), 'utf8');
    } catch {
      return OwnerLedger.empty();
    }
    const listed = JSON.parse(text) as Record<string, [number, number]>;
    return new OwnerLedger(new Map(Object.entries(listed).map(([rel, [uid, gid]]) => [rel, { uid, gid }])));
  }

  entries(): IterableIterator<[string, OwnerPair]> {
    return this.owners.entries();
  }

  copy(): OwnerLedger {
    return new OwnerLedger(new Map(this.owners));
  }

  /** The owner of `rel` (a path relative to the root, `a/b`). */
  get(rel: string): OwnerPair {
    return this.owners.get(rel) ?? ROOT;
  }

  set(rel: string, owner: OwnerPair): void {
    if (owner.uid === 0 && owner.gid === 0) this.owners.delete(rel);
    else this.owners.set(rel, { uid: owner.uid, gid: owner.gid });
  }

  /** Forgets the entries `root` no longer has (removed by whiteouts, opaque directories, a step). */
  prune(root: string): void {
    for (const rel of [...this.owners.keys()]) {
      if (lstatSync(join(root, rel), { throwIfNoEntry: false }) === undefined) this.owners.delete(rel);
    }
  }

  /** Writes it beside `rootDir`, atomically (before the root is renamed into place). */
  async save(rootDir: string): Promise<void> {
    const listed: Record<string, [number, number]> = {};
    for (const [rel, o] of [...this.owners].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) listed[rel] = [o.uid, o.gid];
    await writeFileAtomic(ledgerFileOf(rootDir), JSON.stringify(listed));
  }
}

/** Whether owners live in ledgers here (kiln may not chown), decided once. */
let ledgered: boolean | undefined;
export function ownersInLedgers(): boolean {
  ledgered ??= !canOwnFiles();
  return ledgered;
}

interface InodeStats { dev: number | bigint; ino: number | bigint; uid: number | bigint; gid: number | bigint }

const known = new Map<string, OwnerPair>();
const inodeKey = (st: InodeStats): string => `${st.dev}:${st.ino}`;

/** Notes the owner the image gives the entry at `abs` (kept by inode, for imageOwner). */
export function noteOwner(abs: string, owner: OwnerPair): void {
  const st = lstatSync(abs, { throwIfNoEntry: false });
  if (st !== undefined) known.set(inodeKey(st), { uid: owner.uid, gid: owner.gid });
}

/** Notes every owner a ledger lists for the tree at `rootDir`. */
export function noteLedger(rootDir: string, ledger: OwnerLedger): void {
  for (const [rel, owner] of ledger.entries()) noteOwner(join(rootDir, rel), owner);
}

/** The owner the image gives an entry with these stats: the disk's, unless owners live in ledgers. */
export function imageOwner(st: InodeStats): OwnerPair {
  const onDisk = { uid: Number(st.uid), gid: Number(st.gid) };
  if (!ownersInLedgers() || onDisk.uid !== process.getuid?.()) return onDisk;
  return known.get(inodeKey(st)) ?? ROOT;
}

/** Whether an inode was noted (a pre-existing entry with an owner other than root's). */
export function noted(st: InodeStats): boolean {
  return known.has(inodeKey(st));
}
