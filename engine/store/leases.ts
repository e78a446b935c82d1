/**
 * Leases, as containerd's: what a running operation (a build, pull, load, save, run) uses and
 * writes is held from before it touches it until it ends, and garbage collection (`prune`) never
 * takes held content. A lease is one file under `<store>/leases/`, named by its process's tag
 * (pid and start time), listing what it holds one name a line: a digest (the blob and the
 * snapshot of that digest) or `record:KEY` (a build cache record). Appending a name is one
 * write(2), visible to other processes at once; no fsync, because a lease only matters while
 * its process runs: the files of dead processes are released (removed) by the next command.
 *
 * The protocol with a collection: the collector, holding the store lock, first makes the
 * marker `.collecting` (a link naming it), then reads every live lease, then removes what
 * nothing holds. A holder first appends its names, then waits while a live collector's marker
 * is there, and only then looks at (or moves into place) what it holds. Either the collector read the names, or the
 * holder waited for it to finish and sees the store as the collection left it: content is never
 * removed between a holder's check and its use.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../host/randomHex.js';
import { parseTag, selfTag, tagAlive } from '../host/processIdentity.js';

const MARKER = '.collecting';
/** Errors that leave a lease unrecorded instead of failing the operation holding it. */
const UNRECORDABLE = new Set(['EROFS', 'ENOSPC', 'EDQUOT']);
const POLL_MS = 10;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Lease files of this process still open, removed at exit (a killed process leaves them to the next command). */
const openLeases = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const file of openLeases) {
      try { unlinkSync(file); } catch { /* released already */ }
    }
  });
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Who is collecting: the marker link's target. */
function readMarker(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** The name a cache record is held by. */
export function recordLeaseName(key: string): string {
  return `record:${key}`;
}

/** Resolves once no live process is collecting in this store. */
async function collectionFinished(dir: string): Promise<void> {
  for (;;) {
    const owner = readMarker(join(dir, MARKER));
    const tag = owner === undefined ? undefined : parseTag(owner);
    if (tag === undefined || !tagAlive(tag)) return;
    await sleep(POLL_MS);
  }
}

export class Lease {
  private file: string | undefined;
  private fd = -1;
  private readonly held = new Set<string>();
  /** Set when the store refused the lease file (see hold). */
  private unrecordable = false;
  /** The latest wait for a collection: names held before it are safe once it resolves. */
  private waiting: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {}

  /** The lease file's name, once something is held (the collector skips its own lease). */
  get fileName(): string | undefined {
    return this.file;
  }

  /**
   * Holds `names` until release() (or the process's end). Resolves when they are safe to look
   * at: no collection that may have missed them is still running.
   */
  async hold(names: Iterable<string>): Promise<void> {
    const fresh: string[] = [];
    for (const n of names) {
      if (this.held.has(n)) continue;
      this.held.add(n);
      fresh.push(n);
    }
    // Names held by an earlier call are safe only once that call's wait is over: a collection
    // may be running that missed them.
    if (fresh.length === 0) return this.waiting;
    if (this.unrecordable) return this.waiting;
    const bytes = Buffer.from(`${fresh.join('\n')}\n`);
    try {
      const fd = this.open();
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      // A store that cannot take a line (read-only, or its disk full) cannot be collected by a
      // prune here either; what reads it (save, run, images) goes on without a lease.
      if (!UNRECORDABLE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      this.unrecordable = true;
      return this.waiting;
    }
    this.waiting = collectionFinished(this.dir);
    return this.waiting;
  }

  /** Lets go of everything held (the operation ended). */
  release(): void {
    if (this.file === undefined) return;
    closeSync(this.fd);
    try { unlinkSync(this.file); } catch { /* gone already */ }
    openLeases.delete(this.file);
    this.file = undefined;
    this.fd = -1;
    this.held.clear();
  }

  private open(): number {
    if (this.file !== undefined) return this.fd;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `${selfTag()}-${randomHex(4)}`);
    this.fd = openSync(file, 'wx', 0o600);
    this.file = file;
    installExitHook();
    openLeases.add(file);
    return this.fd;
  }
}

/** Removes the lease files of processes that no longer run (what they held is free again); how many. */
export function releaseDeadLeases(dir: string): number {
  let names: string[];
  try {
    names = readdirSync(dir); // on every store open: one sync call, usually an empty dir
  } catch {
    return 0;
  }
  let released = 0;
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const tag = parseTag(name);
    if (tag !== undefined && !tagAlive(tag)) {
      released++;
      try { unlinkSync(join(dir, name)); } catch { /* released meanwhile */ }
    }
  }
  return released;
}

/**
 * A collection's view of the leases: announces the collection (the marker), then reads what
 * every live lease but `ownFile` holds. end() withdraws the marker. The caller holds the store lock.
 */
export function beginCollection(dir: string, ownFile?: string): { held: ReadonlySet<string>; end: () => void } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const marker = join(dir, MARKER);
  // A link, like the store lock: it needs no free block, so a prune works on a full disk.
  try { unlinkSync(marker); } catch { /* none, or a dead collector's: we hold the lock */ }
  try {
    symlinkSync(selfTag(), marker);
  } catch (err) {
    (err as NodeJS.ErrnoException).path = marker; // Node names the link's target as the path
    throw err;
  }
  const held = new Set<string>();
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    const file = join(dir, name);
    if (file === ownFile) continue;
    const tag = parseTag(name);
    if (tag === undefined) continue;
    if (!tagAlive(tag)) {
      try { unlinkSync(file); } catch { /* released meanwhile */ }
      continue;
    }
    for (const line of (readOrUndefined(file) ?? '').split('\n')) if (line !== '') held.add(line);
  }
  return {
    held,
    end: () => {
      if (readMarker(marker) === selfTag()) {
        try { unlinkSync(marker); } catch { /* gone already */ }
      }
    },
  };
}
