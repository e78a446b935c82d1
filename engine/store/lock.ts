/**
 * A lock shared by every kiln process using one store: a symbolic link created where none is
 * (symlink(2) fails with EEXIST otherwise), whose target is "PID-START token". A link's target is
 * written with the link, whole, and a short one lives in the inode: taking the lock needs no
 * free block, so `kiln prune` still works on a full disk. A holder that died leaves a stale link,
 * detected because its process no longer runs (pid and start time, so a reused pid does not
 * keep it); breaking it is itself guarded by a second link so two waiters can never both break
 * the lock and then both believe they hold it. Inside one process, callers queue on a promise
 * chain first, so the link is only contended between processes. The few calls are sync: each
 * takes microseconds, a thread-pool round trip per call cost more.
 */
import { readFileSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { randomHex } from '../host/randomHex.js';
import { parseTag, selfTag, tagAlive } from '../host/processIdentity.js';

/** What the lock names: a link's target, or (an older kiln's lock file) the file's text. */
function readOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
  }
  try {
    const text = readFileSync(path, 'utf8');
    return text.endsWith('\n') ? text.slice(0, -1) : undefined; // a file still being written names nobody yet
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

/** Whether the process a lock names (`PID-START token`, or an older `PID token`) still runs. */
function holderAlive(held: string): boolean {
  const tag = parseTag(held);
  return tag !== undefined && tagAlive(tag);
}

/** Creates the link; false when something is there already. */
function createLink(path: string, target: string): boolean {
  try {
    symlinkSync(target, path);
    return true;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'EEXIST') {
      e.path = path; // Node names the link's target as the error's path; the place is the link
      throw e;
    }
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class StoreLock {
  readonly path: string;
  private queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** Runs fn while holding the lock. Not reentrant: do not call withLock from inside fn. */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.queue;
    let done!: () => void;
    this.queue = new Promise<void>((r) => { done = r; });
    await previous;
    try {
      const token = await this.acquire();
      try {
        return await fn();
      } finally {
        await this.release(token);
      }
    } finally {
      done();
    }
  }

  /** Takes the lock until the returned function is called: for a hold that spans callbacks. */
  async hold(): Promise<() => Promise<void>> {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    let taken!: () => void;
    const acquired = new Promise<void>((r) => { taken = r; });
    const held = this.withLock(async () => { taken(); await released; });
    await Promise.race([acquired, held]);
    return async () => { release(); await held; };
  }

  private async acquire(): Promise<string> {
    const token = `${selfTag()} ${randomHex(8)}`;
    for (let attempt = 0; ; attempt++) {
      if (createLink(this.path, token)) return token;
      const held = readOrUndefined(this.path);
      if (held !== undefined && !holderAlive(held)) {
        await this.breakStale(held);
        continue;
      }
      await sleep(Math.min(5 * 2 ** Math.min(attempt, 5), 100) + Math.random() * 5);
    }
  }

  private async breakStale(seen: string): Promise<void> {
    const breaker = `${this.path}.break`;
    if (!createLink(breaker, selfTag())) {
      // A breaker that died mid-break is broken in turn.
      const owner = readOrUndefined(breaker);
      if (owner !== undefined && !holderAlive(owner)) unlinkQuietly(breaker);
      await sleep(5);
      return;
    }
    try {
      // Only breakers remove a stale lock, and there is one breaker at a time: if the lock
      // still names what we saw, nobody else can have replaced it before our unlink.
      if (readOrUndefined(this.path) === seen) unlinkQuietly(this.path);
    } finally {
      unlinkQuietly(breaker);
    }
  }

  private async release(token: string): Promise<void> {
    if (readOrUndefined(this.path) === token) unlinkSync(this.path);
  }
}
